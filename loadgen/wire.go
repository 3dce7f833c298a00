package loadgen

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The JSON the node sends, reduced to what the load generator reads.

// frame is a delta answer, a WebSocket frame or an init answer:
// {"revision", "fullUpdate"} or {"revision", "deltaList"}, {} for nothing,
// or {"error"}.
type frame struct {
	Revision   json.RawMessage `json:"revision"`
	FullUpdate json.RawMessage `json:"fullUpdate"`
	DeltaList  []deltaItem     `json:"deltaList"`
	Error      string          `json:"error"`
}

type deltaItem struct {
	ObjectType string          `json:"objectType"`
	Event      string          `json:"event"`
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data"`
}

type wireMessage struct {
	ClientSideID string `json:"clientSideId"`
	ChatID       string `json:"chatId"`
	Kind         string `json:"kind"`
}

type wireOperatorRef struct {
	ID json.RawMessage `json:"id"`
}

type wireChat struct {
	ID       json.RawMessage  `json:"id"`
	State    string           `json:"state"`
	Operator *wireOperatorRef `json:"operator"`
	Messages []wireMessage    `json:"messages"`
}

// visitorFull is the visitor's fullUpdate.
type visitorFull struct {
	PageID    string    `json:"pageId"`
	AuthToken string    `json:"authToken"`
	Chat      *wireChat `json:"chat"`
}

// loginAnswer is /l/o/login's answer.
type loginAnswer struct {
	AuthToken string `json:"authToken"`
	Operator  struct {
		ID json.RawMessage `json:"id"`
	} `json:"operator"`
	Error string `json:"error"`
}

// Message kinds and chat states the load generator acts on.
const (
	kindVisitor   = "visitor"
	kindOperator  = "operator"
	stateChatting = "chatting"
	stateQueue    = "queue"
)

// Delta object types the load generator acts on.
const (
	objChat     = "CHAT"
	objMessage  = "CHAT_MESSAGE"
	objState    = "CHAT_STATE"
	objOperator = "CHAT_OPERATOR"
)

// rawString returns a JSON string or number as text ("" for null or
// anything else).
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw)
	}
	return ""
}

// rawInt returns a JSON number or numeric string as an integer, 0 when it
// is neither.
func rawInt(raw json.RawMessage) int64 {
	n, _ := strconv.ParseInt(rawString(raw), 10, 64)
	return n
}

// errorCode returns the "error" of a JSON answer, or "".
func errorCode(body []byte) string {
	if !bytes.Contains(body, []byte(`"error"`)) {
		return ""
	}
	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.Error
}

// isOK reports whether body is {"result":"ok"}.
func isOK(body []byte) bool {
	return bytes.Contains(body, []byte(`"result":"ok"`)) || bytes.Contains(body, []byte(`"result": "ok"`))
}
