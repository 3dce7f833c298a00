package loadgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverFrame is a frame as a server sends it: unmasked.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var h []byte
	switch n := len(payload); {
	case n < 126:
		h = []byte{b0, byte(n)}
	case n <= 0xffff:
		h = []byte{b0, 126, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h = make([]byte, 10)
		h[0], h[1] = b0, 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	return append(h, payload...)
}

// collect gathers a stream's messages and its end.
type collect struct {
	mu    sync.Mutex
	msgs  []string
	ended chan string
}

func newCollect() *collect { return &collect{ended: make(chan string, 1)} }

func (c *collect) frame(data []byte, _ time.Time) {
	c.mu.Lock()
	c.msgs = append(c.msgs, string(data))
	c.mu.Unlock()
}

func (c *collect) end(reason string) { c.ended <- reason }

// waitEnd waits for the stream's end and checks its reason.
func (c *collect) waitEnd(t *testing.T, want string) {
	t.Helper()
	select {
	case reason := <-c.ended:
		if reason != want {
			t.Fatalf("end reason %q, want %q", reason, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the end (%s) was not reported", want)
	}
}

func (c *collect) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

func TestWSParseWholeAndSplitFrames(t *testing.T) {
	big := strings.Repeat("b", 70_000)
	mid := strings.Repeat("m", 300)
	var stream []byte
	stream = append(stream, serverFrame(true, 0x1, []byte(`{"revision":1}`))...)
	stream = append(stream, serverFrame(true, 0xA, nil)...) // a pong is skipped
	stream = append(stream, serverFrame(true, 0x1, []byte(mid))...)
	stream = append(stream, serverFrame(false, 0x1, []byte("frag-"))...)
	stream = append(stream, serverFrame(false, 0x0, []byte("ment-"))...)
	stream = append(stream, serverFrame(true, 0x0, []byte("ed"))...)
	stream = append(stream, serverFrame(true, 0x1, nil)...)
	want := []string{`{"revision":1}`, mid, "frag-ment-ed", ""}
	small := len(stream)
	stream = append(stream, serverFrame(true, 0x1, []byte(big))...)
	wantAll := append(append([]string(nil), want...), big)

	// However the bytes are cut into reads, the same messages come out.
	for _, step := range []int{len(stream), 1, 2, 3, 7, 125, 4096} {
		stream, want := stream, wantAll
		if step < 100 { // the large frame only in few pieces: each read copies what is pending
			stream, want = stream[:small], want[:len(want)-1]
		}
		c := newCollect()
		s := &wsStream{fd: -1, frame: c.frame}
		var pending []byte
		for i := 0; i < len(stream); i += step {
			pending = append(pending, stream[i:min(i+step, len(stream))]...)
			rest, reason := s.parse(pending, time.Now())
			if reason != "" {
				t.Fatalf("step %d: ended: %s", step, reason)
			}
			pending = append([]byte(nil), rest...)
		}
		if len(pending) != 0 {
			t.Fatalf("step %d: %d bytes left over", step, len(pending))
		}
		got := c.got()
		if len(got) != len(want) {
			t.Fatalf("step %d: %d messages, want %d", step, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("step %d: message %d is %.40q, want %.40q", step, i, got[i], want[i])
			}
		}
	}
}

func TestWSParseRefusesWhatAServerMustNotSend(t *testing.T) {
	masked := serverFrame(true, 0x1, []byte("x"))
	masked[1] |= 0x80
	rsv := serverFrame(true, 0x1, []byte("x"))
	rsv[0] |= 0x40
	huge := []byte{0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}
	cases := []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"masked", masked, "bad-frame"},
		{"extension bits", rsv, "bad-frame"},
		{"unknown opcode", serverFrame(true, 0x3, nil), "bad-frame"},
		{"continuation first", serverFrame(true, 0x0, []byte("x")), "bad-frame"},
		{"text inside a message", append(serverFrame(false, 0x1, []byte("a")), serverFrame(true, 0x1, []byte("b"))...), "bad-frame"},
		{"fragmented ping", serverFrame(false, 0x9, nil), "bad-frame"},
		{"too large", huge, "frame-too-large"},
		{"close with reason", serverFrame(true, 0x8, append([]byte{0x0f, 0xa8}, "slow-consumer"...)), "closed-4008-slow-consumer"},
		{"close without code", serverFrame(true, 0x8, nil), "closed-1005"},
	}
	for _, c := range cases {
		s := &wsStream{fd: -1, frame: func([]byte, time.Time) {}}
		if _, reason := s.parse(c.bytes, time.Now()); reason != c.want {
			t.Errorf("%s: reason %q, want %q", c.name, reason, c.want)
		}
	}
}

// loopPair returns a loop serving the client end of a loopback TCP
// connection, and the server end.
func loopPair(t *testing.T, leftover []byte, c *collect) (*wsLoop, *wsStream, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- conn
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("no connection accepted")
	}
	t.Cleanup(func() { server.Close() })
	l, err := newWSLoop()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	s, err := l.add(client, leftover, c.frame, c.end)
	if err != nil {
		t.Fatal(err)
	}
	return l, s, server
}

