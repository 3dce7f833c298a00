package actors

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Message deltas are most of what a node encodes, so they are appended by
// hand rather than through encoding/json's reflection. The output is byte
// for byte what json.Marshal makes of the same wireDelta; the tests hold the
// two together, so a field added to wireMessage must be added here too.

// appendDelta appends the JSON of wireDelta{objectType, event, id, m}.
// m must not be nil, and m.Ts must be empty or a valid JSON number.
func appendDelta(dst []byte, objectType, event, id string, m *wireMessage) []byte {
	dst = append(dst, `{"objectType":`...)
	dst = appendJSONString(dst, objectType)
	dst = append(dst, `,"event":`...)
	dst = appendJSONString(dst, event)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"data":`...)
	dst = appendMessage(dst, m)
	return append(dst, '}')
}

// appendMessage appends the JSON of m under the same conditions as
// appendDelta.
func appendMessage(dst []byte, m *wireMessage) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, m.ID)
	dst = append(dst, `,"clientSideId":`...)
	dst = appendJSONString(dst, m.ClientSideID)
	dst = append(dst, `,"chatId":`...)
	dst = appendJSONString(dst, m.ChatID)
	if m.AuthorID != nil {
		dst = append(dst, `,"authorId":`...)
		dst = strconv.AppendInt(dst, *m.AuthorID, 10)
	}
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, m.Name)
	dst = append(dst, `,"text":`...)
	dst = appendJSONString(dst, m.Text)
	dst = append(dst, `,"kind":`...)
	dst = appendJSONString(dst, m.Kind)
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

const hexDigits = "0123456789abcdef"

// jsonSafe tells which ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := byte(0x20); c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return safe
}()

// appendJSONString appends s as a JSON string the way encoding/json does:
// invalid UTF-8 becomes U+FFFD; <, >, & and U+2028, U+2029 are escaped as
// \u sequences, and so are control characters that have no short escape.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// validNumber reports whether s is a JSON number, which encoding/json
// checks before it writes a json.Number (and fails the whole value if not).
func validNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	n := leadingDigits(s)
	if n == 0 || n > 1 && s[0] == '0' {
		return false
	}
	s = s[n:]
	if strings.HasPrefix(s, ".") {
		if n = leadingDigits(s[1:]); n == 0 {
			return false
		}
		s = s[1+n:]
	}
	if len(s) > 0 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		if n = leadingDigits(s); n == 0 {
			return false
		}
		s = s[n:]
	}
	return s == ""
}

// leadingDigits counts the decimal digits s starts with.
func leadingDigits(s string) int {
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return n
}
