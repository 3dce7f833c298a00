package telemetry

import (
	"reflect"
	"strings"
	"sync"
)

// Actor kinds, as they appear in span names and in the kind label of the
// actor metrics. A directory's children take the singular name of the
// directory; the directories themselves keep the plural.
const (
	KindVisitor   = "visitor"
	KindChat      = "chat"
	KindOperator  = "operator"
	KindAssigner  = "assigner"
	KindBridge    = "bridge"
	KindVisitors  = "visitors"
	KindChats     = "chats"
	KindOperators = "operators"
	// KindDirectory is not derived from a process id: it is the mailbox
	// kind for Metrics.Mailbox("directory"), the three directories together.
	KindDirectory = "directory"
	// KindOther is any process whose id matches none of the above.
	KindOther = "other"
)

// Indexes into kindNames.
const (
	kVisitor = iota
	kChat
	kOperator
	kAssigner
	kBridge
	kVisitors
	kChats
	kOperators
	kDirectory
	kOther
	numKinds
)

var kindNames = [numKinds]string{
	KindVisitor, KindChat, KindOperator, KindAssigner, KindBridge,
	KindVisitors, KindChats, KindOperators, KindDirectory, KindOther,
}

// KindOf returns the actor kind of a process id: "visitors/<id>#<n>" is a
// visitor, "visitors" the visitors directory itself, "assigner" the
// assigner, "bridge" the cluster bridge; anything else is KindOther.
func KindOf(pid string) string { return kindNames[kindIndex(pid)] }

func kindIndex(pid string) int {
	seg, child := pid, false
	if i := strings.IndexByte(pid, '/'); i >= 0 {
		seg, child = pid[:i], true
	}
	switch seg {
	case "visitors":
		if child {
			return kVisitor
		}
		return kVisitors
	case "chats":
		if child {
			return kChat
		}
		return kChats
	case "operators":
		if child {
			return kOperator
		}
		return kOperators
	case "assigner":
		if !child {
			return kAssigner
		}
	case "bridge":
		if !child {
			return kBridge
		}
	}
	return kOther
}

// kindByName maps a kind name back to its index; unknown names are
// KindOther.
func kindByName(kind string) int {
	for i, k := range kindNames {
		if k == kind {
			return i
		}
	}
	return kOther
}

// IDCarrier is implemented by messages that name a chat, an operator or a
// visitor without the protobuf getters (GetChatId, GetOperatorId,
// GetVisitorId), so their spans get the chatnode.chat_id,
// chatnode.operator_id and chatnode.visitor_id attributes. Empty strings
// are left out.
type IDCarrier interface {
	EntityIDs() (chatID, operatorID, visitorID string)
}

// Wrapper is implemented by messages that carry another message to its
// destination, such as a directory's route to a child. The span of a
// wrapper is named "<wrapper>:<wrapped>" (for example "route:ChatEvent")
// and takes its ids from the wrapped message where the wrapper names none.
type Wrapper interface {
	WrappedMessage() any
}

type chatIDGetter interface{ GetChatId() string }
type operatorIDGetter interface{ GetOperatorId() string }
type visitorIDGetter interface{ GetVisitorId() string }

// entityIDs returns the ids msg names, looking into wrapped messages.
func entityIDs(msg any) (chat, operator, visitor string) {
	for depth := 0; msg != nil && depth < 4; depth++ {
		var c, o, v string
		if m, ok := msg.(IDCarrier); ok {
			c, o, v = m.EntityIDs()
		}
		if c == "" {
			if m, ok := msg.(chatIDGetter); ok {
				c = m.GetChatId()
			}
		}
		if o == "" {
			if m, ok := msg.(operatorIDGetter); ok {
				o = m.GetOperatorId()
			}
		}
		if v == "" {
			if m, ok := msg.(visitorIDGetter); ok {
				v = m.GetVisitorId()
			}
		}
		if chat == "" {
			chat = c
		}
		if operator == "" {
			operator = o
		}
		if visitor == "" {
			visitor = v
		}
		w, ok := msg.(Wrapper)
		if !ok {
			break
		}
		msg = w.WrappedMessage()
	}
	return chat, operator, visitor
}

// typeName is the name of msg's type without package or pointer: "ChatEvent"
// for *messages.ChatEvent.
func typeName(msg any) string {
	t := reflect.TypeOf(msg)
	if t == nil {
		return "nil"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n := t.Name(); n != "" {
		return n
	}
	return t.String()
}

// MessageName returns the name a span gives msg: its type name without
// package ("ChatEvent"), or "<wrapper>:<wrapped>" for a Wrapper.
func MessageName(msg any) string {
	name := typeName(msg)
	if w, ok := msg.(Wrapper); ok {
		return name + ":" + MessageName(w.WrappedMessage())
	}
	return name
}

// spanNames caches "<kind> <message>" per kind and message type, so naming
// a span allocates nothing once a pair has been seen. Wrappers are named
// each time: their name depends on what they carry.
type spanNames struct {
	m sync.Map // spanNameKey → string
}

type spanNameKey struct {
	kind int
	typ  reflect.Type
}

func (s *spanNames) get(kind int, msg any) string {
	if _, ok := msg.(Wrapper); ok {
		return kindNames[kind] + " " + MessageName(msg)
	}
	key := spanNameKey{kind, reflect.TypeOf(msg)}
	if v, ok := s.m.Load(key); ok {
		return v.(string)
	}
	name := kindNames[kind] + " " + typeName(msg)
	s.m.Store(key, name)
	return name
}
