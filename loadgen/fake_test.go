package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// fakeNode speaks just enough of the API for the load generator, and
// delivers visitor messages unreliably on purpose: it drops every
// dropEvery-th and sends every dupEvery-th twice, and counts exactly what
// it wrote, so that tests can hold the report to it.
type fakeNode struct {
	dropEvery, dupEvery int
	kickAt              int // at this accepted message, every operator socket is closed (0: never)

	mu        sync.Mutex
	opSockets map[int64]*fakeSocket
	online    []int64
	visitors  map[string]*fakeVisitor // by page id
	nVisitors int
	chats     map[string]*fakeVisitor // by chat id
	nextOp    int
	accepted  int
	written   map[string]int // visitor message client-side id → frames written
	dropped   int
}

type fakeVisitor struct {
	page, chat string
	op         int64
	sock       *fakeSocket
}

// fakeSocket is made before its client connects (a client may act as soon
// as its handshake completes, before the server side has the connection);
// send waits for the connection.
type fakeSocket struct {
	attached  chan struct{}
	connected bool // a client asked for it; under fakeNode.mu
	mu        sync.Mutex
	conn      *websocket.Conn
}

func newFakeSocket() *fakeSocket { return &fakeSocket{attached: make(chan struct{})} }

func (s *fakeSocket) attach(conn *websocket.Conn) {
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	close(s.attached)
}

// send writes v and reports whether it was written.
func (s *fakeSocket) send(v any) bool {
	b, _ := json.Marshal(v)
	select {
	case <-s.attached:
	case <-time.After(5 * time.Second):
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.WriteMessage(websocket.TextMessage, b) == nil
}

// kick closes the socket with 1001 going-away once it is connected.
func (s *fakeSocket) kick() {
	<-s.attached
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1001, "going-away"), time.Now().Add(time.Second))
	s.conn.Close()
}

