package store

// Column lists shared by the SQL of both implementations; the tables are
// aliased v (visitors), c (chats) and m (messages), and the scan functions
// of each implementation read the columns in this order.
const (
	visitorCols = `v.id, v.page_id, v.auth_token, v.device_id, v.fields, v.created_at, v.seen_at`
	chatCols    = `c.id, c.visitor_id, c.client_side_id, c.department_key, c.state, c.operator_id, c.queued_at,
		c.created_at, c.modified_at, c.closed_at, c.rate, c.rated_operator_id, c.next_seq`
	messageCols = `m.id, m.chat_id, m.seq, m.kind, m.author_id, m.author_name, m.text, m.client_side_id, m.created_at`
)
