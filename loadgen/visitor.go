package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// visitor is one visitor client: it opens a visit session, reads its delta
// stream (WebSocket or long poll), starts a chat and, once an operator
// holds it, is given messages to send by the scheduler.
type visitor struct {
	r   *runner
	idx int
	ep  *endpoint

	pageID, authToken string
	sendPrefix        []byte // the chat.message form up to the client-side id

	startedAt atomic.Int64 // chat.start sent, ns since the run's epoch
	operator  atomic.Int64 // the chat's operator id, 0 while none
	ready     atomic.Bool  // chatting: the scheduler may use it
	wasReady  bool         // reader only
	foreign   bool         // reader only: the chat went to someone else

	// The reader's view of the chat.
	rev    int64
	chatID string
	state  string

	mu     sync.Mutex
	conn   *websocket.Conn
	stream *wsStream // the socket, when the run's wsLoop reads it
}

// setup inits the session, opens its stream and starts a chat. The
// visitor becomes ready when its stream shows the chat chatting.
func (v *visitor) setup(ctx context.Context) error {
	q := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(q)
	q.Set("event", "init")
	q.Set("since", "0")
	q.Set("device-id", v.r.o.RunID+"-"+strconv.Itoa(v.idx))
	q.Set("platform", "chatload")
	q.Set("location", "load")
	q.Set("title", "chatload")
	a, err := v.r.retry(ctx, "init", func() (answer, error) {
		return v.ep.get(v.ep.api, "/l/v/m/init", q, v.ep.timeout)
	})
	if err != nil {
		return err
	}
	var f frame
	var full visitorFull
	if json.Unmarshal(a.body, &f) != nil || json.Unmarshal(f.FullUpdate, &full) != nil || full.PageID == "" {
		return v.r.fail("init", "bad-answer")
	}
	v.mu.Lock()
	v.pageID, v.authToken, v.rev = full.PageID, full.AuthToken, rawInt(f.Revision)
	v.mu.Unlock()
	v.sendPrefix = []byte("page-id=" + url.QueryEscape(v.pageID) + "&auth-token=" + url.QueryEscape(v.authToken) +
		"&action=chat.message&message=" + url.QueryEscape(v.r.text) + "&client-side-id=")

	if v.r.o.VisitorTransport == TransportWS {
		if err := v.connect(ctx); err != nil {
			return err
		}
		if v.r.loopFor(v.ep) == nil {
			go v.readWS()
		}
	} else {
		go v.poll()
	}

	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	v.auth(args)
	args.Set("action", "chat.start")
	args.Set("client-side-id", v.r.o.RunID+"-start-"+strconv.Itoa(v.idx))
	if v.r.o.Department != "" {
		args.Set("department-key", v.r.o.Department)
	}
	v.startedAt.Store(int64(time.Since(v.r.epoch)))
	_, err = v.r.retry(ctx, "chat.start", func() (answer, error) { return v.ep.postArgs("/l/v/m/action", args) })
	return err
}

func (v *visitor) auth(args *fasthttp.Args) {
	args.Set("page-id", v.pageID)
	args.Set("auth-token", v.authToken)
}

// connect opens the visitor's WebSocket from the last revision.
func (v *visitor) connect(ctx context.Context) error {
	q := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(q)
	v.auth(q)
	q.Set("since", strconv.FormatInt(v.rev, 10))
	if l := v.r.loopFor(v.ep); l != nil {
		conn, leftover, err := v.r.dialLoopWS(ctx, "visitor-ws", v.ep, "/ws/v/delta", q)
		if err != nil {
			return err
		}
		s, err := l.add(conn, leftover, v.handle, v.wsEnded)
		if err != nil {
			return v.r.fail("visitor-ws", netReason(err))
		}
		v.mu.Lock()
		v.stream = s
		v.mu.Unlock()
		return nil
	}
	conn, err := v.r.dialWS(ctx, "visitor-ws", v.ep, "/ws/v/delta", q)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.conn = conn
	v.mu.Unlock()
	return nil
}