func waitMessages(t *testing.T, c *collect, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.got()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages arrived", len(got), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWSLoopReadsInOrderAndAnswersPings(t *testing.T) {
	c := newCollect()
	_, _, server := loopPair(t, serverFrame(true, 0x1, []byte("from the handshake's read")), c)
	const n = 2000
	var out []byte
	for i := range n {
		out = append(out, serverFrame(true, 0x1, fmt.Appendf(nil, `{"n":%d}`, i))...)
		if i == n/2 {
			out = append(out, serverFrame(true, 0x9, []byte("ping-1"))...)
		}
	}
	// Write in uneven pieces so that frames straddle reads.
	for i := 0; i < len(out); i += 1500 {
		if _, err := server.Write(out[i:min(i+1500, len(out))]); err != nil {
			t.Fatal(err)
		}
	}
	got := waitMessages(t, c, n+1)
	if got[0] != "from the handshake's read" {
		t.Fatalf("first message %q", got[0])
	}
	for i := range n {
		if want := fmt.Sprintf(`{"n":%d}`, i); got[i+1] != want {
			t.Fatalf("message %d is %q, want %q", i+1, got[i+1], want)
		}
	}
	// The ping was answered with a masked pong carrying its payload.
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	h := make([]byte, 6)
	if _, err := io.ReadFull(server, h); err != nil {
		t.Fatal(err)
	}
	if h[0] != 0x8A || h[1] != 0x80|6 {
		t.Fatalf("pong header % x", h[:2])
	}
	p := make([]byte, 6)
	if _, err := io.ReadFull(server, p); err != nil {
		t.Fatal(err)
	}
	for i := range p {
		p[i] ^= h[2+i%4]
	}
	if string(p) != "ping-1" {
		t.Fatalf("pong payload %q", p)
	}
}

func TestWSLoopReportsTheEnd(t *testing.T) {
	c := newCollect()
	_, _, server := loopPair(t, nil, c)
	frame := serverFrame(true, 0x8, append([]byte{0x03, 0xe8}, "bye"...))
	if _, err := server.Write(append(serverFrame(true, 0x1, []byte("last")), frame...)); err != nil {
		t.Fatal(err)
	}
	c.waitEnd(t, "closed-1000-bye")
	if got := c.got(); len(got) != 1 || got[0] != "last" {
		t.Fatalf("messages %q", got)
	}
	// The close was answered with the same code, masked.
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	echo := make([]byte, 8)
	if _, err := io.ReadFull(server, echo); err != nil {
		t.Fatal(err)
	}
	if echo[0] != 0x88 || echo[1] != 0x80|2 || binary.BigEndian.Uint16([]byte{echo[6] ^ echo[2], echo[7] ^ echo[3]}) != 1000 {
		t.Fatalf("close answer % x", echo)
	}

	c2 := newCollect()
	_, _, server2 := loopPair(t, nil, c2)
	server2.Close()
	c2.waitEnd(t, "connection-closed")
}

func TestWSLoopRemoveAndCloseReportNothing(t *testing.T) {
	c := newCollect()
	l, s, server := loopPair(t, nil, c)
	l.remove(s)
	// The client end is closed: the server reads EOF.
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := server.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server read %d, %v after remove, want EOF", n, err)
	}
	c2 := newCollect()
	l2, _, server2 := loopPair(t, nil, c2)
	l2.close()
	_ = server2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := server2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server read %v after close, want EOF", err)
	}
	select {
	case reason := <-c.ended:
		t.Fatalf("remove reported an end: %q", reason)
	case reason := <-c2.ended:
		t.Fatalf("close reported an end: %q", reason)
	case <-time.After(50 * time.Millisecond):
	}
	a, b := net.Pipe()
	defer b.Close()
	if _, err := l2.add(a, nil, c2.frame, c2.end); err != errStopped {
		t.Fatalf("a closed loop took a socket: %v", err)
	}
}
