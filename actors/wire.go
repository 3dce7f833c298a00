package actors

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
)

// The JSON shapes of Webim's visitor protocol (docs/webim-wire.md) and of our
// operator API, which reuses them. Field types follow what the SDK accepts:
// chat, operator and author ids are numbers; message ids, chat ids inside
// messages and delta ids are strings; times are seconds (ts_m microseconds).

type wireMessage struct {
	ID           string      `json:"id"`
	ClientSideID string      `json:"clientSideId"`
	ChatID       string      `json:"chatId"`
	AuthorID     *int64      `json:"authorId,omitempty"`
	Name         string      `json:"name"`
	Text         string      `json:"text"`
	Kind         string      `json:"kind"`
	Ts           json.Number `json:"ts"`
	TsM          int64       `json:"ts_m"`
	Read         bool        `json:"read"`
	CanBeEdited  bool        `json:"canBeEdited"`
}

type wireOperator struct {
	ID       int64  `json:"id"`
	Fullname string `json:"fullname"`
}

type wireRate struct {
	OperatorID int64 `json:"operatorId"`
	Rating     int32 `json:"rating"`
}

type wireChat struct {
	ID                      int64               `json:"id"`
	ClientSideID            string              `json:"clientSideId,omitempty"`
	State                   string              `json:"state"`
	Operator                *wireOperator       `json:"operator"`
	Messages                []*wireMessage      `json:"messages"`
	CreationTs              json.Number         `json:"creationTs"`
	ModificationTs          json.Number         `json:"modificationTs"`
	Offline                 bool                `json:"offline"`
	OperatorTyping          bool                `json:"operatorTyping"`
	VisitorTyping           bool                `json:"visitorTyping"`
	ReadByVisitor           bool                `json:"readByVisitor"`
	UnreadByVisitorMsgCnt   int                 `json:"unreadByVisitorMsgCnt"`
	UnreadByOperatorSinceTs *json.Number        `json:"unreadByOperatorSinceTs"`
	UnreadByVisitorSinceTs  *json.Number        `json:"unreadByVisitorSinceTs"`
	OperatorIDToRate        map[string]wireRate `json:"operatorIdToRate"`
	QueuePosition           int32               `json:"queuePosition,omitempty"`
	// Operator API only.
	VisitSessionID string `json:"visitSessionId,omitempty"`
	DepartmentKey  string `json:"departmentKey,omitempty"`
	VisitorName    string `json:"visitorName,omitempty"`
	VisitorDraft   string `json:"visitorDraft,omitempty"`
}

// wireTyping is the visitor's typing as the operator sees it.
type wireTyping struct {
	Draft  string `json:"draft"`
	Typing bool   `json:"typing"`
}

type wireDepartment struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Online string `json:"online"`
	Order  int    `json:"order"`
}

type wireDelta struct {
	ObjectType string `json:"objectType"`
	Event      string `json:"event"`
	ID         string `json:"id"`
	Data       any    `json:"data"`
}

// Delta object types.
const (
	objChat           = "CHAT"
	objMessage        = "CHAT_MESSAGE"
	objState          = "CHAT_STATE"
	objOperator       = "CHAT_OPERATOR"
	objOperatorTyping = "CHAT_OPERATOR_TYPING"
	objVisitorTyping  = "CHAT_VISITOR_TYPING" // operator API
	objReadByVisitor  = "CHAT_READ_BY_VISITOR"
	objUnreadByOp     = "CHAT_UNREAD_BY_OPERATOR_SINCE_TS"
	objMessageRead    = "MESSAGE_READ"
	objRate           = "OPERATOR_RATE"
	objDepartments    = "DEPARTMENT_LIST"
	objSessionState   = "VISIT_SESSION_STATE"
	objQueuePosition  = "QUEUE_POSITION"  // ours
	objQueue          = "QUEUE"           // operator API: a waiting chat
	objOperatorStatus = "OPERATOR_STATUS" // operator API
)

// seconds renders a time in microseconds as the JSON number of seconds the
// SDKs read ("1764175200.123456"), with integer arithmetic: formatting a
// float64 costs several times more and deepens the goroutine's stack.
func seconds(micros int64) json.Number {
	if micros < 0 {
		return json.Number(strconv.FormatFloat(float64(micros)/1e6, 'f', -1, 64))
	}
	var buf [24]byte
	b := strconv.AppendInt(buf[:0], micros/1e6, 10)
	if frac := micros % 1e6; frac != 0 {
		b = append(b, '.', '0', '0', '0', '0', '0', '0')
		for i := len(b) - 1; frac > 0; i-- {
			b[i] = byte('0' + frac%10)
			frac /= 10
		}
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return json.Number(b)
}

// numericID turns an id that is a decimal number into the number the SDK
// wants, and anything else into 0.
func numericID(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are encoded here
	}
	return b
}

