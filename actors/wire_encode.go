package actors

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/chatnode/chatnode/internal/jsonstr"
)

// Deltas are most of what a node encodes, so they are appended by hand
// rather than through encoding/json's reflection: message deltas on every
// message, chats, queue entries and the small ones in bursts of assignment.
// The output is byte for byte what json.Marshal makes of the same
// wireDelta; the tests hold the two together, so a field added to a wire
// type must be added here too. Numbers of type json.Number must be empty
// or valid, as seconds makes them.

// appendDelta appends the JSON of wireDelta{objectType, event, id, m}.
func appendDelta(dst []byte, objectType, event, id string, m *wireMessage) []byte {
	dst = appendDeltaHead(dst, objectType, event, id)
	dst = appendMessage(dst, m)
	return append(dst, '}')
}

// appendDeltaHead appends a delta up to its data.
func appendDeltaHead(dst []byte, objectType, event, id string) []byte {
	dst = append(dst, `{"objectType":`...)
	dst = jsonstr.Append(dst, objectType)
	dst = append(dst, `,"event":`...)
	dst = jsonstr.Append(dst, event)
	dst = append(dst, `,"id":`...)
	dst = jsonstr.Append(dst, id)
	return append(dst, `,"data":`...)
}

// appendData appends the JSON of a delta's data, for the types deltas
// carry; ok is false for any other, which encoding/json must render.
func appendData(dst []byte, data any) (_ []byte, ok bool) {
	switch v := data.(type) {
	case nil:
		return append(dst, "null"...), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case string:
		return jsonstr.Append(dst, v), true
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), true
	case *wireMessage:
		return appendMessage(dst, v), true
	case *wireOperator:
		return appendOperator(dst, v), true
	case wireRate:
		return appendRate(dst, v), true
	case wireTyping:
		dst = append(dst, `{"draft":`...)
		dst = jsonstr.Append(dst, v.Draft)
		dst = append(dst, `,"typing":`...)
		return append(strconv.AppendBool(dst, v.Typing), '}'), true
	case *queueEntry:
		return appendQueueEntry(dst, v), true
	case *wireChat:
		return appendChat(dst, v), true
	}
	return dst, false
}

// appendNumber appends n as encoding/json writes a json.Number.
func appendNumber(dst []byte, n json.Number) []byte {
	if n == "" {
		return append(dst, '0')
	}
	return append(dst, n...)
}

func appendNumberPtr(dst []byte, n *json.Number) []byte {
	if n == nil {
		return append(dst, "null"...)
	}
	return appendNumber(dst, *n)
}

// appendOptional appends ,"key":s unless s is empty (omitempty).
func appendOptional(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, key...)
	return jsonstr.Append(dst, s)
}

func appendOperator(dst []byte, o *wireOperator) []byte {
	if o == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, o.ID, 10)
	dst = append(dst, `,"fullname":`...)
	dst = jsonstr.Append(dst, o.Fullname)
	return append(dst, '}')
}

func appendRate(dst []byte, r wireRate) []byte {
	dst = append(dst, `{"operatorId":`...)
	dst = strconv.AppendInt(dst, r.OperatorID, 10)
	dst = append(dst, `,"rating":`...)
	dst = strconv.AppendInt(dst, int64(r.Rating), 10)
	return append(dst, '}')
}

