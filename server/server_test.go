package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/actors"
)

// Credentials the fake backend knows.
const (
	testPage     = "page-1"
	testToken    = "token-1"
	testOperator = "op-token"
)

var testAuth = actors.VisitorAuth{PageID: testPage, AuthToken: testToken}

// fakeBackend is an in-memory Backend: it records calls, answers canned
// updates, and holds long polls until news arrives on its channel or the
// wait ends.
type fakeBackend struct {
	mu     sync.Mutex
	calls  []string
	inits  []*actors.InitRequest
	vacts  []*actors.VisitorRequest
	oacts  []*actors.OperatorRequest
	before []string // history cursors asked for
	status []string
	fail   error // answered by every call when set

	news  chan *actors.Update // a held delta answers the first to arrive
	sinks chan actors.Sink    // every subscription's sink, for tests to push to
	subs  map[actors.Sink]bool
}

func newFake() *fakeBackend {
	return &fakeBackend{
		news:  make(chan *actors.Update, 16),
		sinks: make(chan actors.Sink, 16),
		subs:  make(map[actors.Sink]bool),
	}
}

var fullState = json.RawMessage(`{"pageId":"page-1","authToken":"token-1","visitSessionId":"vs-1","state":"idle","onlineStatus":"online","departments":[],"visitor":{"id":"v1","fields":{"name":"Guest"}}}`)

func (f *fakeBackend) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.fail
}

func (f *fakeBackend) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeBackend) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeBackend) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeBackend) visitor(auth actors.VisitorAuth) error {
	if auth != testAuth {
		return &chatnode.Error{Code: chatnode.EReinitRequired, Message: "unknown page"}
	}
	return nil
}

func (f *fakeBackend) operator(token string) error {
	if token != testOperator {
		return &chatnode.Error{Code: chatnode.EUnauthorized, Message: "unknown token"}
	}
	return nil
}

