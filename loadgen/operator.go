package loadgen

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// operator is one operator client: it logs in, holds the operator's
// WebSocket, matches the visitor messages that arrive on it and, when the
// run replies, answers each one.
type operator struct {
	r     *runner
	idx   int
	login string
	ep    *endpoint

	token  string
	id     int64
	online bool // set up in chat mode; written before visitors start

	mu     sync.Mutex
	conn   *websocket.Conn
	stream *wsStream // the socket, when the run's wsLoop reads it
	rev    int64     // the last revision read; only the reader touches it

	// Frames of this run's visitor messages read on the socket, duplicates
	// included: what "delivered" may never exceed.
	received atomic.Uint64
}

// setup logs in, opens the WebSocket, goes online and starts the reader.
func (o *operator) setup(ctx context.Context) error {
	if err := o.login1(ctx); err != nil {
		return err
	}
	if err := o.connect(ctx, 0); err != nil {
		return err
	}
	if o.r.loopFor(o.ep) == nil {
		go o.read()
	}
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	args.Set("auth-token", o.token)
	args.Set("status", "online")
	_, err := o.r.retry(ctx, "set-status", func() (answer, error) { return o.ep.postArgs("/l/o/set-status", args) })
	return err
}

// connect opens the operator's WebSocket from revision since and reads its
// first frame.
func (o *operator) connect(ctx context.Context, since int64) error {
	q := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(q)
	q.Set("auth-token", o.token)
	q.Set("since", strconv.FormatInt(since, 10))
	if l := o.r.loopFor(o.ep); l != nil {
		return o.connectLoop(ctx, l, q)
	}
	conn, err := o.r.dialWS(ctx, "operator-ws", o.ep, "/ws/o/delta", q)
	if err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(o.r.o.RequestTimeout))
	_, data, err := conn.ReadMessage()
	now := time.Now()
	if err != nil {
		conn.Close()
		return o.r.fail("operator-ws", wsReason(err))
	}
	_ = conn.SetReadDeadline(time.Time{})
	o.mu.Lock()
	o.conn = conn
	o.mu.Unlock()
	o.handle(data, now)
	return nil
}

// connectLoop is connect for a socket the run's wsLoop reads: it waits
// for the socket's first frame before it returns.
func (o *operator) connectLoop(ctx context.Context, l *wsLoop, q *fasthttp.Args) error {
	conn, leftover, err := o.r.dialLoopWS(ctx, "operator-ws", o.ep, "/ws/o/delta", q)
	if err != nil {
		return err
	}
	// The first frame, an early end and the timeout race: whichever
	// settles the connection first decides it, under mu.
	const (
		waiting = iota
		connected
		abandoned
	)
	var mu sync.Mutex
	state := waiting
	settle := func(to int) (was int) {
		mu.Lock()
		defer mu.Unlock()
		was = state
		if state == waiting {
			state = to
		}
		return was
	}
	first := make(chan struct{})
	early := make(chan string, 1)
	got := false // frames of one socket come one at a time, in order
	s, err := l.add(conn, leftover, func(data []byte, now time.Time) {
		o.handle(data, now)
		if !got {
			got = true
			if settle(connected) == waiting {
				close(first)
			}
		}
	}, func(reason string) {
		// The loop calls this after the socket's last frame was handled.
		switch settle(abandoned) {
		case connected:
			o.wsEnded(reason)
		case waiting:
			early <- reason
		}
	})
	if err != nil {
		return o.r.fail("operator-ws", netReason(err))
	}
	timeout := time.NewTimer(o.r.o.RequestTimeout)
	defer timeout.Stop()
	select {
	case <-first:
	case reason := <-early:
		return o.r.fail("operator-ws", reason)
	case <-timeout.C:
		if settle(abandoned) != connected {
			l.remove(s)
			return o.r.fail("operator-ws", "timeout")
		}
	}
	o.mu.Lock()
	o.stream = s
	o.mu.Unlock()
	return nil
}

// wsEnded is the end of a socket the run's wsLoop read: the operator
// connects again from the last revision.
func (o *operator) wsEnded(reason string) { o.r.socketEnded("operator-ws", reason, o.reconnect) }

// read reads frames until the run stops, reconnecting from the last
// revision when the socket ends early.
func (o *operator) read() {
	var buf []byte
	for {
		o.mu.Lock()
		conn := o.conn
		o.mu.Unlock()
		data, err := readFrame(conn, &buf)
		now := time.Now()
		if err == nil {
			o.handle(data, now)
			continue
		}
		conn.Close()
		if o.r.stopping.Load() {
			return
		}
		o.r.fail("operator-ws", wsReason(err))
		if !o.reconnect() {
			return
		}
	}
}

// reconnect opens the socket again from the last revision, trying until
// the run stops.
func (o *operator) reconnect() bool {
	for wait := 100 * time.Millisecond; !o.r.stopping.Load(); wait = min(2*wait, 2*time.Second) {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), o.r.o.RequestTimeout)
		err := o.connect(ctx, o.rev)
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// handle reads one frame that arrived at now: it matches the visitor
// messages it carries, as message add frames or inside chat snapshots.
func (o *operator) handle(data []byte, now time.Time) {
	rev := scanFrame(data, func(m scannedMessage) {
		if string(m.kind) != kindVisitor {
			return
		}
		seq, ok := o.r.msgs.lookup(m.clientSideID)
		if !ok {
			return
		}
		snapshot := m.depth > itemDataDepth
		if !snapshot {
			o.received.Add(1)
		}
		if o.r.msgs.deliver(seq, now, o.id, snapshot) == matchFirst && o.r.o.Reply {
			o.r.queueReply(replyJob{op: o, chatID: string(m.chatID), visitor: o.r.msgs.sender(seq)})
		}
	})
	if rev > 0 {
		o.rev = rev
	}
}

// goOffline sets the operator offline, best effort.
func (o *operator) goOffline() {
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	args.Set("auth-token", o.token)
	args.Set("status", "offline")
	_, _ = o.ep.postArgs("/l/o/set-status", args)
}

// close ends the socket.
func (o *operator) close() {
	o.mu.Lock()
	conn, s := o.conn, o.stream
	o.mu.Unlock()
	o.r.closeSocket(conn, s)
}

// replyJob is an operator's answer to a visitor message.
type replyJob struct {
	op      *operator
	chatID  string
	visitor int
}

// sendReply posts the answer; its delivery is matched on the visitor's
// stream.
func (r *runner) sendReply(j replyJob) {
	seq := r.replies.issue(time.Now(), int64(j.visitor), j.visitor)
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	args.Set("auth-token", j.op.token)
	args.Set("action", "chat.message")
	args.Set("chat-id", j.chatID)
	args.Set("message", r.text)
	args.SetBytesV("client-side-id", r.replies.appendID(nil, seq))
	a, err := j.op.ep.postArgs("/l/o/action", args)
	switch {
	case err != nil:
		r.replies.failed(seq, netReason(err))
	case a.status == fasthttp.StatusOK && isOK(a.body):
		r.replies.accepted(seq, time.Now())
	default:
		r.replies.failed(seq, a.reason())
	}
}

// wsReason names why a WebSocket ended.
func wsReason(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Text != "" && len(ce.Text) <= 40 {
			return "closed-" + strconv.Itoa(ce.Code) + "-" + ce.Text
		}
		return "closed-" + strconv.Itoa(ce.Code)
	}
	return netReason(err)
}