func appendQueueEntry(dst []byte, e *queueEntry) []byte {
	if e == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"chatId":`...)
	dst = jsonstr.Append(dst, e.ChatID)
	dst = appendOptional(dst, `,"departmentKey":`, e.DepartmentKey)
	dst = append(dst, `,"queuedTs":`...)
	dst = appendNumber(dst, e.QueuedTs)
	dst = appendOptional(dst, `,"visitorName":`, e.VisitorName)
	dst = appendOptional(dst, `,"firstText":`, e.FirstText)
	return append(dst, '}')
}

func appendChat(dst []byte, c *wireChat) []byte {
	if c == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, c.ID, 10)
	dst = appendOptional(dst, `,"clientSideId":`, c.ClientSideID)
	dst = append(dst, `,"state":`...)
	dst = jsonstr.Append(dst, c.State)
	dst = append(dst, `,"operator":`...)
	dst = appendOperator(dst, c.Operator)
	dst = append(dst, `,"messages":`...)
	if c.Messages == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, m := range c.Messages {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendMessage(dst, m)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"creationTs":`...)
	dst = appendNumber(dst, c.CreationTs)
	dst = append(dst, `,"modificationTs":`...)
	dst = appendNumber(dst, c.ModificationTs)
	dst = append(dst, `,"offline":`...)
	dst = strconv.AppendBool(dst, c.Offline)
	dst = append(dst, `,"operatorTyping":`...)
	dst = strconv.AppendBool(dst, c.OperatorTyping)
	dst = append(dst, `,"visitorTyping":`...)
	dst = strconv.AppendBool(dst, c.VisitorTyping)
	dst = append(dst, `,"readByVisitor":`...)
	dst = strconv.AppendBool(dst, c.ReadByVisitor)
	dst = append(dst, `,"unreadByVisitorMsgCnt":`...)
	dst = strconv.AppendInt(dst, int64(c.UnreadByVisitorMsgCnt), 10)
	dst = append(dst, `,"unreadByOperatorSinceTs":`...)
	dst = appendNumberPtr(dst, c.UnreadByOperatorSinceTs)
	dst = append(dst, `,"unreadByVisitorSinceTs":`...)
	dst = appendNumberPtr(dst, c.UnreadByVisitorSinceTs)
	dst = append(dst, `,"operatorIdToRate":`...)
	if c.OperatorIDToRate == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		keys := make([]string, 0, len(c.OperatorIDToRate))
		for k := range c.OperatorIDToRate {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstr.Append(dst, k)
			dst = append(dst, ':')
			dst = appendRate(dst, c.OperatorIDToRate[k])
		}
		dst = append(dst, '}')
	}
	if c.QueuePosition != 0 {
		dst = append(dst, `,"queuePosition":`...)
		dst = strconv.AppendInt(dst, int64(c.QueuePosition), 10)
	}
	dst = appendOptional(dst, `,"visitSessionId":`, c.VisitSessionID)
	dst = appendOptional(dst, `,"departmentKey":`, c.DepartmentKey)
	dst = appendOptional(dst, `,"visitorName":`, c.VisitorName)
	dst = appendOptional(dst, `,"visitorDraft":`, c.VisitorDraft)
	return append(dst, '}')
}

// appendMessage appends the JSON of m.
func appendMessage(dst []byte, m *wireMessage) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"id":`...)
	dst = jsonstr.Append(dst, m.ID)
	dst = append(dst, `,"clientSideId":`...)
	dst = jsonstr.Append(dst, m.ClientSideID)
	dst = append(dst, `,"chatId":`...)
	dst = jsonstr.Append(dst, m.ChatID)
	if m.AuthorID != nil {
		dst = append(dst, `,"authorId":`...)
		dst = strconv.AppendInt(dst, *m.AuthorID, 10)
	}
	dst = append(dst, `,"name":`...)
	dst = jsonstr.Append(dst, m.Name)
	dst = append(dst, `,"text":`...)
	dst = jsonstr.Append(dst, m.Text)
	dst = append(dst, `,"kind":`...)
	dst = jsonstr.Append(dst, m.Kind)
	dst = append(dst, `,"ts":`...)
	dst = appendNumber(dst, m.Ts)
	dst = append(dst, `,"ts_m":`...)
	dst = strconv.AppendInt(dst, m.TsM, 10)
	dst = append(dst, `,"read":`...)
	dst = strconv.AppendBool(dst, m.Read)
	dst = append(dst, `,"canBeEdited":`...)
	dst = strconv.AppendBool(dst, m.CanBeEdited)
	return append(dst, '}')
}

// messageDeltaSize bounds what a message delta adds to the contents of its
// strings when none needs escaping: names, quotes, punctuation, numbers.
const messageDeltaSize = 216

// messageDelta is delta for a message, in a buffer sized to need one
// allocation.
func messageDelta(objectType, event, id string, m *wireMessage) []byte {
	n := messageDeltaSize + len(objectType) + len(event) + len(id) + len(m.ID) +
		len(m.ClientSideID) + len(m.ChatID) + len(m.Name) + len(m.Text) + len(m.Kind) + len(m.Ts)
	return appendDelta(make([]byte, 0, n), objectType, event, id, m)
}