// wsEnded is the end of a socket the run's wsLoop read: the visitor
// connects again from its last revision.
func (v *visitor) wsEnded(reason string) { v.r.socketEnded("visitor-ws", reason, v.reconnect) }

// readWS reads the visitor's frames until the run stops, reconnecting when
// the socket ends early.
func (v *visitor) readWS() {
	var buf []byte
	for {
		v.mu.Lock()
		conn := v.conn
		v.mu.Unlock()
		data, err := readFrame(conn, &buf)
		now := time.Now()
		if err == nil {
			v.handle(data, now)
			continue
		}
		conn.Close()
		if v.r.stopping.Load() {
			return
		}
		v.r.fail("visitor-ws", wsReason(err))
		if !v.reconnect() {
			return
		}
	}
}

func (v *visitor) reconnect() bool {
	for wait := 100 * time.Millisecond; !v.r.stopping.Load(); wait = min(2*wait, 2*time.Second) {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), v.r.o.RequestTimeout)
		err := v.connect(ctx)
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// poll long-polls the visitor's deltas until the run stops.
func (v *visitor) poll() {
	q := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(q)
	wait := 100 * time.Millisecond
	for !v.r.stopping.Load() {
		q.Reset()
		v.auth(q)
		q.Set("since", strconv.FormatInt(v.rev, 10))
		q.Set("ts", strconv.FormatInt(time.Now().UnixMilli(), 10))
		a, err := v.ep.get(v.ep.poll, "/l/v/m/delta", q, pollTimeout)
		now := time.Now()
		if v.r.stopping.Load() {
			return
		}
		switch {
		case err != nil:
			v.r.fail("visitor-poll", netReason(err))
		case a.status != fasthttp.StatusOK || errorCode(a.body) != "":
			v.r.fail("visitor-poll", a.reason())
			if errorCode(a.body) == "reinit-required" {
				return
			}
		default:
			v.handle(a.body, now)
			wait = 100 * time.Millisecond
			continue
		}
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// pollTimeout bounds one long poll; the node answers within its
// long_poll_timeout (25 s by default).
const pollTimeout = 70 * time.Second

// handle reads one frame or poll answer that arrived at now. Most frames
// carry only messages (the visitor's own, echoed, and answers); those are
// scanned, the rest decoded.
func (v *visitor) handle(data []byte, now time.Time) {
	if !changesChat(data) {
		rev := scanFrame(data, func(m scannedMessage) {
			if string(m.kind) != kindOperator {
				return
			}
			if seq, ok := v.r.replies.lookup(m.clientSideID); ok {
				v.r.replies.deliver(seq, now, int64(v.idx), m.depth > itemDataDepth)
			}
		})
		if rev > 0 {
			v.rev = rev
		}
		return
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		v.r.fail("visitor-stream", "bad-frame")
		return
	}
	if rev := rawInt(f.Revision); rev > 0 {
		v.rev = rev
	}
	if f.FullUpdate != nil {
		var full visitorFull
		if json.Unmarshal(f.FullUpdate, &full) == nil && full.Chat != nil {
			v.chat(full.Chat, now)
		}
	}
	for i := range f.DeltaList {
		d := &f.DeltaList[i]
		switch d.ObjectType {
		case objChat:
			var c wireChat
			if d.Event == "upd" && json.Unmarshal(d.Data, &c) == nil {
				v.chat(&c, now)
			}
		case objState:
			if v.chatID == "" {
				v.chatID = d.ID
			}
			if d.ID == v.chatID {
				var s string
				if json.Unmarshal(d.Data, &s) == nil {
					v.state = s
				}
			}
		case objOperator:
			if v.chatID == "" {
				v.chatID = d.ID
			}
			if d.ID == v.chatID {
				var op wireOperatorRef
				if json.Unmarshal(d.Data, &op) == nil {
					v.operator.Store(rawInt(op.ID))
				} else {
					v.operator.Store(0)
				}
			}
		case objMessage:
			var m wireMessage
			if d.Event == "add" && json.Unmarshal(d.Data, &m) == nil {
				v.message(&m, now, false)
			}
		}
	}
	v.settle(now)
}

// chat takes a chat snapshot.
func (v *visitor) chat(c *wireChat, now time.Time) {
	v.chatID, v.state = rawString(c.ID), c.State
	if c.Operator != nil {
		v.operator.Store(rawInt(c.Operator.ID))
	} else {
		v.operator.Store(0)
	}
	for i := range c.Messages {
		v.message(&c.Messages[i], now, true)
	}
}

// message matches an operator's answer.
func (v *visitor) message(m *wireMessage, now time.Time, snapshot bool) {
	if m.Kind != kindOperator {
		return
	}
	if seq, ok := v.r.replies.lookup([]byte(m.ClientSideID)); ok {
		v.r.replies.deliver(seq, now, int64(v.idx), snapshot)
	}
}

// changesChat reports whether a visitor frame may change what the visitor
// knows of its chat (state, operator) or is not a plain delta list.
func changesChat(data []byte) bool {
	for _, marker := range chatMarkers {
		if bytes.Contains(data, marker) {
			return true
		}
	}
	return false
}

var chatMarkers = [][]byte{[]byte(`"fullUpdate"`), []byte(`"CHAT"`), []byte(`"CHAT_STATE"`), []byte(`"CHAT_OPERATOR"`), []byte(`"error"`)}

// settle makes the visitor ready once its chat is chatting with an
// operator, and not ready when the chat ends.
func (v *visitor) settle(now time.Time) {
	op := v.operator.Load()
	chatting := v.state == stateChatting && op != 0
	if chatting && !v.r.ours[op] {
		// Another operator took the chat (one left online by someone
		// else): nothing the visitor sends would reach this run.
		if !v.foreign {
			v.foreign = true
			v.r.fail("visitor-chat", "assigned-to-an-operator-not-in-this-run")
		}
		chatting = false
	}
	switch {
	case chatting && !v.ready.Load():
		v.ready.Store(true)
		if !v.wasReady {
			v.wasReady = true
			v.r.assign.Record(time.Duration(int64(now.Sub(v.r.epoch)) - v.startedAt.Load()))
			v.r.becameReady(v)
		}
	case !chatting && v.ready.Load():
		v.ready.Store(false)
		if !v.r.stopping.Load() {
			v.r.fail("visitor-chat", "left-chatting-"+v.state)
		}
	}
}

// send sends one message and records its fate.
func (v *visitor) send() {
	start := time.Now()
	seq := v.r.msgs.issue(start, v.operator.Load(), v.idx)
	body := v.r.msgs.appendID(append(make([]byte, 0, len(v.sendPrefix)+32), v.sendPrefix...), seq)
	a, err := v.ep.post("/l/v/m/action", body)
	switch {
	case err != nil:
		v.r.msgs.failed(seq, netReason(err))
	case a.status == fasthttp.StatusOK && isOK(a.body):
		v.r.msgs.accepted(seq, time.Now())
	default:
		v.r.msgs.failed(seq, a.reason())
	}
}

// closeChat closes the visitor's chat, best effort.
func (v *visitor) closeChat() {
	v.mu.Lock()
	page, token := v.pageID, v.authToken
	v.mu.Unlock()
	if page == "" {
		return
	}
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	args.Set("page-id", page)
	args.Set("auth-token", token)
	args.Set("action", "chat.close")
	_, _ = v.ep.postArgs("/l/v/m/action", args)
}

// close ends the visitor's socket.
func (v *visitor) close() {
	v.mu.Lock()
	conn, s := v.conn, v.stream
	v.mu.Unlock()
	v.r.closeSocket(conn, s)
}
