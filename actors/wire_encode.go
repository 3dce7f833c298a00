package actors

import (
	"strconv"

	"github.com/chatnode/chatnode/internal/jsonstr"
)

// Message deltas are most of what a node encodes, so they are appended by
// hand rather than through encoding/json's reflection. The output is byte
// for byte what json.Marshal makes of the same wireDelta; the tests hold the
// two together, so a field added to wireMessage must be added here too.

// appendDelta appends the JSON of wireDelta{objectType, event, id, m}.
// m must not be nil, and m.Ts must be empty or a valid JSON number.
func appendDelta(dst []byte, objectType, event, id string, m *wireMessage) []byte {
	dst = append(dst, `{"objectType":`...)
	dst = jsonstr.Append(dst, objectType)
	dst = append(dst, `,"event":`...)
	dst = jsonstr.Append(dst, event)
	dst = append(dst, `,"id":`...)
	dst = jsonstr.Append(dst, id)
	dst = append(dst, `,"data":`...)
	dst = appendMessage(dst, m)
	return append(dst, '}')
}

// appendMessage appends the JSON of m under the same conditions as
// appendDelta.
func appendMessage(dst []byte, m *wireMessage) []byte {
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
	if m.Ts == "" {
		dst = append(dst, '0') // as encoding/json writes a zero json.Number
	} else {
		dst = append(dst, m.Ts...)
	}
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