func startFake(t *testing.T, dropEvery, dupEvery int) (*fakeNode, string) {
	f := &fakeNode{dropEvery: dropEvery, dupEvery: dupEvery, opSockets: map[int64]*fakeSocket{},
		visitors: map[string]*fakeVisitor{}, chats: map[string]*fakeVisitor{}, written: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

var fakeUpgrader = websocket.Upgrader{}

func delta(objectType, event, id string, data any) map[string]any {
	return map[string]any{"objectType": objectType, "event": event, "id": id, "data": data}
}

func deltas(items ...map[string]any) map[string]any {
	return map[string]any{"revision": 2, "deltaList": items}
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	ok := func() { fmt.Fprint(w, `{"result":"ok"}`) }
	switch r.URL.Path {
	case "/l/o/login":
		id, err := strconv.ParseInt(strings.TrimPrefix(r.PostFormValue("login"), "op"), 10, 64)
		if err != nil || r.PostFormValue("password") != "password" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"wrong-credentials"}`)
			return
		}
		f.mu.Lock()
		if f.opSockets[id] == nil {
			f.opSockets[id] = newFakeSocket()
		}
		f.mu.Unlock()
		fmt.Fprintf(w, `{"authToken":"t-%d","operator":{"id":%d}}`, id, id)
	case "/l/o/set-status":
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.PostFormValue("auth-token"), "t-"), 10, 64)
		if r.PostFormValue("status") == "online" {
			f.mu.Lock()
			f.online = append(f.online, id)
			f.mu.Unlock()
		}
		ok()
	case "/ws/o/delta":
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.FormValue("auth-token"), "t-"), 10, 64)
		f.mu.Lock()
		s := f.opSockets[id]
		if s.connected {
			s = newFakeSocket() // the operator came back after a kick
			f.opSockets[id] = s
		}
		s.connected = true
		f.mu.Unlock()
		conn, err := fakeUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.attach(conn)
		s.send(map[string]any{"revision": 1, "fullUpdate": map[string]any{"operator": map[string]any{"id": id}, "chats": []any{}}})
		go drainSocket(conn)
	case "/l/v/m/init":
		f.mu.Lock()
		f.nVisitors++
		n := f.nVisitors
		page := fmt.Sprintf("v%d-p", n)
		f.visitors[page] = &fakeVisitor{page: page, sock: newFakeSocket()}
		f.mu.Unlock()
		fmt.Fprintf(w, `{"revision":1,"fullUpdate":{"pageId":%q,"authToken":"a","visitSessionId":"v%d","state":"idle"}}`, page, n)
	case "/ws/v/delta":
		f.mu.Lock()
		s := f.visitors[r.FormValue("page-id")].sock
		f.mu.Unlock()
		conn, err := fakeUpgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.attach(conn)
		go drainSocket(conn)
	case "/l/v/m/action":
		f.visitorAction(r)
		ok()
	case "/l/o/action":
		f.mu.Lock()
		v := f.chats[r.PostFormValue("chat-id")]
		f.mu.Unlock()
		v.sock.send(deltas(delta("CHAT_MESSAGE", "add", "m", map[string]any{
			"clientSideId": r.PostFormValue("client-side-id"), "chatId": v.chat, "kind": "operator"})))
		ok()
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeNode) visitorAction(r *http.Request) {
	f.mu.Lock()
	v := f.visitors[r.PostFormValue("page-id")]
	switch r.PostFormValue("action") {
	case "chat.start":
		v.op = f.online[f.nextOp%len(f.online)]
		f.nextOp++
		v.chat = "c" + v.page
		f.chats[v.chat] = v
		op := f.opSockets[v.op]
		f.mu.Unlock()
		v.sock.send(deltas(
			delta("CHAT_STATE", "upd", v.chat, "chatting"),
			delta("CHAT_OPERATOR", "upd", v.chat, map[string]any{"id": v.op})))
		op.send(deltas(delta("CHAT", "upd", v.chat, map[string]any{"id": v.chat, "state": "chatting", "messages": []any{}})))
		return
	case "chat.message":
		f.accepted++
		n := f.accepted
		csid := r.PostFormValue("client-side-id")
		copies := 1
		switch {
		case f.dropEvery > 0 && n%f.dropEvery == 0:
			copies = 0
			f.dropped++
		case f.dupEvery > 0 && n%f.dupEvery == 0:
			copies = 2
		}
		op := f.opSockets[v.op]
		var kick []*fakeSocket
		if n == f.kickAt {
			for _, s := range f.opSockets {
				kick = append(kick, s)
			}
		}
		f.mu.Unlock()
		for _, s := range kick {
			s.kick()
		}
		written := 0
		for range copies {
			if op.send(deltas(delta("CHAT_MESSAGE", "add", csid, map[string]any{"clientSideId": csid, "chatId": v.chat, "kind": "visitor"}))) {
				written++
			}
		}
		f.mu.Lock()
		// A copy written to a socket already kicked is not written.
		f.written[csid] += written
		if copies > 0 && written == 0 {
			f.dropped++
		}
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
}

func drainSocket(conn *websocket.Conn) {
	defer conn.Close()
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// frames returns how many distinct messages the fake wrote and how many
// extra copies.
func (f *fakeNode) frames() (distinct, extra, dropped, accepted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.written {
		if n > 0 {
			distinct++
			extra += n - 1
		}
	}
	return distinct, extra, f.dropped, f.accepted
}

func fakeOptions(url string) *Options {
	return &Options{
		VisitorURLs: []string{url}, Visitors: 6, Operators: 3, Rate: 300, Inflight: 16,
		Duration: time.Second, Drain: 300 * time.Millisecond, SetupTimeout: 5 * time.Second,
		RequestTimeout: 2 * time.Second, RunID: "fake",
	}
}

func TestDeliveredCountsOnlyFramesReceived(t *testing.T) {
	f, url := startFake(t, 7, 5)
	rep, err := Run(context.Background(), fakeOptions(url), nil)
	if err != nil {
		t.Fatal(err)
	}
	distinct, extra, dropped, accepted := f.frames()
	m := rep.Messages
	t.Logf("problems %v failures %v notes %v", rep.Problems, rep.Failures, rep.Notes)
	t.Logf("fake wrote %d distinct, %d extra, dropped %d of %d; report %+v", distinct, extra, dropped, accepted, m)
	if accepted < 100 || dropped == 0 || extra == 0 {
		t.Fatalf("the run was too small to test anything: %d accepted", accepted)
	}
	if m.Delivered != uint64(distinct) {
		t.Errorf("delivered %d, but the node wrote %d distinct messages", m.Delivered, distinct)
	}
	if m.Duplicates != uint64(extra) {
		t.Errorf("duplicates %d, node wrote %d extra copies", m.Duplicates, extra)
	}
	if m.Undelivered != uint64(dropped) {
		t.Errorf("undelivered %d, node dropped %d", m.Undelivered, dropped)
	}
	if m.Sent != uint64(accepted) || m.Accepted != uint64(accepted) {
		t.Errorf("sent %d accepted %d, node accepted %d", m.Sent, m.Accepted, accepted)
	}
	if m.Delivered > m.ReceivedFrames {
		t.Errorf("delivered %d exceeds the frames received %d", m.Delivered, m.ReceivedFrames)
	}
	if m.Latency.Count != m.Delivered {
		t.Errorf("%d latencies for %d deliveries", m.Latency.Count, m.Delivered)
	}
	if rep.OK || len(rep.Problems) == 0 {
		t.Errorf("a lossy run reported ok: %v", rep.Problems)
	}
}

// TestOperatorsReconnectAfterTheirSocketsEnd has the node close every
// operator socket in the middle of the run: the operators connect again,
// the end is reported as a failure with the close code, and what the node
// wrote after is delivered and counted exactly.
func TestOperatorsReconnectAfterTheirSocketsEnd(t *testing.T) {
	f, url := startFake(t, 0, 0)
	f.kickAt = 100
	o := fakeOptions(url)
	o.Duration = 2 * time.Second
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	distinct, _, dropped, accepted := f.frames()
	m := rep.Messages
	t.Logf("failures %v; fake wrote %d distinct, lost %d of %d; report %+v", rep.Failures, distinct, dropped, accepted, m)
	if accepted < 2*f.kickAt {
		t.Fatalf("the run was too small to test anything: %d accepted", accepted)
	}
	if got := rep.Failures["operator-ws: closed-1001-going-away"]; got != uint64(o.Operators) {
		t.Errorf("%d operator socket ends reported, want %d: %v", got, o.Operators, rep.Failures)
	}
	if m.Delivered != uint64(distinct) || m.Undelivered != uint64(dropped) {
		t.Errorf("delivered %d, undelivered %d; the node wrote %d and lost %d", m.Delivered, m.Undelivered, distinct, dropped)
	}
	if m.Delivered < uint64(accepted)-uint64(f.kickAt) {
		t.Errorf("only %d of %d messages delivered: the operators did not come back", m.Delivered, accepted)
	}
}

func TestStopsOnTimeWhenNothingArrives(t *testing.T) {
	_, url := startFake(t, 1, 0) // drops everything
	o := fakeOptions(url)
	start := time.Now()
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// Setup against the fake takes milliseconds; the rest is the duration,
	// the whole drain (nothing arrives) and the closing.
	if took < o.Duration+o.Drain || took > o.Duration+o.Drain+3*time.Second {
		t.Fatalf("run took %v for %v + %v drain", took, o.Duration, o.Drain)
	}
	if rep.WindowS < o.Duration.Seconds() || rep.WindowS > o.Duration.Seconds()+0.5 {
		t.Fatalf("send window %.2fs for a %v duration", rep.WindowS, o.Duration)
	}
	if rep.Messages.Delivered != 0 || rep.Messages.Undelivered != rep.Messages.Accepted || rep.Messages.Accepted == 0 {
		t.Fatalf("report %+v", rep.Messages)
	}
	if rep.OK {
		t.Fatal("a run that delivered nothing reported ok")
	}
}

func TestRunIsCancellable(t *testing.T) {
	_, url := startFake(t, 0, 0)
	o := fakeOptions(url)
	o.Duration = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(700*time.Millisecond, cancel)
	start := time.Now()
	rep, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("cancelled run took %v", took)
	}
	if !rep.Interrupted || rep.OK {
		t.Fatalf("interrupted %v ok %v", rep.Interrupted, rep.OK)
	}
}

func TestOfferedFollowsRampUp(t *testing.T) {
	for _, tt := range []struct {
		ramp, at time.Duration
		want     float64
	}{
		{0, 0, 0},
		{0, 2 * time.Second, 200},
		{time.Second, 500 * time.Millisecond, 12.5}, // 100/s × 0.5² / 2
		{time.Second, time.Second, 50},
		{time.Second, 3 * time.Second, 250},
	} {
		if got := offered(100, tt.ramp, tt.at); got != tt.want {
			t.Errorf("offered(100/s, ramp %v, at %v) = %v, want %v", tt.ramp, tt.at, got, tt.want)
		}
	}
}

func TestRampUpSpreadsVisitorsAndRate(t *testing.T) {
	_, url := startFake(t, 0, 0)
	o := fakeOptions(url)
	o.Rate, o.RampUp, o.Duration = 400, 500*time.Millisecond, time.Second
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Messages
	if m.Offered != 300 || m.Sent+m.SkippedAtInflight+m.SkippedNoVisitor != m.Offered {
		t.Fatalf("offered %d, sent %d, skipped %d+%d; want 300 offered, all accounted for",
			m.Offered, m.Sent, m.SkippedAtInflight, m.SkippedNoVisitor)
	}
	if !rep.OK || m.Delivered != m.Sent || rep.Visitors.Ready != o.Visitors {
		t.Fatalf("problems %v, messages %+v", rep.Problems, m)
	}
}
