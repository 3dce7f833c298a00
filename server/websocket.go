package server

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/actors"
)

// Which side a socket serves.
const (
	sideVisitor = iota
	sideOperator
)

// maxSpareQueue is the largest emptied queue a socket keeps for reuse; a
// queue grown by a burst past it is left to the collector.
const maxSpareQueue = 64

// Socket timings.
const (
	attachGrace = 15 * time.Second // from a subscription to the upgraded connection
	closeGrace  = time.Second      // for the client to answer our close frame
)

// wsConn is one subscriber WebSocket and the Sink its stream pushes to.
//
// An idle socket holds one goroutine (the reader, blocked in a read) and a
// timer for pings. Push queues an update and, unless a writer is running,
// hands the socket to the server's writer pool, whose goroutine drains the
// queue and goes back to the pool; so does the ping timer. Writes are
// therefore never concurrent, and a socket costs no writer goroutine or
// write buffer while nothing is sent.
type wsConn struct {
	s     *Server
	side  int
	limit int // queued updates allowed

	mu       sync.Mutex
	conn     *websocket.Conn // nil until the upgrade completes
	queue    []*actors.Update
	spare    []*actors.Update // an emptied queue kept for the next updates
	writing  bool             // a writer goroutine is draining the queue
	ping     bool             // a ping is due
	overflow bool             // the queue overflowed: the socket is being closed
	closed   bool
	cancel   func()      // ends the subscription
	timer    *time.Timer // before attach: the attach deadline; after: pings

	// The close frame owed by a socket ended before its upgrade completed.
	pendingCode   int
	pendingReason string
}

// Push queues u for the socket. It never blocks; it returns false once the
// socket is closed or its queue is full, and the socket is then closed with
// 4008 slow-consumer.
func (c *wsConn) Push(u *actors.Update) bool {
	c.mu.Lock()
	if c.closed || c.overflow {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.limit {
		c.overflow = true
		c.queue, c.spare = nil, nil
		c.mu.Unlock()
		c.s.slowConsumers.Add(1)
		go c.finish(CloseSlowConsumer, reasonSlowConsumer)
		return false
	}
	if u != nil {
		c.queue = append(c.queue, u)
		c.kickLocked()
	}
	c.mu.Unlock()
	return true
}

// kickLocked starts a writer unless one runs or there is no connection yet.
func (c *wsConn) kickLocked() {
	if c.conn != nil && !c.writing && !c.closed {
		c.writing = true
		c.s.writers.Go(c.drain)
	}
}

// drain writes the queued updates and due pings until there are none.
//
// The queue it takes is handed back empty as the next queue, so that a
// socket with a steady flow of updates queues them without allocating.
func (c *wsConn) drain() {
	var written []*actors.Update
	for {
		c.mu.Lock()
		if written != nil && c.spare == nil && cap(written) <= maxSpareQueue {
			clear(written)
			c.spare = written[:0]
		}
		batch, ping := c.queue, c.ping
		if c.closed || len(batch) == 0 && !ping {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.queue, c.spare, c.ping = c.spare, nil, false
		written = batch
		conn := c.conn
		c.mu.Unlock()

		deadline := time.Now().Add(writeTimeout)
		var err error
		if ping {
			err = conn.WriteControl(websocket.PingMessage, nil, deadline)
		}
		if err == nil && len(batch) > 0 {
			_ = conn.SetWriteDeadline(deadline)
			buf := getBuf()
			*buf, err = appendFrames(*buf, batch, func(frame []byte) error {
				return conn.WriteMessage(websocket.TextMessage, frame)
			})
			putBuf(buf)
		}
		if err != nil {
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			c.finish(0, "")
			return
		}
	}
}

// pingTick marks a ping due and rearms the timer.
func (c *wsConn) pingTick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.ping = true
	c.kickLocked()
	c.timer.Reset(c.s.opts.WSPingInterval)
}

// abandon ends a subscription whose connection never arrived.
func (c *wsConn) abandon() {
	c.mu.Lock()
	if c.conn != nil || c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// attach takes the upgraded connection, starts pings and the reader, and
// sends what was queued meanwhile.
func (c *wsConn) attach(conn *websocket.Conn) {
	c.mu.Lock()
	if c.closed {
		code, reason := c.pendingCode, c.pendingReason
		c.mu.Unlock()
		if code != 0 {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(writeTimeout))
		}
		_ = conn.Close()
		return
	}
	if !c.s.register(c) {
		c.mu.Unlock()
		// The subscription ends before the client hears of it: a client
		// that sees the close frame finds the stream gone.
		c.abandon()
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, reasonGoingAway), time.Now().Add(closeGrace))
		_ = conn.Close()
		return
	}
	c.conn = conn
	c.timer.Stop()
	c.timer = time.AfterFunc(c.s.opts.WSPingInterval, c.pingTick)
	c.counter().Add(1)
	c.kickLocked()
	c.mu.Unlock()
	go c.read(conn)
}

func (c *wsConn) counter() interface{ Add(int64) int64 } {
	if c.side == sideVisitor {
		return &c.s.wsVisitor
	}
	return &c.s.wsOperator
}

