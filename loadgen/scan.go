package loadgen

import (
	"bytes"
	"strconv"
)

// The message path reads every frame, so it does not decode frames with
// encoding/json (which validates, copies raw data and validates again);
// scanFrame walks a frame once and picks out the message objects. Frames
// that change a chat's state or carry a full update are rare and go
// through encoding/json (see wire.go).

// scannedMessage is a message object found in a frame: an object holding
// string fields "clientSideId" and "kind". Depth is the number of
// containers it sits in: 3 for the data of a delta item
// ({"deltaList":[{"data":{…}}]}), more inside a chat snapshot. The byte
// slices point into the frame.
type scannedMessage struct {
	clientSideID, kind, chatID []byte
	depth                      int
}

// Depth of a message object that is a delta item's data.
const itemDataDepth = 3

// scanFrame calls fn for every message object of a frame, innermost
// first, and returns the frame's top-level "revision" (0 when absent). It
// never fails: malformed input yields fewer or no messages.
func scanFrame(data []byte, fn func(m scannedMessage)) (revision int64) {
	type level struct {
		object bool
		key    []byte
		msg    scannedMessage
	}
	var stackBuf [12]level
	stack := stackBuf[:0]
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			if len(stack) > 0 {
				stack[len(stack)-1].msg.set(stack[len(stack)-1].key, nil) // not a string
			}
			stack = append(stack, level{object: c == '{', msg: scannedMessage{depth: len(stack)}})
			expectKey = c == '{'
		case '}', ']':
			if len(stack) == 0 {
				return revision
			}
			top := &stack[len(stack)-1]
			if top.object && top.msg.clientSideID != nil && top.msg.kind != nil {
				fn(top.msg)
			}
			stack = stack[:len(stack)-1]
			expectKey = false
		case ':':
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			end := stringEnd(data, i+1)
			if end < 0 {
				return revision
			}
			s := data[i+1 : end]
			i = end
			if len(stack) == 0 || !stack[len(stack)-1].object {
				continue
			}
			top := &stack[len(stack)-1]
			if expectKey {
				top.key = s
				continue
			}
			top.msg.set(top.key, s)
			if len(stack) == 1 && string(top.key) == "revision" {
				revision, _ = strconv.ParseInt(string(s), 10, 64)
			}
		case ' ', '\t', '\r', '\n':
		default:
			// A number or literal.
			end := i
			for end < len(data) && !isDelimiter(data[end]) {
				end++
			}
			if len(stack) > 0 {
				top := &stack[len(stack)-1]
				top.msg.set(top.key, nil)
				if len(stack) == 1 && string(top.key) == "revision" {
					revision, _ = strconv.ParseInt(string(data[i:end]), 10, 64)
				}
			}
			i = end - 1
		}
	}
	return revision
}

// set records the string value v of key (nil when the value is not a
// string).
func (m *scannedMessage) set(key, v []byte) {
	switch string(key) {
	case "clientSideId":
		m.clientSideID = v
	case "kind":
		m.kind = v
	case "chatId":
		m.chatID = v
	}
}

func isDelimiter(b byte) bool {
	switch b {
	case ',', '}', ']', ':', '"', '{', '[', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// stringEnd returns the index of the quote that ends the string starting
// at i, or -1.
func stringEnd(data []byte, i int) int {
	for i < len(data) {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return -1
		}
		k := i + j
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for b := k - 1; b >= i && data[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return k
		}
		i = k + 1
	}
	return -1
}
