package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/actors"
)

// params returns a request parameter's value, already URL-decoded, and
// whether the request carried it. The decoders below take one so that they
// know nothing of HTTP; the bytes may be reused after the decoder returns.
type params func(key string) ([]byte, bool)

// Limits on parameter values, in bytes.
const (
	maxIDLen   = 256  // tokens, ids, keys, names of things
	maxLineLen = 2048 // titles, locations, logins, passwords
)

// History page sizes.
const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 500
)

// kind says what a parameter value may hold.
type kind int

const (
	kindID   kind = iota // ≤ maxIDLen, no control characters
	kindLine             // ≤ maxLineLen, no control characters
	kindText             // any length the body allows; no NUL
)

// value returns parameter key checked against k: valid UTF-8 and within the
// kind's limits. A missing parameter is "" and, when required, an error.
func value(get params, key string, k kind, required bool) (string, error) {
	b, ok := get(key)
	if !ok || len(b) == 0 {
		if required {
			return "", argError(key, "missing")
		}
		return "", nil
	}
	if !utf8.Valid(b) {
		return "", argError(key, "not valid UTF-8")
	}
	switch k {
	case kindID, kindLine:
		limit := maxIDLen
		if k == kindLine {
			limit = maxLineLen
		}
		if len(b) > limit {
			return "", argError(key, "longer than "+strconv.Itoa(limit)+" bytes")
		}
		for _, c := range b {
			if c < 0x20 || c == 0x7f {
				return "", argError(key, "holds a control character")
			}
		}
	case kindText:
		if bytes.IndexByte(b, 0) >= 0 {
			return "", argError(key, "holds a NUL character")
		}
	}
	return string(b), nil
}

// integer returns parameter key as an integer within [lo, hi]; a missing
// parameter is def.
func integer(get params, key string, lo, hi, def int64) (int64, error) {
	b, ok := get(key)
	if !ok || len(b) == 0 {
		return def, nil
	}
	if len(b) > 20 {
		return 0, argError(key, "not an integer")
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, argError(key, "not an integer")
	}
	if n < lo || n > hi {
		return 0, argError(key, "out of range")
	}
	return n, nil
}

// boolean returns parameter key as a boolean: Webim's iOS SDK sends 1 and 0,
// its Android SDK true and false.
func boolean(get params, key string, required bool) (bool, error) {
	b, ok := get(key)
	if !ok || len(b) == 0 {
		if required {
			return false, argError(key, "missing")
		}
		return false, nil
	}
	switch string(b) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, argError(key, "not one of 1, 0, true, false")
}

