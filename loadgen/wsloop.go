package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// wsLoop reads the run's plain (ws://) WebSockets on one goroutine.
//
// A goroutine per socket reads a frame, then reads again to find nothing
// and parks until the next frame: two read calls and a wake-up for every
// frame, and every message brings two frames (the operator's and the
// visitor's echo). The load generator shares the machine with the node it
// measures, so what it spends that way is taken from the node. Here the
// sockets are registered, level-triggered, with an epoll instance of the
// loop's own, and that instance with Go's poller: one wake-up serves every
// socket that has data, each gets one read, and the loop parks again once
// none has any.
//
// Frames are parsed here (the server's frames are never masked) and handed
// whole to the socket's frame function, on the loop's goroutine, in the
// order they arrived; pings are answered. A socket that ends, or breaks the
// protocol, is closed and its end function is called with the reason, on a
// goroutine of its own.
type wsLoop struct {
	epfd int
	file *os.File // epfd, registered with Go's poller
	raw  syscall.RawConn
	done chan struct{} // closed when the loop's goroutine returns

	mu      sync.Mutex
	streams map[int]*wsStream // by descriptor
	closed  bool
	buf     []byte // the loop's read buffer
}

// wsStream is one socket of the loop.
type wsStream struct {
	fd      int
	pending []byte // bytes read that do not make a whole frame yet
	msg     []byte // a fragmented message so far
	inMsg   bool   // msg holds the start of a message
	frame   func(data []byte, now time.Time)
	end     func(reason string)
	ended   bool
}

// Frame limits.
const (
	wsLoopReadSize = 64 << 10
	wsMaxMessage   = 64 << 20 // a message larger than this ends the socket
)

// newWSLoop starts a loop.
func newWSLoop() (*wsLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	// A non-blocking descriptor given to os.NewFile is registered with
	// the runtime's poller, which reports the epoll instance readable
	// when any of its sockets has data.
	f := os.NewFile(uintptr(epfd), "chatload-epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	l := &wsLoop{epfd: epfd, file: f, raw: raw, done: make(chan struct{}),
		streams: make(map[int]*wsStream), buf: make([]byte, wsLoopReadSize)}
	go l.run()
	return l, nil
}

// run serves the sockets until close.
func (l *wsLoop) run() {
	defer close(l.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		err := l.raw.Read(func(uintptr) bool {
			// Serve until no socket has data: the instance's readiness
			// is an edge to the runtime, so the loop may park only after
			// finding it empty.
			for {
				n, err := syscall.EpollWait(l.epfd, events, 0)
				if err == syscall.EINTR {
					continue
				}
				if err != nil || n == 0 {
					l.mu.Lock()
					closed := l.closed
					l.mu.Unlock()
					return closed || err != nil
				}
				l.mu.Lock()
				for i := range events[:n] {
					if s := l.streams[int(events[i].Fd)]; s != nil {
						l.readLocked(s)
					}
				}
				closed := l.closed
				l.mu.Unlock()
				if closed {
					return true
				}
			}
		})
		l.mu.Lock()
		closed := l.closed
		if err != nil && !closed {
			// The poller failed: nothing more would be read, so end
			// every socket now rather than leave them silent.
			l.closed = true
			for _, s := range l.streams {
				l.endLocked(s, netReason(err))
			}
		}
		l.mu.Unlock()
		if err != nil || closed {
			return
		}
	}
}

// readLocked reads what one socket has and hands on its whole frames,
// timed at the read.
func (l *wsLoop) readLocked(s *wsStream) {
	n, err := syscall.Read(s.fd, l.buf)
	now := time.Now()
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return
	case err != nil:
		l.endLocked(s, netReason(err))
		return
	case n == 0:
		l.endLocked(s, "connection-closed")
		return
	}
	data := l.buf[:n]
	if len(s.pending) > 0 {
		s.pending = append(s.pending, data...)
		data = s.pending
	}
	rest, reason := s.parse(data, now)
	if reason != "" {
		l.endLocked(s, reason)
		return
	}
	// Keep what is left of a frame; the read buffer is the loop's.
	s.pending = append(s.pending[:0], rest...)
	if cap(s.pending) > wsLoopReadSize && len(s.pending) < wsLoopReadSize/4 {
		s.pending = append([]byte(nil), s.pending...)
	}
}

// parse hands on the whole frames at the start of b and returns the rest,
// or the reason the socket must end.
func (s *wsStream) parse(b []byte, now time.Time) (rest []byte, reason string) {
	for {
		if len(b) < 2 {
			return b, ""
		}
		fin, rsv, op := b[0]&0x80 != 0, b[0]&0x70, b[0]&0x0f
		if rsv != 0 || b[1]&0x80 != 0 {
			return nil, "bad-frame" // no extension was agreed; servers do not mask
		}
		size, h := uint64(b[1]&0x7f), 2
		switch size {
		case 126:
			if len(b) < 4 {
				return b, ""
			}
			size, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return b, ""
			}
			size, h = binary.BigEndian.Uint64(b[2:]), 10
		}
		if size > wsMaxMessage {
			return nil, "frame-too-large"
		}
		if uint64(len(b)-h) < size {
			return b, ""
		}
		payload := b[h : h+int(size)]
		b = b[h+int(size):]
		switch op {
		case 0x0: // continuation
			if !s.inMsg {
				return nil, "bad-frame"
			}
			if len(s.msg)+len(payload) > wsMaxMessage {
				return nil, "frame-too-large"
			}
			s.msg = append(s.msg, payload...)
			if fin {
				s.frame(s.msg, now)
				s.msg, s.inMsg = s.msg[:0], false
			}
		case 0x1, 0x2: // text, binary
			if s.inMsg {
				return nil, "bad-frame"
			}
			if fin {
				s.frame(payload, now)
			} else {
				s.msg, s.inMsg = append(s.msg[:0], payload...), true
			}
		case 0x8: // close
			// Answer with the same code, as a client does, if there is room.
			writeControl(s.fd, maskedFrame(0x8, payload[:min(2, len(payload))]))
			return nil, closeReason(payload)
		case 0x9: // ping
			if !fin || len(payload) > 125 {
				return nil, "bad-frame"
			}
			if reason := writeControl(s.fd, maskedFrame(0xA, payload)); reason != "" {
				return nil, reason
			}
		case 0xA: // pong
		default:
			return nil, "bad-frame"
		}
	}
}

