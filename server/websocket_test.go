package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/actors"
)

// dial opens a WebSocket to path?query.
func (ts *testServer) dial(tb testing.TB, path string, query url.Values) (*websocket.Conn, *http.Response, error) {
	tb.Helper()
	u := "ws://" + ts.addr + path + "?" + query.Encode()
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err == nil {
		tb.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// mustDial opens a WebSocket and returns it with the sink the fake backend
// got for it.
func (ts *testServer) mustDial(tb testing.TB, path string, query url.Values) (*websocket.Conn, actors.Sink) {
	tb.Helper()
	c, resp, err := ts.dial(tb, path, query)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		tb.Fatalf("dial: %v %s", err, body)
	}
	select {
	case sink := <-ts.fake.sinks:
		return c, sink
	case <-time.After(5 * time.Second):
		tb.Fatal("no subscription")
	}
	return nil, nil
}

// readFrame reads one text frame.
func readFrame(tb testing.TB, c *websocket.Conn) string {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, b, err := c.ReadMessage()
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	if mt != websocket.TextMessage {
		tb.Fatalf("frame type %d", mt)
	}
	return string(b)
}

// readClose reads until the close frame and returns its code and reason.
func readClose(tb testing.TB, c *websocket.Conn) (int, string) {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		tb.Fatalf("read: %v, want a close frame", err)
	}
}

func delta(rev int64, items ...string) *actors.Update {
	u := &actors.Update{Revision: rev}
	for _, it := range items {
		u.Deltas = append(u.Deltas, json.RawMessage(it))
	}
	return u
}

