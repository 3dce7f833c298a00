package chatnode

import (
	"errors"
	"fmt"
)

// Error codes: the API's error names (Webim's where Webim has one).
const (
	EInternal          = "internal"                    // a server-side failure; details are logged, not returned
	EReinitRequired    = "reinit-required"             // the session or revision is unknown: start again with init
	ENoChat            = "no-chat"                     // the visitor has no open chat
	EChatRequired      = "chat-required"               // the action needs a chat
	EUnknownChat       = "chat-not-found"              // no chat has that id
	EMessageTooLong    = "max-message-length-exceeded" // message longer than max_message_length
	ERateIncorrect     = "rate-value-incorrect"        // rate outside −2…2
	EWrongArgument     = "wrong-argument-value"        // a parameter is missing or malformed
	EOperatorNotInChat = "operator-not-in-chat"        // the operator is not the chat's operator
	EUnknownAction     = "unknown-action"              // the action name is not known
	EUnauthorized      = "wrong-auth-token"            // missing or wrong token
	EWrongCredentials  = "wrong-credentials"           // login or password wrong
	EStatusUnknown     = "status-unknown"              // not online, invisible or offline
	EChatTaken         = "chat-already-taken"          // the chat left the queue before the take
	EOperatorBusy      = "max-chats-reached"           // the operator has max_chats chats
	EOperatorOffline   = "operator-offline"            // the operator cannot get chats now
	EUnknownOperator   = "operator-not-found"          // no operator has that id
	EUnknownDepartment = "department-not-found"        // no department has that key
	EChatClosed        = "chat-closed"                 // the chat takes no more changes
	ETooLarge          = "request-entity-too-large"    // body over max_body_bytes
	ERateLimited       = "too-many-requests"           // request rate over the limit
	ENotMaster         = "no-assignment"               // the master is unreachable: no new assignments
	EUnavailable       = "service-unavailable"         // the node is stopping or overloaded
)

// Error is the domain error: a code from the list above and a message for
// people. Wrap infrastructure errors with fmt.Errorf("...: %w") instead.
type Error struct {
	Code    string
	Message string
}

// Error returns the message, prefixed with the code.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: its own when it is an *Error, EInternal
// for any other non-nil error, "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of an *Error, or a generic text for other
// errors so that internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