func (f *fakeBackend) VisitorInit(ctx context.Context, req *actors.InitRequest) (*actors.Update, error) {
	if err := f.record("VisitorInit"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.inits = append(f.inits, req)
	f.mu.Unlock()
	return &actors.Update{Revision: 1, Full: fullState}, nil
}

func (f *fakeBackend) VisitorAction(ctx context.Context, req *actors.VisitorRequest) error {
	if err := f.record("VisitorAction"); err != nil {
		return err
	}
	if err := f.visitor(req.Auth); err != nil {
		return err
	}
	f.mu.Lock()
	f.vacts = append(f.vacts, req)
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) delta(ctx context.Context, since int64, wait time.Duration) (*actors.Update, error) {
	if since == 0 {
		return &actors.Update{Revision: 1, Full: fullState}, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case u := <-f.news:
		return u, nil
	case <-t.C:
		return &actors.Update{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeBackend) VisitorDelta(ctx context.Context, auth actors.VisitorAuth, since int64, wait time.Duration) (*actors.Update, error) {
	if err := f.record("VisitorDelta"); err != nil {
		return nil, err
	}
	if err := f.visitor(auth); err != nil {
		return nil, err
	}
	return f.delta(ctx, since, wait)
}

func (f *fakeBackend) subscribe(since int64, sink actors.Sink) (func(), error) {
	f.mu.Lock()
	f.subs[sink] = true
	f.mu.Unlock()
	if since == 0 {
		sink.Push(&actors.Update{Revision: 1, Full: fullState})
	}
	select {
	case f.sinks <- sink:
	default: // nobody is looking
	}
	return func() {
		f.mu.Lock()
		delete(f.subs, sink)
		f.mu.Unlock()
	}, nil
}

func (f *fakeBackend) subscriptions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *fakeBackend) VisitorSubscribe(ctx context.Context, auth actors.VisitorAuth, since int64, sink actors.Sink) (func(), error) {
	if err := f.record("VisitorSubscribe"); err != nil {
		return nil, err
	}
	if err := f.visitor(auth); err != nil {
		return nil, err
	}
	return f.subscribe(since, sink)
}

var testMessages = []json.RawMessage{
	json.RawMessage(`{"id":"m2","text":"second"}`),
	json.RawMessage(`{"id":"m1","text":"first"}`),
}

func (f *fakeBackend) VisitorHistory(ctx context.Context, auth actors.VisitorAuth, before string, limit int) (*actors.HistoryPage, error) {
	if err := f.record("VisitorHistory"); err != nil {
		return nil, err
	}
	if err := f.visitor(auth); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.before = append(f.before, before)
	f.mu.Unlock()
	return &actors.HistoryPage{Messages: testMessages, Next: "1000"}, nil
}

func (f *fakeBackend) OperatorLogin(ctx context.Context, login, password string) (*actors.LoginResult, error) {
	if err := f.record("OperatorLogin"); err != nil {
		return nil, err
	}
	if login != "alice" || password != "secret" {
		return nil, &chatnode.Error{Code: chatnode.EWrongCredentials, Message: "wrong login or password"}
	}
	return &actors.LoginResult{Token: testOperator, Operator: json.RawMessage(`{"id":"1","login":"alice"}`)}, nil
}

func (f *fakeBackend) OperatorSetStatus(ctx context.Context, token, status string) error {
	if err := f.record("OperatorSetStatus"); err != nil {
		return err
	}
	if err := f.operator(token); err != nil {
		return err
	}
	f.mu.Lock()
	f.status = append(f.status, status)
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) OperatorAction(ctx context.Context, req *actors.OperatorRequest) error {
	if err := f.record("OperatorAction"); err != nil {
		return err
	}
	if err := f.operator(req.Token); err != nil {
		return err
	}
	f.mu.Lock()
	f.oacts = append(f.oacts, req)
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) OperatorDelta(ctx context.Context, token string, since int64, wait time.Duration) (*actors.Update, error) {
	if err := f.record("OperatorDelta"); err != nil {
		return nil, err
	}
	if err := f.operator(token); err != nil {
		return nil, err
	}
	return f.delta(ctx, since, wait)
}

func (f *fakeBackend) OperatorSubscribe(ctx context.Context, token string, since int64, sink actors.Sink) (func(), error) {
	if err := f.record("OperatorSubscribe"); err != nil {
		return nil, err
	}
	if err := f.operator(token); err != nil {
		return nil, err
	}
	return f.subscribe(since, sink)
}

func (f *fakeBackend) OperatorHistory(ctx context.Context, token, chatID, before string, limit int) (*actors.HistoryPage, error) {
	if err := f.record("OperatorHistory"); err != nil {
		return nil, err
	}
	if err := f.operator(token); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.before = append(f.before, before)
	f.mu.Unlock()
	return &actors.HistoryPage{Messages: testMessages[:limit], Next: ""}, nil
}

// testServer is a Server on a 127.0.0.1 port with a fake backend.
type testServer struct {
	*Server
	fake *fakeBackend
	base string // http://127.0.0.1:port
	addr string
}

// mustRunServer starts a server with opts (Backend filled in with a fake)
// and shuts it down when the test ends.
func mustRunServer(tb testing.TB, opts Options) *testServer {
	tb.Helper()
	fake := newFake()
	if opts.Backend == nil {
		opts.Backend = fake
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = -1
	}
	s := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return &testServer{Server: s, fake: fake, base: "http://" + ln.Addr().String(), addr: ln.Addr().String()}
}

// answer is a decoded JSON answer.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (a answer) code() string { s, _ := a.JSON["error"].(string); return s }

// get sends GET path?query.
func (ts *testServer) get(tb testing.TB, path string, query url.Values) answer {
	tb.Helper()
	u := ts.base + path
	if query != nil {
		u += "?" + query.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	return readAnswer(tb, resp)
}

// post sends POST path with a form body.
func (ts *testServer) post(tb testing.TB, path string, form url.Values) answer {
	tb.Helper()
	resp, err := http.PostForm(ts.base+path, form)
	if err != nil {
		tb.Fatal(err)
	}
	return readAnswer(tb, resp)
}

// raw sends a request with a hand-written query or body, for bytes that
// url.Values would escape.
func (ts *testServer) raw(tb testing.TB, method, pathAndQuery, body string) answer {
	tb.Helper()
	req, err := http.NewRequest(method, ts.base+pathAndQuery, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return readAnswer(tb, resp)
}

func readAnswer(tb testing.TB, resp *http.Response) answer {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &a.JSON); err != nil {
			tb.Fatalf("answer is not a JSON object: %v: %s", err, b)
		}
	}
	return a
}

// checkFor calls f every interval until it returns nil or timeout passes.
func checkFor(tb testing.TB, timeout, interval time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// visitorForm returns a visitor's credentials plus kv pairs.
func visitorForm(kv ...string) url.Values {
	v := url.Values{"page-id": {testPage}, "auth-token": {testToken}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// operatorForm returns an operator's token plus kv pairs.
func operatorForm(kv ...string) url.Values {
	v := url.Values{"auth-token": {testOperator}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func wantOK(tb testing.TB, a answer) {
	tb.Helper()
	if a.Status != 200 || a.JSON["result"] != "ok" {
		tb.Fatalf("want 200 {\"result\":\"ok\"}, got %d %s", a.Status, a.Body)
	}
}

func wantError(tb testing.TB, a answer, status int, code string) {
	tb.Helper()
	if a.Status != status || a.code() != code {
		tb.Fatalf("want %d %q, got %d %s", status, code, a.Status, a.Body)
	}
	if ct := a.Header.Get("Content-Type"); ct != contentTypeJSON {
		tb.Fatalf("content type %q", ct)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	ts := mustRunServer(t, Options{})
	wantError(t, ts.get(t, "/nope", nil), 404, codeNotFound)
	wantError(t, ts.get(t, "/l/v/m/", nil), 404, codeNotFound)
	a := ts.get(t, "/l/o/login", nil)
	wantError(t, a, 405, codeMethod)
	if a.Header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", a.Header.Get("Allow"))
	}
	wantError(t, ts.post(t, "/l/v/m/delta", visitorForm()), 405, codeMethod)
	wantError(t, ts.raw(t, "PUT", "/l/v/m/action", ""), 405, codeMethod)
	if n := ts.fake.callCount(); n != 0 {
		t.Fatalf("backend called %d times", n)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	ts := mustRunServer(t, Options{})
	a := ts.get(t, "/health", nil)
	if a.Status != 200 || a.JSON["status"] != "ok" {
		t.Fatalf("health: %d %s", a.Status, a.Body)
	}
	wantError(t, ts.get(t, "/metrics", nil), 404, codeNotFound)

	ts = mustRunServer(t, Options{
		Health: func() (int, []byte) { return 503, []byte(`{"status":"degraded"}`) },
		Metrics: func(w io.Writer) error {
			_, err := fmt.Fprintln(w, "chatnode_up 1")
			return err
		},
	})
	a = ts.get(t, "/health", nil)
	if a.Status != 503 || a.JSON["status"] != "degraded" {
		t.Fatalf("health: %d %s", a.Status, a.Body)
	}
	a = ts.get(t, "/metrics", nil)
	if a.Status != 200 || string(a.Body) != "chatnode_up 1\n" ||
		a.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("metrics: %d %q %q", a.Status, a.Header.Get("Content-Type"), a.Body)
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	ts := mustRunServer(t, Options{})
	ts.fake.setFail(errors.New("disk on fire at /var/lib/secret"))
	a := ts.post(t, "/l/v/m/action", visitorForm("action", "chat.close"))
	wantError(t, a, 500, chatnode.EInternal)
	if strings.Contains(string(a.Body), "fire") || len(a.JSON) != 1 {
		t.Fatalf("internal detail leaked: %s", a.Body)
	}
	// On init and delta Webim's SDK would end the session on an error it
	// reads, so a passing failure is 503 there.
	wantError(t, ts.get(t, "/l/v/m/delta", visitorForm("since", "3")), 503, chatnode.EInternal)
	wantError(t, ts.get(t, "/l/v/m/init", url.Values{"event": {"init"}}), 503, chatnode.EInternal)
}

// listen returns a listener on a free 127.0.0.1 port.
func listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}