// read is the socket's reader: it answers pings, takes pongs as signs of
// life, drops data frames (the streams take no input) and ends the socket
// when the client goes quiet for two ping intervals.
func (c *wsConn) read(conn *websocket.Conn) {
	quiet := 2 * c.s.opts.WSPingInterval
	limit := int64(c.s.opts.MaxBodyBytes)
	alive := func(string) error {
		if c.isClosed() {
			return nil // keep the close deadline
		}
		return conn.SetReadDeadline(time.Now().Add(quiet))
	}
	_ = alive("")
	conn.SetPongHandler(alive)
	conn.SetPingHandler(func(data string) error {
		_ = alive("")
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			break
		}
		_ = alive("")
		n, err := io.CopyN(io.Discard, r, limit+1)
		if n > limit {
			c.finish(4000+fasthttp.StatusRequestEntityTooLarge, chatnode.ETooLarge)
			continue // until the client answers the close or the grace ends
		}
		if err != nil && err != io.EOF {
			break
		}
	}
	c.finish(0, "")
	_ = conn.Close()
}

// finish ends the socket once: it ends the subscription and, when code is
// not 0, sends a close frame with code and reason and gives the client
// closeGrace to answer it before the reader drops the connection. It may
// block for a write's time; Push and End run it on a goroutine of its own.
func (c *wsConn) finish(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue, c.spare = nil, nil
	conn, cancel, timer := c.conn, c.cancel, c.timer
	if conn == nil {
		c.pendingCode, c.pendingReason = code, reason
	}
	c.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	if cancel != nil {
		cancel()
	}
	if conn == nil {
		return
	}
	c.counter().Add(-1)
	c.s.unregister(c)
	if code == 0 {
		_ = conn.Close()
		return
	}
	// The close frame waits behind a frame being written, for as long as
	// any write may take.
	msg := websocket.FormatCloseMessage(code, reason)
	if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout)); err != nil {
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(closeGrace))
}

// serveSocket subscribes a new socket with subscribe, and only when that
// succeeds upgrades the connection; a refused subscription is a plain HTTP
// error. Updates pushed before the upgrade completes wait in the queue.
func (s *Server) serveSocket(ctx *fasthttp.RequestCtx, side int, subscribe func(*wsConn) (func(), error)) {
	req, err := handshake(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if s.ctx.Err() != nil {
		s.writeError(ctx, errStopping)
		return
	}
	if s.wsVisitor.Load()+s.wsOperator.Load() >= int64(s.opts.MaxConns) {
		s.writeError(ctx, errTooManyConn)
		return
	}
	c := &wsConn{s: s, side: side, limit: s.opts.WSSendQueue}
	c.mu.Lock() // Push waits until the subscription is recorded
	c.timer = time.AfterFunc(attachGrace, c.abandon)
	c.mu.Unlock()
	cancel, err := subscribe(c)
	if err != nil {
		c.timer.Stop()
		if chatnode.ErrorCode(err) == chatnode.EReinitRequired {
			// A handshake cannot succeed with 200: the page is no longer
			// valid, which is what 401 says.
			s.writeErrorStatus(ctx, fasthttp.StatusUnauthorized, err)
			return
		}
		s.writeError(ctx, err)
		return
	}
	c.mu.Lock()
	c.cancel = cancel
	closed := c.closed
	c.mu.Unlock()
	if closed { // the stream refused a push already
		cancel()
		s.writeError(ctx, &chatnode.Error{Code: chatnode.EUnavailable, Message: "subscription ended"})
		return
	}
	// The connection is taken over bare: fasthttp's 8 KiB request reader
	// is left behind (a client sends nothing before our 101), and the
	// request's context is released as soon as the reader goroutine runs.
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(hc net.Conn) {
		raw := hc
		if u, ok := hc.(interface{ UnsafeConn() net.Conn }); ok {
			raw = u.UnsafeConn()
		}
		conn, err := s.upgrader.Upgrade(&bareConn{conn: raw}, req, nil)
		if err != nil {
			_ = raw.Close()
			c.abandon()
			return
		}
		c.attach(conn)
	})
}

// handshake checks a WebSocket handshake and returns the request the
// upgrader needs, so that the upgrade itself cannot fail on the client's
// account.
func handshake(ctx *fasthttp.RequestCtx) (*http.Request, error) {
	if !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
		return nil, argError("upgrade", "a WebSocket handshake is expected")
	}
	h := &ctx.Request.Header
	if string(h.Peek("Sec-WebSocket-Version")) != "13" {
		return nil, argError("upgrade", "Sec-WebSocket-Version must be 13")
	}
	key := h.Peek("Sec-WebSocket-Key")
	if n, err := base64.StdEncoding.Decode(make([]byte, 24), key); err != nil || n != 16 {
		return nil, argError("upgrade", "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return &http.Request{
		Method: http.MethodGet,
		Header: http.Header{
			"Connection":            {"Upgrade"},
			"Upgrade":               {"websocket"},
			"Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key":     {string(key)},
		},
	}, nil
}

// bareConn is the http.ResponseWriter the upgrader writes the 101 answer
// through: it hands over the bare connection, with no buffers of its own.
type bareConn struct {
	conn   net.Conn
	header http.Header
}

func (b *bareConn) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}

func (b *bareConn) Write(p []byte) (int, error) { return len(p), nil } // only error pages, which handshake rules out
func (b *bareConn) WriteHeader(int)             {}

func (b *bareConn) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return b.conn, bufio.NewReadWriter(bufio.NewReaderSize(b.conn, 16), bufio.NewWriterSize(b.conn, 16)), nil
}

// End closes the socket because its stream ended with err: with the close
// code of err's error code (4001 for reinit-required, 4401 for
// wrong-auth-token, ...) and the code as the reason. It never blocks.
func (c *wsConn) End(err error) {
	code := chatnode.ErrorCode(err)
	if code == "" {
		code = chatnode.EUnavailable
	}
	spec, _ := specOf(code)
	go c.finish(spec.Close, code)
}

// isClosed reports whether the socket is being closed.
func (c *wsConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
