package server

import (
	"strings"

	"github.com/chatnode/chatnode"
)

// WebSocket close codes of our own (RFC 6455 leaves 4000–4999 to
// applications). An error that ends a socket closes it with 4000 + the
// error's HTTP status (4400 wrong-argument-value, 4401 wrong-auth-token,
// 4500 internal, 4503 service-unavailable, ...), except for the codes below;
// the close reason is always the error code.
const (
	CloseReinitRequired = 4001 // the session is gone: init again, then reconnect
	CloseSlowConsumer   = 4008 // the client read too slowly: reconnect with since
)

// Close reasons that are not error codes.
const (
	reasonSlowConsumer = "slow-consumer"
	reasonGoingAway    = "going-away"
)

// errorSpec is how an error code travels: its HTTP status, its WebSocket
// close code, and whether it is a passing server condition that a client
// should retry.
type errorSpec struct {
	Status    int
	Close     int
	Transient bool
}

// errorTable maps every chatnode error code to its status and close code.
// Statuses a Webim mobile SDK reads the body of are 200, 400, 403, 404, 405,
// 413 and 500; it retries on any other status. Codes a visitor can meet are
// therefore kept on those, except where a retry is what we want (429, 503).
var errorTable = map[string]errorSpec{
	chatnode.EReinitRequired:    {200, CloseReinitRequired, false},
	chatnode.EWrongArgument:     {400, 4400, false},
	chatnode.EUnknownAction:     {400, 4400, false},
	chatnode.EMessageTooLong:    {400, 4400, false},
	chatnode.ERateIncorrect:     {400, 4400, false},
	chatnode.EStatusUnknown:     {400, 4400, false},
	chatnode.ENoChat:            {400, 4400, false},
	chatnode.EChatRequired:      {400, 4400, false},
	chatnode.EUnauthorized:      {401, 4401, false},
	chatnode.EWrongCredentials:  {401, 4401, false},
	chatnode.EOperatorNotInChat: {403, 4403, false},
	chatnode.EUnknownChat:       {404, 4404, false},
	chatnode.EUnknownOperator:   {404, 4404, false},
	chatnode.EUnknownDepartment: {404, 4404, false},
	chatnode.EChatTaken:         {409, 4409, false},
	chatnode.EOperatorBusy:      {409, 4409, false},
	chatnode.EOperatorOffline:   {409, 4409, false},
	chatnode.EChatClosed:        {409, 4409, false},
	chatnode.ETooLarge:          {413, 4413, false},
	chatnode.ERateLimited:       {429, 4429, true},
	chatnode.EInternal:          {500, 4500, true},
	chatnode.ENotMaster:         {503, 4503, true},
	chatnode.EUnavailable:       {503, 4503, true},
	codeNotFound:                {404, 4404, false},
	codeMethod:                  {405, 4405, false},
}

// Codes of the server's own, beside chatnode's.
const (
	codeNotFound = "not-found"          // no endpoint has that path
	codeMethod   = "method-not-allowed" // the endpoint does not take that method
)

// unknownCode is how a code missing from errorTable is answered.
var unknownCode = errorSpec{500, 4500, true}

// specOf returns the table entry of code, and false when code is not in the
// table.
func specOf(code string) (errorSpec, bool) {
	s, ok := errorTable[code]
	if !ok {
		return unknownCode, false
	}
	return s, true
}

// argError is the error of a malformed or missing parameter. Its message
// starts with the parameter's name so that argumentOf can find it again.
func argError(param, reason string) *chatnode.Error {
	return &chatnode.Error{Code: chatnode.EWrongArgument, Message: param + ": " + reason}
}

// argumentOf returns the parameter named by an argError, or "".
func argumentOf(e *chatnode.Error) string {
	if e.Code != chatnode.EWrongArgument {
		return ""
	}
	name, _, ok := strings.Cut(e.Message, ": ")
	if !ok {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return name
}

// Errors the server raises itself.
var (
	errNotFound    = &chatnode.Error{Code: codeNotFound, Message: "no such endpoint"}
	errMethod      = &chatnode.Error{Code: codeMethod, Message: "method not allowed"}
	errTooLarge    = &chatnode.Error{Code: chatnode.ETooLarge, Message: "request body too large"}
	errRateLimited = &chatnode.Error{Code: chatnode.ERateLimited, Message: "request rate over the limit"}
	errStopping    = &chatnode.Error{Code: chatnode.EUnavailable, Message: "the node is stopping"}
	errTooManyConn = &chatnode.Error{Code: chatnode.EUnavailable, Message: "too many connections"}
)
