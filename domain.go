package chatnode

// Chat states, as the Webim protocol names them.
const (
	ChatQueue            = "queue"
	ChatChatting         = "chatting"
	ChatClosed           = "closed"
	ChatClosedByVisitor  = "closed_by_visitor"
	ChatClosedByOperator = "closed_by_operator"
)

// ChatOpen reports whether a chat in state s still takes messages.
func ChatOpen(s string) bool { return s == ChatQueue || s == ChatChatting }

// Message kinds.
const (
	KindVisitor  = "visitor"
	KindOperator = "operator"
	KindInfo     = "info"
)

// Operator statuses. An invisible operator keeps and may take chats by hand,
// gets no automatic ones and counts as offline to visitors.
const (
	StatusOnline    = "online"
	StatusInvisible = "invisible"
	StatusOffline   = "offline"
)

// ValidStatus reports whether s is an operator status.
func ValidStatus(s string) bool {
	return s == StatusOnline || s == StatusInvisible || s == StatusOffline
}

// Sides of a chat, for typing and read markers.
const (
	SideVisitor  = "visitor"
	SideOperator = "operator"
)

// Rates a visitor may give an operator (Webim's 1–5 stars minus 3).
const (
	MinRate = -2
	MaxRate = 2
)