// object checks that parameter key, when present, is a JSON object and
// returns a copy of it.
func object(get params, key string) (json.RawMessage, error) {
	b, ok := get(key)
	if !ok || len(b) == 0 {
		return nil, nil
	}
	if !utf8.Valid(b) {
		return nil, argError(key, "not valid UTF-8")
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !json.Valid(b) {
		return nil, argError(key, "not a JSON object")
	}
	return json.RawMessage(bytes.Clone(b)), nil
}

// errs keeps the first error of a run of decodings.
type errs struct{ err error }

func (e *errs) str(get params, key string, k kind, required bool) string {
	if e.err != nil {
		return ""
	}
	s, err := value(get, key, k, required)
	e.err = err
	return s
}

func (e *errs) int(get params, key string, lo, hi, def int64) int64 {
	if e.err != nil {
		return 0
	}
	n, err := integer(get, key, lo, hi, def)
	e.err = err
	return n
}

func (e *errs) bool(get params, key string, required bool) bool {
	if e.err != nil {
		return false
	}
	v, err := boolean(get, key, required)
	e.err = err
	return v
}

func (e *errs) obj(get params, key string) json.RawMessage {
	if e.err != nil {
		return nil
	}
	v, err := object(get, key)
	e.err = err
	return v
}

// token returns a required credential parameter. A missing one is
// wrong-auth-token: the caller has not authenticated.
func token(get params, key string) (string, error) {
	b, ok := get(key)
	if !ok || len(b) == 0 {
		return "", &chatnode.Error{Code: chatnode.EUnauthorized, Message: key + " missing"}
	}
	return value(get, key, kindID, true)
}

// decodeVisitorAuth returns the page-id and auth-token of a visitor request.
func decodeVisitorAuth(get params) (actors.VisitorAuth, error) {
	page, err := token(get, "page-id")
	if err != nil {
		return actors.VisitorAuth{}, err
	}
	tok, err := token(get, "auth-token")
	if err != nil {
		return actors.VisitorAuth{}, err
	}
	return actors.VisitorAuth{PageID: page, AuthToken: tok}, nil
}

// decodeSince returns the since parameter of a delta request or WebSocket:
// a revision, 0 (the default) for the full state. ts, when sent, must be an
// integer; its value is not used.
func decodeSince(get params) (int64, error) {
	var e errs
	since := e.int(get, "since", 0, 1<<62, 0)
	e.int(get, "ts", -1<<62, 1<<62, 0)
	return since, e.err
}

// decodeInit returns the InitRequest of /l/v/m/init. Parameters Webim's SDK
// sends that chatnode does not use are checked and dropped.
func decodeInit(get params) (*actors.InitRequest, error) {
	var e errs
	if ev := e.str(get, "event", kindID, false); ev != "" && ev != "init" {
		return nil, argError("event", "not init")
	}
	e.int(get, "since", 0, 1<<62, 0)
	e.bool(get, "respond-immediately", false)
	req := &actors.InitRequest{
		VisitSessionID: e.str(get, "visit-session-id", kindID, false),
		DeviceID:       e.str(get, "device-id", kindID, false),
		Platform:       e.str(get, "platform", kindID, false),
		Location:       e.str(get, "location", kindLine, false),
		Title:          e.str(get, "title", kindLine, false),
		Visitor:        e.obj(get, "visitor"),
	}
	e.obj(get, "visitor-ext")
	for _, key := range [...]string{"app-version", "push-token", "push-service", "provided_auth_token"} {
		e.str(get, key, kindLine, false)
	}
	e.str(get, "prechat-key-independent-fields", kindText, false)
	if e.err != nil {
		return nil, e.err
	}
	return req, nil
}

// decodeVisitorAction returns the VisitorRequest of /l/v/m/action.
func decodeVisitorAction(get params) (*actors.VisitorRequest, error) {
	auth, err := decodeVisitorAuth(get)
	if err != nil {
		return nil, err
	}
	return decodeVisitorActionOf(auth, get)
}

// decodeVisitorActionOf is decodeVisitorAction for a request whose auth was
// decoded already.
func decodeVisitorActionOf(auth actors.VisitorAuth, get params) (*actors.VisitorRequest, error) {
	action, err := visitorActionName(get)
	if err != nil {
		return nil, err
	}
	req := &actors.VisitorRequest{Auth: auth, Action: action}
	var e errs
	switch action {
	case actors.ActStart:
		req.ClientSideID = e.str(get, "client-side-id", kindID, false)
		req.DepartmentKey = e.str(get, "department-key", kindID, false)
		req.FirstQuestion = e.str(get, "first-question", kindText, false)
		e.bool(get, "force-online", false)
		e.bool(get, "force-start", false)
		e.str(get, "custom_fields", kindText, false)
	case actors.ActMessage:
		req.Message = e.str(get, "message", kindText, true)
		req.ClientSideID = e.str(get, "client-side-id", kindID, true)
		if k := e.str(get, "kind", kindID, false); k != "" && k != chatnode.KindVisitor {
			return nil, argError("kind", "only visitor messages are taken")
		}
		e.bool(get, "hint_question", false)
		e.obj(get, "data")
		e.obj(get, "quote")
	case actors.ActVisitorTyping:
		req.Typing = e.bool(get, "typing", true)
		req.Draft = e.str(get, "message-draft", kindText, false)
		if e.bool(get, "del-message-draft", false) {
			req.Draft = ""
		}
	case actors.ActReadByVisitor:
		e.str(get, "message_id", kindID, false)
	case actors.ActClose:
	case actors.ActRate:
		if b, ok := get("rate"); !ok || len(b) == 0 {
			return nil, argError("rate", "missing")
		}
		rate := e.int(get, "rate", -1<<31, 1<<31, 0)
		if e.err == nil && (rate < chatnode.MinRate || rate > chatnode.MaxRate) {
			return nil, &chatnode.Error{Code: chatnode.ERateIncorrect, Message: "rate: not in -2…2"}
		}
		req.Rate = int(rate)
		req.OperatorID = e.str(get, "operator_id", kindID, false)
		e.str(get, "visitor_note", kindText, false)
		e.str(get, "thread_id", kindID, false)
	default:
		return nil, &chatnode.Error{Code: chatnode.EUnknownAction, Message: "action: " + strconv.QuoteToASCII(action) + " is not known"}
	}
	if e.err != nil {
		return nil, e.err
	}
	return req, nil
}

// visitorActionName returns the action parameter; the actions chatnode
// knows are returned as their constants, without a copy.
func visitorActionName(get params) (string, error) {
	if b, ok := get("action"); ok {
		for _, a := range visitorActions {
			if string(b) == a {
				return a, nil
			}
		}
	}
	return value(get, "action", kindID, true)
}

// visitorActions are the visitor actions, the most frequent first.
var visitorActions = [...]string{actors.ActMessage, actors.ActVisitorTyping, actors.ActReadByVisitor,
	actors.ActStart, actors.ActClose, actors.ActRate}

// historyQuery is a decoded history request.
type historyQuery struct {
	Before string // "" for the newest page
	Limit  int
	Since  bool // Webim's "since" form: answer with a history revision
}

// microsFloor is the least before-ts taken as microseconds; a smaller one
// is taken as milliseconds (Webim's Android SDK).
const microsFloor = 100_000_000_000_000 // 1973 in µs, 5138 in ms

// decodeVisitorHistory returns the query of /l/v/m/history: Webim's
// before-ts (a message time in microseconds or milliseconds) or since (a
// history revision, which chatnode answers with the newest page), or our
// before and limit.
func decodeVisitorHistory(get params) (actors.VisitorAuth, historyQuery, error) {
	auth, err := decodeVisitorAuth(get)
	if err != nil {
		return auth, historyQuery{}, err
	}
	var e errs
	q := historyQuery{Limit: int(e.int(get, "limit", 1, maxHistoryLimit, defaultHistoryLimit))}
	ts := e.int(get, "before-ts", 0, 1<<62, 0)
	q.Before = e.str(get, "before", kindID, false)
	e.str(get, "since", kindID, false)
	if e.err != nil {
		return auth, historyQuery{}, e.err
	}
	switch {
	case ts > 0 && q.Before != "":
		return auth, historyQuery{}, argError("before-ts", "sent together with before")
	case ts > 0:
		if ts < microsFloor {
			ts *= 1000
		}
		q.Before = strconv.FormatInt(ts, 10)
	case q.Before == "":
		q.Since = true
	}
	return auth, q, nil
}

// decodeLogin returns the login and password of /l/o/login.
func decodeLogin(get params) (login, password string, err error) {
	var e errs
	login = e.str(get, "login", kindLine, true)
	password = e.str(get, "password", kindLine, true)
	return login, password, e.err
}

// decodeSetStatus returns the token and status of /l/o/set-status.
func decodeSetStatus(get params) (tok, status string, err error) {
	tok, err = token(get, "auth-token")
	if err != nil {
		return "", "", err
	}
	status, err = value(get, "status", kindID, true)
	if err != nil {
		return "", "", err
	}
	if !chatnode.ValidStatus(status) {
		return "", "", &chatnode.Error{Code: chatnode.EStatusUnknown, Message: "status: not online, invisible or offline"}
	}
	return tok, status, nil
}

// decodeOperatorAction returns the OperatorRequest of /l/o/action.
func decodeOperatorAction(get params) (*actors.OperatorRequest, error) {
	tok, err := token(get, "auth-token")
	if err != nil {
		return nil, err
	}
	action, err := value(get, "action", kindID, true)
	if err != nil {
		return nil, err
	}
	req := &actors.OperatorRequest{Token: tok, Action: action}
	var e errs
	req.ChatID = e.str(get, "chat-id", kindID, true)
	switch action {
	case actors.ActTake, actors.ActClose, actors.ActReadByOperator:
	case actors.ActMessage:
		req.Message = e.str(get, "message", kindText, true)
		req.ClientSideID = e.str(get, "client-side-id", kindID, true)
	case actors.ActTransfer:
		req.ToOperatorID = e.str(get, "operator-id", kindID, false)
		req.ToDepartmentKey = e.str(get, "department-key", kindID, false)
		if e.err == nil && (req.ToOperatorID == "") == (req.ToDepartmentKey == "") {
			return nil, argError("operator-id", "send exactly one of operator-id and department-key")
		}
	case actors.ActOperatorTyping:
		req.Typing = e.bool(get, "typing", true)
		req.Draft = e.str(get, "message-draft", kindText, false)
	default:
		return nil, &chatnode.Error{Code: chatnode.EUnknownAction, Message: "action: " + strconv.QuoteToASCII(action) + " is not known"}
	}
	if e.err != nil {
		return nil, e.err
	}
	return req, nil
}

// decodeOperatorHistory returns the query of /l/o/history.
func decodeOperatorHistory(get params) (tok, chatID string, q historyQuery, err error) {
	tok, err = token(get, "auth-token")
	if err != nil {
		return "", "", q, err
	}
	var e errs
	chatID = e.str(get, "chat-id", kindID, true)
	q.Before = e.str(get, "before", kindID, false)
	q.Limit = int(e.int(get, "limit", 1, maxHistoryLimit, defaultHistoryLimit))
	return tok, chatID, q, e.err
}