// delta renders a change for the client. The data types deltas carry are
// appended by hand (wire_encode.go); any other goes through encoding/json.
// Times come from seconds, so they are always valid JSON numbers.
func delta(objectType, event, id string, data any) json.RawMessage {
	if m, ok := data.(*wireMessage); ok && m != nil {
		return messageDelta(objectType, event, id, m)
	}
	buf := deltaBufs.Get().(*[]byte)
	dst, ok := appendData(appendDeltaHead((*buf)[:0], objectType, event, id), data)
	var out json.RawMessage
	if ok {
		out = slices.Clone(append(dst, '}'))
	}
	if cap(dst) <= maxDeltaBuf {
		*buf = dst
		deltaBufs.Put(buf)
	}
	if !ok {
		out = mustJSON(wireDelta{ObjectType: objectType, Event: event, ID: id, Data: data})
	}
	return out
}

// deltaBufs holds the buffers deltas are rendered in before they are
// copied out at their size: a delta is kept in its stream's window of
// recent updates, and a buffer grown while rendering would keep its spare
// room there too.
var deltaBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxDeltaBuf is the largest buffer deltaBufs keeps: a chat of many
// messages renders once in a while, and its buffer is left to the
// collector.
const maxDeltaBuf = 64 << 10

// messageJSON renders m as the visitor or operator sees it in chat c.
func messageJSON(m *messages.Message, c *messages.Chat) *wireMessage {
	w := messageView(m, c)
	return &w
}

// messageAdd is the delta that adds m to chat c; the message is rendered
// on the stack, the delta in one allocation.
func messageAdd(m *messages.Message, c *messages.Chat) json.RawMessage {
	w := messageView(m, c)
	return messageDelta(objMessage, "add", m.Id, &w)
}

// messageView is m as the visitor or operator sees it in chat c.
func messageView(m *messages.Message, c *messages.Chat) wireMessage {
	w := wireMessage{
		ID:           m.Id,
		ClientSideID: m.ClientSideId,
		ChatID:       m.ChatId,
		Name:         m.AuthorName,
		Text:         m.Text,
		Kind:         m.Kind,
		Ts:           seconds(m.TsMicros),
		TsM:          m.TsMicros,
		Read:         true,
	}
	if w.ClientSideID == "" {
		w.ClientSideID = m.Id
	}
	switch m.Kind {
	case chatnode.KindOperator:
		id := numericID(m.AuthorId)
		w.AuthorID = &id
		if c != nil {
			w.Read = c.ReadByVisitorSeq >= m.Seq
		}
	case chatnode.KindVisitor:
		if c != nil {
			w.Read = c.ReadByOperatorSeq >= m.Seq
		}
	}
	return w
}

// operatorJSON renders the chat's operator, or nil.
func (h *Hub) operatorJSON(id string) *wireOperator {
	if id == "" {
		return nil
	}
	name := id
	if a := h.accounts.operator(id); a != nil {
		name = a.Name
	}
	return &wireOperator{ID: numericID(id), Fullname: name}
}

// chatJSON renders c; forOperator adds the operator API's fields.
func (h *Hub) chatJSON(c *messages.Chat, forOperator bool) *wireChat {
	w := &wireChat{
		ID:               numericID(c.Id),
		ClientSideID:     c.ClientSideId,
		State:            c.State,
		Operator:         h.operatorJSON(c.OperatorId),
		Messages:         make([]*wireMessage, 0, len(c.Messages)),
		CreationTs:       seconds(c.CreatedMicros),
		ModificationTs:   seconds(c.ModifiedMicros),
		OperatorTyping:   c.OperatorTyping,
		VisitorTyping:    c.VisitorTyping,
		OperatorIDToRate: map[string]wireRate{},
		QueuePosition:    c.QueuePosition,
	}
	var unreadByVisitor int
	var lastOperatorSeq int64
	for _, m := range c.Messages {
		w.Messages = append(w.Messages, messageJSON(m, c))
		if m.Kind == chatnode.KindOperator {
			lastOperatorSeq = m.Seq
			if m.Seq > c.ReadByVisitorSeq {
				unreadByVisitor++
				if w.UnreadByVisitorSinceTs == nil {
					ts := seconds(m.TsMicros)
					w.UnreadByVisitorSinceTs = &ts
				}
			}
		}
		if m.Kind == chatnode.KindVisitor && m.Seq > c.ReadByOperatorSeq && w.UnreadByOperatorSinceTs == nil {
			ts := seconds(m.TsMicros)
			w.UnreadByOperatorSinceTs = &ts
		}
	}
	w.UnreadByVisitorMsgCnt = unreadByVisitor
	w.ReadByVisitor = c.ReadByVisitorSeq >= lastOperatorSeq
	if c.Rated {
		w.OperatorIDToRate[strconv.FormatInt(numericID(c.RatedOperatorId), 10)] = wireRate{OperatorID: numericID(c.RatedOperatorId), Rating: c.Rate}
	}
	if forOperator {
		w.VisitSessionID = c.VisitorId
		w.DepartmentKey = c.DepartmentKey
		w.VisitorName = c.VisitorName
		w.VisitorDraft = c.VisitorDraft
	}
	return w
}