// closeReason names a close frame as wsReason names a CloseError.
func closeReason(payload []byte) string {
	if len(payload) < 2 {
		return "closed-1005"
	}
	code := strconv.Itoa(int(binary.BigEndian.Uint16(payload)))
	if text := payload[2:]; len(text) > 0 && len(text) <= 40 {
		return "closed-" + code + "-" + string(text)
	}
	return "closed-" + code
}

// maskedFrame returns a client frame: FIN, op and payload (at most 125
// bytes) under a random mask.
func maskedFrame(op byte, payload []byte) []byte {
	f := make([]byte, 6+len(payload))
	f[0], f[1] = 0x80|op, 0x80|byte(len(payload))
	binary.LittleEndian.PutUint32(f[2:6], rand.Uint32())
	for i, c := range payload {
		f[6+i] = c ^ f[2+i%4]
	}
	return f
}

// writeControl writes the control frame b to the non-blocking descriptor
// fd without waiting and returns why the socket must end, or "". With no
// room at all the frame is skipped (a peer that reads nothing misses no
// answer); with room for only part of it the stream would be broken.
func writeControl(fd int, b []byte) string {
	n, err := syscall.Write(fd, b)
	switch {
	case err == syscall.EAGAIN:
		return ""
	case err != nil:
		return netReason(err)
	case n < len(b):
		return "send-buffer-full"
	}
	return ""
}

// add takes over conn, a WebSocket whose handshake is done and of which
// leftover was read past the handshake, and serves it: frames go to frame,
// the socket's end to end. conn is closed; the loop keeps a duplicate of
// its descriptor.
func (l *wsLoop) add(conn net.Conn, leftover []byte, frame func([]byte, time.Time), end func(string)) (*wsStream, error) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		conn.Close()
		return nil, errStopped
	}
	fd, err := takeDescriptor(conn)
	if err != nil {
		return nil, err
	}
	s := &wsStream{fd: fd, frame: frame, end: end}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		syscall.Close(fd)
		return nil, errStopped
	}
	l.streams[fd] = s
	if len(leftover) > 0 {
		rest, reason := s.parse(leftover, time.Now())
		if reason != "" {
			l.endLocked(s, reason)
			return s, nil
		}
		s.pending = append(s.pending, rest...)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		delete(l.streams, fd)
		syscall.Close(fd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return s, nil
}

// takeDescriptor returns a duplicate of conn's socket descriptor, still
// non-blocking, and closes conn, so that Go's poller lets go of the socket
// and only the loop reads it.
func takeDescriptor(conn net.Conn) (int, error) {
	if t, ok := conn.(*trackedConn); ok {
		defer t.Close()
		conn = t.Conn
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		conn.Close()
		return -1, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		conn.Close()
		return -1, err
	}
	fd := -1
	cerr := raw.Control(func(s uintptr) {
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		fd, err = syscall.Dup(int(s))
		if err == nil {
			syscall.CloseOnExec(fd)
		}
	})
	conn.Close()
	if cerr != nil {
		return -1, cerr
	}
	if err != nil {
		return -1, os.NewSyscallError("dup", err)
	}
	return fd, nil
}

// remove ends s without calling its end function.
func (l *wsLoop) remove(s *wsStream) {
	if s == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.end = nil
	l.endLocked(s, "")
}

// endLocked closes s and reports reason to its end function.
func (l *wsLoop) endLocked(s *wsStream, reason string) {
	if s.ended {
		return
	}
	s.ended = true
	delete(l.streams, s.fd)
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
	syscall.Close(s.fd)
	if end := s.end; end != nil {
		go end(reason)
	}
}

// close ends every socket without calling end functions and stops the
// loop.
func (l *wsLoop) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	for _, s := range l.streams {
		s.end = nil
		l.endLocked(s, "")
	}
	l.mu.Unlock()
	l.file.Close() // wakes the loop if it is parked
	<-l.done
}

// dialLoopWS opens a WebSocket as dialWS does and returns its connection
// with the bytes read past the handshake, for wsLoop.add.
func (e *endpoint) dialLoopWS(ctx context.Context, path string, q []byte) (net.Conn, []byte, answer, error) {
	d := *e.ws
	var rc *recordingConn
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := e.ws.NetDialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		rc = &recordingConn{Conn: c}
		return rc, nil
	}
	conn, a, err := dialWith(ctx, &d, e.wsBase+path+"?"+string(q))
	if err != nil {
		return nil, nil, a, err
	}
	// The handshake's answer has no body: whatever followed its blank
	// line is the start of the stream.
	end := bytes.Index(rc.read, []byte("\r\n\r\n"))
	if end < 0 {
		conn.Close()
		return nil, nil, answer{}, errors.New("websocket handshake not found in what was read")
	}
	return rc.Conn, rc.read[end+4:], a, nil
}

// recordingConn keeps what is read from it: the dialer's own reader may
// read past the handshake.
type recordingConn struct {
	net.Conn
	read []byte
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read = append(c.read, p[:n]...)
	return n, err
}
