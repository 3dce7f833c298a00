package server

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/actors"
	"github.com/chatnode/chatnode/internal/jsonstr"
)

// Answers are composed by appending the Backend's raw JSON pieces to a
// buffer; nothing the Backend hands over is decoded or encoded again.

var resultOK = []byte(`{"result":"ok"}`)

// bufPool holds buffers for composing answers and WebSocket frames.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // let a rare huge one go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// appendUpdate appends the JSON of u as a delta or init answer:
// {"revision":N,"fullUpdate":{...}} when u carries the full state,
// {"revision":N,"deltaList":[...]} when it carries changes, {} when it
// carries nothing (a long-poll timeout).
func appendUpdate(dst []byte, u *actors.Update) []byte {
	if u == nil || u.Empty() {
		return append(dst, "{}"...)
	}
	dst = append(dst, `{"revision":`...)
	dst = strconv.AppendInt(dst, u.Revision, 10)
	if u.Full != nil {
		dst = append(dst, `,"fullUpdate":`...)
		dst = append(dst, u.Full...)
		return append(dst, '}')
	}
	dst = append(dst, `,"deltaList":[`...)
	dst = appendDeltas(dst, u.Deltas, true)
	return append(dst, "]}"...)
}

// appendDeltas appends deltas separated by commas; first tells whether
// nothing precedes them in the list.
func appendDeltas(dst []byte, deltas []json.RawMessage, first bool) []byte {
	for _, d := range deltas {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, d...)
	}
	return dst
}

// appendFrames composes in dst the WebSocket frames that carry batch, a
// run of updates in stream order, and hands each to flush. A full update
// replaces everything before it, and the changes after it go as one frame
// with the last revision, since a client applies them in order. It returns
// dst, grown, for reuse.
func appendFrames(dst []byte, batch []*actors.Update, flush func([]byte) error) ([]byte, error) {
	start := 0
	for i, u := range batch {
		if u != nil && u.Full != nil {
			start = i
		}
	}
	if u := batch[start]; u != nil && u.Full != nil {
		dst = appendUpdate(dst[:0], u)
		if err := flush(dst); err != nil {
			return dst, err
		}
		start++
	}
	var rev int64
	n := 0
	for _, u := range batch[start:] {
		if u != nil && len(u.Deltas) > 0 {
			rev = u.Revision
			n += len(u.Deltas)
		}
	}
	if n == 0 {
		return dst, nil
	}
	dst = append(dst[:0], `{"revision":`...)
	dst = strconv.AppendInt(dst, rev, 10)
	dst = append(dst, `,"deltaList":[`...)
	first := true
	for _, u := range batch[start:] {
		if u != nil && len(u.Deltas) > 0 {
			dst = appendDeltas(dst, u.Deltas, first)
			first = false
		}
	}
	dst = append(dst, "]}"...)
	return dst, flush(dst)
}

// appendLogin appends {"authToken":"...","operator":{...}}.
func appendLogin(dst []byte, r *actors.LoginResult) []byte {
	if r == nil {
		r = &actors.LoginResult{}
	}
	dst = append(dst, `{"authToken":`...)
	dst = jsonstr.Append(dst, r.Token)
	dst = append(dst, `,"operator":`...)
	dst = appendRaw(dst, r.Operator)
	return append(dst, '}')
}

// appendWebimHistory appends a Webim visitor history answer:
// {"result":"ok","data":{"messages":[...],"hasMore":B}} with "revision"
// when it is not "" (the since form). Webim lists messages oldest first;
// hasMore tells that older pages exist.
func appendWebimHistory(dst []byte, p *actors.HistoryPage, revision string) []byte {
	if p == nil {
		p = &actors.HistoryPage{}
	}
	dst = append(dst, `{"result":"ok","data":{"messages":[`...)
	for i := len(p.Messages) - 1; i >= 0; i-- {
		dst = append(dst, p.Messages[i]...)
		if i > 0 {
			dst = append(dst, ',')
		}
	}
	dst = append(dst, `],"hasMore":`...)
	dst = strconv.AppendBool(dst, p.Next != "")
	if revision != "" {
		dst = append(dst, `,"revision":`...)
		dst = jsonstr.Append(dst, revision)
	}
	return append(dst, "}}"...)
}

// appendHistory appends our history answer: {"messages":[...],"next":"..."},
// newest first, next "" on the last page.
func appendHistory(dst []byte, p *actors.HistoryPage) []byte {
	if p == nil {
		p = &actors.HistoryPage{}
	}
	dst = append(dst, `{"messages":[`...)
	dst = appendDeltas(dst, p.Messages, true)
	dst = append(dst, `],"next":`...)
	dst = jsonstr.Append(dst, p.Next)
	return append(dst, '}')
}

// appendError appends {"error":"<code>"} with the message, and for a bad
// parameter Webim's "argumentName", when they are known.
func appendError(dst []byte, code, message, argument string) []byte {
	dst = append(dst, `{"error":`...)
	dst = jsonstr.Append(dst, code)
	if message != "" {
		dst = append(dst, `,"message":`...)
		dst = jsonstr.Append(dst, message)
	}
	if argument != "" {
		dst = append(dst, `,"argumentName":`...)
		dst = jsonstr.Append(dst, argument)
	}
	return append(dst, '}')
}

// errorParts returns the code, the message for people and the bad
// parameter of err; an internal error has neither message nor parameter.
func errorParts(err error) (code, message, argument string) {
	code = chatnode.ErrorCode(err)
	if code == chatnode.EInternal {
		return code, "", ""
	}
	var e *chatnode.Error
	if errors.As(err, &e) {
		return code, e.Message, argumentOf(e)
	}
	return code, "", ""
}

// appendRaw appends raw JSON, or null when there is none.
func appendRaw(dst []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}
