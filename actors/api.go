package actors

import (
	"encoding/json"
)

// Visitor actions (the `action` parameter of /l/v/m/action).
const (
	ActStart         = "chat.start"
	ActMessage       = "chat.message"
	ActVisitorTyping = "chat.visitor_typing"
	ActReadByVisitor = "chat.read_by_visitor"
	ActClose         = "chat.close"
	ActRate          = "chat.operator_rate_select"
)

// Operator actions (the `action` parameter of /l/o/action).
const (
	ActTake           = "chat.take"
	ActTransfer       = "chat.transfer"
	ActOperatorTyping = "chat.operator_typing"
	ActReadByOperator = "chat.read_by_operator"
	// ActMessage and ActClose are shared with the visitor side.
)

// VisitorAuth names a visitor's page: the page-id and auth-token issued at
// init. It reaches only that visitor's session and chats.
type VisitorAuth struct {
	PageID    string
	AuthToken string
}

// InitRequest is a visitor's /l/v/m/init.
type InitRequest struct {
	VisitSessionID string // resume this session when it exists
	DeviceID       string
	Platform       string
	Location       string
	Title          string
	Visitor        json.RawMessage // the visitor's fields as the client sent them (JSON object), may be nil
}

// VisitorRequest is one visitor action. The server fills the fields that the
// action uses; the actors validate their values.
type VisitorRequest struct {
	Auth          VisitorAuth
	Action        string
	ClientSideID  string
	DepartmentKey string // chat.start
	FirstQuestion string // chat.start
	Message       string // chat.message
	Typing        bool   // chat.visitor_typing
	Draft         string // chat.visitor_typing
	OperatorID    string // chat.operator_rate_select
	Rate          int    // chat.operator_rate_select, −2…2
}

// OperatorRequest is one operator action on a chat.
type OperatorRequest struct {
	Token           string
	Action          string
	ChatID          string
	ClientSideID    string
	Message         string // chat.message
	Typing          bool   // chat.operator_typing
	Draft           string // chat.operator_typing
	ToOperatorID    string // chat.transfer
	ToDepartmentKey string // chat.transfer
}

// Update is what a subscriber stream answers: a revision and either the full
// state or the changes after the revision asked for. An Update with neither
// is a long-poll timeout (nothing new).
type Update struct {
	Revision int64
	Full     json.RawMessage   // the fullUpdate object, or nil
	Deltas   []json.RawMessage // delta items {"objectType","event","id","data"}
}

// Empty reports whether u carries nothing: a long-poll timeout.
func (u *Update) Empty() bool { return u.Full == nil && len(u.Deltas) == 0 }

// Sink receives a WebSocket subscriber's updates in order. Push must not
// block: it returns false when the subscriber cannot keep up, and the stream
// then drops the sink for good (the server closes the connection saying so).
type Sink interface {
	Push(u *Update) bool
}

// LoginResult is an operator's successful login.
type LoginResult struct {
	Token    string
	Operator json.RawMessage // {"id","login","name","departments","maxChats"}
}

// HistoryPage is a page of past messages and the cursor for the next page
// ("" when there is none). A visitor's history runs newest first, its
// cursor pointing at older messages; an operator's chat history runs oldest
// first, its cursor pointing at newer ones.
type HistoryPage struct {
	Messages []json.RawMessage
	Next     string
}