func TestVisitorSocket(t *testing.T) {
	ts := mustRunServer(t, Options{})
	c, sink := ts.mustDial(t, "/ws/v/delta", visitorForm("since", "0"))
	if got := readFrame(t, c); got != `{"revision":1,"fullUpdate":`+string(fullState)+`}` {
		t.Fatalf("first frame %s", got)
	}
	if !sink.Push(delta(2, `{"objectType":"CHAT_STATE","event":"upd","id":"1","data":"queue"}`)) {
		t.Fatal("push refused")
	}
	if got := readFrame(t, c); got != `{"revision":2,"deltaList":[{"objectType":"CHAT_STATE","event":"upd","id":"1","data":"queue"}]}` {
		t.Fatalf("second frame %s", got)
	}
	sink.Push(delta(3, `{"objectType":"QUEUE_POSITION","event":"upd","id":"1","data":2}`))
	if got := readFrame(t, c); !strings.Contains(got, `"revision":3`) {
		t.Fatalf("third frame %s", got)
	}
	if ts.Stats().WSVisitor != 1 {
		t.Fatalf("stats %+v", ts.Stats())
	}
	// A client frame is ignored.
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"hello":1}`)); err != nil {
		t.Fatal(err)
	}
	sink.Push(delta(4, `{}`))
	if got := readFrame(t, c); got != `{"revision":4,"deltaList":[{}]}` {
		t.Fatalf("fourth frame %s", got)
	}
	c.Close()
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := ts.fake.subscriptions(); n != 0 {
			return errorf("%d subscriptions left", n)
		}
		if ts.Stats().WSVisitor != 0 {
			return errorf("stats %+v", ts.Stats())
		}
		return nil
	})
}

func TestOperatorSocketResume(t *testing.T) {
	ts := mustRunServer(t, Options{})
	c, sink := ts.mustDial(t, "/ws/o/delta", operatorForm("since", "7"))
	// Resuming: no full state first, just what comes after since.
	sink.Push(delta(8, `{"n":8}`))
	if got := readFrame(t, c); got != `{"revision":8,"deltaList":[{"n":8}]}` {
		t.Fatalf("%s", got)
	}
	if ts.Stats().WSOperator != 1 {
		t.Fatalf("stats %+v", ts.Stats())
	}
}

func TestSocketAuthBeforeUpgrade(t *testing.T) {
	ts := mustRunServer(t, Options{})
	for _, tc := range []struct {
		path  string
		query url.Values
		code  string
	}{
		{"/ws/o/delta", url.Values{"auth-token": {"forged"}}, chatnode.EUnauthorized},
		{"/ws/o/delta", url.Values{}, chatnode.EUnauthorized},
		{"/ws/v/delta", url.Values{"page-id": {"p"}, "auth-token": {"stale"}}, chatnode.EReinitRequired},
	} {
		_, resp, err := ts.dial(t, tc.path, tc.query)
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("%s %v: %v %v", tc.path, tc.query, err, resp)
		}
		b, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if json.Unmarshal(b, &body) != nil || body["error"] != tc.code {
			t.Fatalf("body %s", b)
		}
	}
	if n := ts.fake.subscriptions(); n != 0 {
		t.Fatalf("%d subscriptions", n)
	}
}

func TestSlowConsumer(t *testing.T) {
	ts := mustRunServer(t, Options{WSSendQueue: 4})
	c, sink := ts.mustDial(t, "/ws/o/delta", operatorForm("since", "0"))
	// The client reads nothing while big updates pile up: the kernel's
	// buffers fill, the writer stalls and the queue overflows.
	big := `{"pad":"` + strings.Repeat("x", 64<<10) + `"}`
	refused := false
	for i := int64(2); i < 10_000 && !refused; i++ {
		refused = !sink.Push(delta(i, big))
	}
	if !refused {
		t.Fatal("the queue never overflowed")
	}
	if sink.Push(delta(1<<40, `{}`)) {
		t.Fatal("a push after overflow was taken")
	}
	code, reason := readClose(t, c)
	if code != CloseSlowConsumer || reason != "slow-consumer" {
		t.Fatalf("close %d %q", code, reason)
	}
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := ts.fake.subscriptions(); n != 0 {
			return errorf("%d subscriptions left", n)
		}
		if s := ts.Stats(); s.WSOperator != 0 || s.SlowConsumers != 1 {
			return errorf("stats %+v", s)
		}
		return nil
	})
}

func TestPingKeepsSocketAlive(t *testing.T) {
	ts := mustRunServer(t, Options{WSPingInterval: 20 * time.Millisecond})
	c, sink := ts.mustDial(t, "/ws/o/delta", operatorForm("since", "5"))
	var pings atomic.Int64
	c.SetPingHandler(func(data string) error {
		pings.Add(1)
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	frames := make(chan string, 1)
	go func() {
		for {
			_, b, err := c.ReadMessage() // answers pings while it waits
			if err != nil {
				close(frames)
				return
			}
			frames <- string(b)
		}
	}()
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if pings.Load() < 10 { // five times the silence allowed
			return errorf("%d pings", pings.Load())
		}
		return nil
	})
	sink.Push(delta(6, `{}`))
	if got, ok := <-frames; !ok || got != `{"revision":6,"deltaList":[{}]}` {
		t.Fatalf("after pings: %q %v", got, ok)
	}
}

func TestSilentClientIsDropped(t *testing.T) {
	ts := mustRunServer(t, Options{WSPingInterval: 20 * time.Millisecond})
	ts.mustDial(t, "/ws/o/delta", operatorForm("since", "5")) // never reads, so never answers pings
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if s := ts.Stats(); s.WSOperator != 0 {
			return errorf("stats %+v", s)
		}
		if n := ts.fake.subscriptions(); n != 0 {
			return errorf("%d subscriptions", n)
		}
		return nil
	})
}

func TestOversizedClientFrame(t *testing.T) {
	ts := mustRunServer(t, Options{MaxBodyBytes: 1024})
	c, _ := ts.mustDial(t, "/ws/o/delta", operatorForm("since", "5"))
	if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("a", 2000))); err != nil {
		t.Fatal(err)
	}
	code, reason := readClose(t, c)
	if code != 4413 || reason != chatnode.ETooLarge {
		t.Fatalf("close %d %q", code, reason)
	}
}

func TestSocketEnd(t *testing.T) {
	ts := mustRunServer(t, Options{})
	c, sink := ts.mustDial(t, "/ws/v/delta", visitorForm("since", "3"))
	sink.(Ender).End(&chatnode.Error{Code: chatnode.EReinitRequired})
	code, reason := readClose(t, c)
	if code != CloseReinitRequired || reason != chatnode.EReinitRequired {
		t.Fatalf("close %d %q", code, reason)
	}
	if sink.Push(delta(4, `{}`)) {
		t.Fatal("push after end taken")
	}
}

func TestShutdownClosesSockets(t *testing.T) {
	fake := newFake()
	s := New(Options{Backend: fake, RateLimit: -1})
	ln := listen(t)
	ts := &testServer{Server: s, fake: fake, addr: ln.Addr().String()}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	c, _ := ts.mustDial(t, "/ws/o/delta", operatorForm("since", "5"))
	v, _ := ts.mustDial(t, "/ws/v/delta", visitorForm("since", "5"))
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(t.Context()) }()
	for _, conn := range []*websocket.Conn{c, v} {
		if code, _ := readClose(t, conn); code != websocket.CloseGoingAway {
			t.Fatalf("close %d", code)
		}
		conn.Close()
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := fake.subscriptions(); n != 0 {
		t.Fatalf("%d subscriptions", n)
	}
}

func TestFramesCoalesce(t *testing.T) {
	var frames []string
	flush := func(b []byte) error { frames = append(frames, string(b)); return nil }
	full := &actors.Update{Revision: 3, Full: json.RawMessage(`{"f":3}`)}
	_, err := appendFrames(nil, []*actors.Update{delta(1, `{"a":1}`), full, delta(4, `{"a":4}`), {}, delta(5, `{"a":5}`, `{"b":5}`)}, flush)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"revision":3,"fullUpdate":{"f":3}}`, `{"revision":5,"deltaList":[{"a":4},{"a":5},{"b":5}]}`}
	if strings.Join(frames, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%q", frames)
	}
}
