package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/testservices"
	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/node"
)

// waitTimeout bounds every eventual condition in these tests.
const waitTimeout = 15 * time.Second

// samplePasswordHash is the bcrypt hash of "password", as in the sample
// accounts file.
const samplePasswordHash = "$2a$10$8w7yhFLAtAUs1vkb.vYEgemsasKFaRnGcsp0adWQjHfOM2Hb00xDu"

// testNode is a chatnode node under test, reached over real HTTP and
// WebSocket connections.
type testNode struct {
	Addr    string
	DataDir string
	client  *http.Client
}

// testKeys are the main.ini keys of a test node: quick long polls and
// assignment, and rate limits no test reaches.
func testKeys(dataDir string) map[string]string {
	return map[string]string{
		"data_dir":          dataDir,
		"long_poll_timeout": "1s",
		"assign_tick":       "50ms",
		"rate_limit":        "1000",
		"rate_burst":        "2000",
	}
}

// writeINI writes main.ini in dir with keys, overridden by extra (pairs of
// key and value), and returns its path.
func writeINI(tb testing.TB, dir string, keys map[string]string, extra ...string) string {
	tb.Helper()
	if len(extra)%2 != 0 {
		tb.Fatalf("writeINI: odd number of key/value arguments")
	}
	keys = maps.Clone(keys)
	for i := 0; i < len(extra); i += 2 {
		keys[extra[i]] = extra[i+1]
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "%s = %s\n", k, keys[k])
	}
	path := filepath.Join(dir, "main.ini")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// testOperator is an operator account of an accounts file written by
// writeAccounts; every one has the password "password".
type testOperator struct {
	ID, Login   string
	Departments []string
	MaxChats    int
}

// writeAccounts writes an accounts file with the support and sales
// departments and ops, and returns its path.
func writeAccounts(tb testing.TB, dir string, ops ...testOperator) string {
	tb.Helper()
	type jsonOp struct {
		ID           string   `json:"id"`
		Login        string   `json:"login"`
		Name         string   `json:"name"`
		PasswordHash string   `json:"password_hash"`
		Departments  []string `json:"departments"`
		MaxChats     int      `json:"max_chats"`
	}
	doc := struct {
		Departments []map[string]string `json:"departments"`
		Operators   []jsonOp            `json:"operators"`
	}{Departments: []map[string]string{{"key": "sales", "name": "Sales"}, {"key": "support", "name": "Support"}}}
	for _, op := range ops {
		name := strings.ToUpper(op.Login[:1]) + op.Login[1:]
		doc.Operators = append(doc.Operators, jsonOp{op.ID, op.Login, name, samplePasswordHash, op.Departments, op.MaxChats})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "accounts.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// mustRunMain starts a node in-process on a :0 port with the test keys and
// extra (pairs of main.ini key and value), and closes it when the test
// ends. Its log is shown when the test fails.
func mustRunMain(tb testing.TB, extra ...string) *testNode {
	tb.Helper()
	dir := tb.TempDir()
	dataDir := filepath.Join(dir, "data")
	path := writeINI(tb, dir, testKeys(dataDir), extra...)
	cfg, _, err := config.Load([]string{"--port", "0", "--config", path})
	if err != nil {
		tb.Fatalf("load configuration: %v", err)
	}
	var log syncBuffer
	m := node.NewMain(cfg, &log)
	if err := m.Run(context.Background()); err != nil {
		tb.Fatalf("run node: %v\n%s", err, log.String())
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close node: %v", err)
		}
		if tb.Failed() {
			tb.Logf("node log:\n%s", log.String())
		}
	})
	return newTestNode(m.Addr(), dataDir)
}

func newTestNode(addr, dataDir string) *testNode {
	return &testNode{Addr: addr, DataDir: dataDir, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer = testservices.SyncBuffer

// answer is an HTTP answer.
type answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// errorBody is an error answer's JSON.
type errorBody struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	ArgumentName string `json:"argumentName"`
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.Status, a.Body) }

// errorCode returns the answer's {"error": code}, or "" when it has none.
func (a answer) errorCode() string {
	var e errorBody
	_ = json.Unmarshal(a.Body, &e)
	return e.Error
}

// ok reports whether the answer is 200 {"result":"ok"}.
func (a answer) ok() bool {
	var r struct {
		Result string `json:"result"`
	}
	return a.Status == http.StatusOK && json.Unmarshal(a.Body, &r) == nil && r.Result == "ok"
}

// request sends a request whose form (the body of a POST, the query of a
// GET) is the already encoded string form.
func (n *testNode) request(method, path, form string) (answer, error) {
	u := "http://" + n.Addr + path
	var body io.Reader
	if method == http.MethodGet {
		if form != "" {
			u += "?" + form
		}
	} else {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b}, nil
}

func (n *testNode) mustRequest(tb testing.TB, method, path, form string) answer {
	tb.Helper()
	a, err := n.request(method, path, form)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func (n *testNode) get(tb testing.TB, path string, q url.Values) answer {
	tb.Helper()
	return n.mustRequest(tb, http.MethodGet, path, q.Encode())
}

func (n *testNode) post(tb testing.TB, path string, form url.Values) answer {
	tb.Helper()
	return n.mustRequest(tb, http.MethodPost, path, form.Encode())
}

// pairs turns key, value, key, value... into url.Values.
func pairs(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func merge(a url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range a {
		out[k] = slices.Clone(vs)
	}
	for k, vs := range pairs(kv...) {
		out[k] = vs
	}
	return out
}

// update is an init, delta or WebSocket frame.
type update struct {
	Revision   int64           `json:"revision"`
	FullUpdate json.RawMessage `json:"fullUpdate"`
	DeltaList  []deltaItem     `json:"deltaList"`
	Error      string          `json:"error"`
}

func (u update) empty() bool { return u.Revision == 0 && u.FullUpdate == nil && u.DeltaList == nil }

type deltaItem struct {
	ObjectType string          `json:"objectType"`
	Event      string          `json:"event"`
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data"`
}

func (d deltaItem) String() string {
	return fmt.Sprintf("%s %s %s %s", d.ObjectType, d.Event, d.ID, d.Data)
}

// is reports whether d is of objectType and event.
func (d deltaItem) is(objectType, event string) bool {
	return d.ObjectType == objectType && d.Event == event
}

// message decodes d's data as a message.
func (d deltaItem) message() wireMessage {
	var m wireMessage
	_ = json.Unmarshal(d.Data, &m)
	return m
}

// chat decodes d's data as a chat.
func (d deltaItem) chat() wireChat {
	var c wireChat
	_ = json.Unmarshal(d.Data, &c)
	return c
}

type wireMessage struct {
	ID           string `json:"id"`
	ClientSideID string `json:"clientSideId"`
	ChatID       string `json:"chatId"`
	AuthorID     *int64 `json:"authorId"`
	Name         string `json:"name"`
	Text         string `json:"text"`
	Kind         string `json:"kind"`
	Read         bool   `json:"read"`
}

type wireRate struct {
	OperatorID int64 `json:"operatorId"`
	Rating     int   `json:"rating"`
}

type wireChat struct {
	ID       int64  `json:"id"`
	State    string `json:"state"`
	Operator *struct {
		ID       int64  `json:"id"`
		Fullname string `json:"fullname"`
	} `json:"operator"`
	Messages         []wireMessage       `json:"messages"`
	QueuePosition    int                 `json:"queuePosition"`
	OperatorIDToRate map[string]wireRate `json:"operatorIdToRate"`
	VisitSessionID   string              `json:"visitSessionId"`
}

func (c wireChat) idString() string { return strconv.FormatInt(c.ID, 10) }

// texts returns the texts of the chat's messages of kind ("" for all).
func (c wireChat) texts(kind string) []string {
	var out []string
	for _, m := range c.Messages {
		if kind == "" || m.Kind == kind {
			out = append(out, m.Text)
		}
	}
	return out
}

// countClientSideID counts the chat's messages with client-side id id.
func (c wireChat) countClientSideID(id string) int {
	n := 0
	for _, m := range c.Messages {
		if m.ClientSideID == id {
			n++
		}
	}
	return n
}

type visitorFull struct {
	PageID         string    `json:"pageId"`
	AuthToken      string    `json:"authToken"`
	VisitSessionID string    `json:"visitSessionId"`
	State          string    `json:"state"`
	OnlineStatus   string    `json:"onlineStatus"`
	Chat           *wireChat `json:"chat"`
}

type queueEntry struct {
	ChatID    string `json:"chatId"`
	FirstText string `json:"firstText"`
}

type operatorFull struct {
	Operator struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
	} `json:"operator"`
	Status string       `json:"status"`
	Chats  []wireChat   `json:"chats"`
	Queue  []queueEntry `json:"queue"`
}

// chat returns the operator's chat id, or nil.
func (f operatorFull) chat(id string) *wireChat {
	for i := range f.Chats {
		if f.Chats[i].idString() == id {
			return &f.Chats[i]
		}
	}
	return nil
}

func (f operatorFull) queued(id string) bool {
	return slices.ContainsFunc(f.Queue, func(e queueEntry) bool { return e.ChatID == id })
}

func decodeUpdate(tb testing.TB, a answer) update {
	tb.Helper()
	var u update
	if err := json.Unmarshal(a.Body, &u); err != nil {
		tb.Fatalf("decode update %s: %v", a, err)
	}
	return u
}

// visitor is a visitor's client: its page, token and the deltas its long
// polls have received.
type visitor struct {
	n       *testNode
	PageID  string
	Token   string
	Session string
	Rev     int64
	Full    visitorFull
	Items   []deltaItem // every delta received by waitDelta, in order
}

// newVisitor inits a new visit session.
func (n *testNode) newVisitor(tb testing.TB) *visitor {
	tb.Helper()
	return n.initVisitor(tb, "")
}

// initVisitor inits a visit session, resuming session when it is not "".
func (n *testNode) initVisitor(tb testing.TB, session string) *visitor {
	tb.Helper()
	q := pairs("event", "init", "since", "0", "device-id", "device-1", "platform", "web",
		"location", "mobile", "title", "Shop")
	if session != "" {
		q.Set("visit-session-id", session)
	}
	a := n.get(tb, "/l/v/m/init", q)
	if a.Status != http.StatusOK {
		tb.Fatalf("init: %s", a)
	}
	u := decodeUpdate(tb, a)
	v := &visitor{n: n, Rev: u.Revision}
	if err := json.Unmarshal(u.FullUpdate, &v.Full); err != nil || u.Revision == 0 {
		tb.Fatalf("init answer %s: %v", a, err)
	}
	v.PageID, v.Token, v.Session = v.Full.PageID, v.Full.AuthToken, v.Full.VisitSessionID
	if v.PageID == "" || v.Token == "" || v.Session == "" {
		tb.Fatalf("init answer lacks pageId, authToken or visitSessionId: %s", a)
	}
	return v
}

func (v *visitor) auth(kv ...string) url.Values {
	return merge(pairs("page-id", v.PageID, "auth-token", v.Token), kv...)
}

// act sends a visitor action with fields kv.
func (v *visitor) act(tb testing.TB, action string, kv ...string) answer {
	tb.Helper()
	return v.n.post(tb, "/l/v/m/action", v.auth(append([]string{"action", action}, kv...)...))
}

// mustAct sends a visitor action and fails unless it answers ok.
func (v *visitor) mustAct(tb testing.TB, action string, kv ...string) {
	tb.Helper()
	if a := v.act(tb, action, kv...); !a.ok() {
		tb.Fatalf("visitor %s %v: %s", action, kv, a)
	}
}

// poll is one long poll after since.
func (v *visitor) poll(tb testing.TB, since int64) update {
	tb.Helper()
	a := v.n.get(tb, "/l/v/m/delta", v.auth("since", strconv.FormatInt(since, 10), "ts", "1"))
	if a.Status != http.StatusOK {
		tb.Fatalf("visitor delta: %s", a)
	}
	u := decodeUpdate(tb, a)
	if u.Error != "" {
		tb.Fatalf("visitor delta: %s", a)
	}
	return u
}

// full returns the visitor's whole state (a poll with since=0).
func (v *visitor) full(tb testing.TB) visitorFull {
	tb.Helper()
	u := v.poll(tb, 0)
	var f visitorFull
	if err := json.Unmarshal(u.FullUpdate, &f); err != nil || u.FullUpdate == nil {
		tb.Fatalf("since=0 did not answer a fullUpdate: %+v", u)
	}
	return f
}

// waitDelta long-polls from the visitor's revision, keeping what arrives,
// until an item received satisfies match, and returns that item.
func (v *visitor) waitDelta(tb testing.TB, what string, match func(deltaItem) bool) deltaItem {
	tb.Helper()
	for _, d := range v.Items {
		if match(d) {
			return d
		}
	}
	var found deltaItem
	testutil.WaitFor(tb, waitTimeout, func() error {
		u := v.poll(tb, v.Rev)
		if u.FullUpdate != nil {
			return fmt.Errorf("a fullUpdate answered since=%d", v.Rev)
		}
		if !u.empty() {
			v.Rev = u.Revision
		}
		for _, d := range u.DeltaList {
			v.Items = append(v.Items, d)
			if match(d) && found.ObjectType == "" {
				found = d
			}
		}
		if found.ObjectType == "" {
			return fmt.Errorf("visitor has not seen %s", what)
		}
		return nil
	})
	return found
}

// drain long-polls until a poll times out with nothing new, so that Rev is
// the visitor's last revision.
func (v *visitor) drain(tb testing.TB) {
	tb.Helper()
	testutil.WaitFor(tb, waitTimeout, func() error {
		u := v.poll(tb, v.Rev)
		if u.empty() {
			return nil
		}
		v.Rev = u.Revision
		v.Items = append(v.Items, u.DeltaList...)
		return errors.New("the visitor's stream is still changing")
	})
}

// operator is an operator's client.
type operator struct {
	n     *testNode
	Token string
}

// login logs an operator in with the password "password".
func (n *testNode) login(tb testing.TB, login string) *operator {
	tb.Helper()
	a := n.post(tb, "/l/o/login", pairs("login", login, "password", "password"))
	var r struct {
		AuthToken string `json:"authToken"`
	}
	if a.Status != http.StatusOK || json.Unmarshal(a.Body, &r) != nil || r.AuthToken == "" {
		tb.Fatalf("login %s: %s", login, a)
	}
	return &operator{n: n, Token: r.AuthToken}
}

func (o *operator) setStatus(tb testing.TB, status string) {
	tb.Helper()
	if a := o.n.post(tb, "/l/o/set-status", pairs("auth-token", o.Token, "status", status)); !a.ok() {
		tb.Fatalf("set-status %s: %s", status, a)
	}
}

// act sends an operator action on chat with fields kv.
func (o *operator) act(tb testing.TB, action, chat string, kv ...string) answer {
	tb.Helper()
	return o.n.post(tb, "/l/o/action", merge(pairs("auth-token", o.Token, "action", action, "chat-id", chat), kv...))
}

func (o *operator) mustAct(tb testing.TB, action, chat string, kv ...string) {
	tb.Helper()
	if a := o.act(tb, action, chat, kv...); !a.ok() {
		tb.Fatalf("operator %s %v: %s", action, kv, a)
	}
}

// poll is one operator long poll after since.
func (o *operator) poll(tb testing.TB, since int64) update {
	tb.Helper()
	a := o.n.get(tb, "/l/o/delta", pairs("auth-token", o.Token, "since", strconv.FormatInt(since, 10)))
	if a.Status != http.StatusOK {
		tb.Fatalf("operator delta: %s", a)
	}
	return decodeUpdate(tb, a)
}

// full returns the operator's whole state and its revision.
func (o *operator) full(tb testing.TB) (operatorFull, int64) {
	tb.Helper()
	u := o.poll(tb, 0)
	var f operatorFull
	if err := json.Unmarshal(u.FullUpdate, &f); err != nil || u.FullUpdate == nil {
		tb.Fatalf("since=0 did not answer a fullUpdate: %+v", u)
	}
	return f, u.Revision
}

// drain long-polls from since until a poll times out with nothing new and
// returns the operator's last revision.
func (o *operator) drain(tb testing.TB, since int64) int64 {
	tb.Helper()
	testutil.WaitFor(tb, waitTimeout, func() error {
		u := o.poll(tb, since)
		if u.empty() {
			return nil
		}
		since = u.Revision
		return errors.New("the operator's stream is still changing")
	})
	return since
}

// socket is a WebSocket client that keeps every frame it reads.
type socket struct {
	conn   *websocket.Conn
	mu     sync.Mutex
	frames []update
	err    error
	done   chan struct{}
}

// dialSocket opens a WebSocket to path?q, or returns the refused
// handshake's answer.
func (n *testNode) dialSocket(tb testing.TB, path string, q url.Values) (*socket, answer, error) {
	tb.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws://"+n.Addr+path+"?"+q.Encode(), nil)
	if err != nil {
		var a answer
		if resp != nil {
			a.Status, a.ContentType = resp.StatusCode, resp.Header.Get("Content-Type")
			a.Body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		return nil, a, err
	}
	s := &socket{conn: conn, done: make(chan struct{})}
	go s.read()
	tb.Cleanup(s.close)
	return s, answer{Status: resp.StatusCode}, nil
}

func (n *testNode) mustDial(tb testing.TB, path string, q url.Values) *socket {
	tb.Helper()
	s, a, err := n.dialSocket(tb, path, q)
	if err != nil {
		tb.Fatalf("dial %s: %v %s", path, err, a)
	}
	return s
}

func (s *socket) read() {
	defer close(s.done)
	for {
		_, b, err := s.conn.ReadMessage()
		s.mu.Lock()
		if err != nil {
			s.err = err
			s.mu.Unlock()
			return
		}
		var u update
		if err := json.Unmarshal(b, &u); err != nil {
			s.err = fmt.Errorf("frame %q: %w", b, err)
			s.mu.Unlock()
			return
		}
		s.frames = append(s.frames, u)
		s.mu.Unlock()
	}
}

// close closes the connection and waits for the reader to end.
func (s *socket) close() {
	_ = s.conn.Close()
	<-s.done
}

// Frames returns the frames read so far.
func (s *socket) Frames() []update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames)
}

// items returns the delta items of the frames read so far, in order.
func (s *socket) items() []deltaItem {
	var out []deltaItem
	for _, f := range s.Frames() {
		out = append(out, f.DeltaList...)
	}
	return out
}

// lastRevision is the revision of the last frame read.
func (s *socket) lastRevision() int64 {
	f := s.Frames()
	if len(f) == 0 {
		return 0
	}
	return f[len(f)-1].Revision
}

// waitFrames waits until at least n frames have been read.
func (s *socket) waitFrames(tb testing.TB, n int) []update {
	tb.Helper()
	testutil.WaitFor(tb, waitTimeout, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.frames) >= n {
			return nil
		}
		if s.err != nil {
			return fmt.Errorf("socket ended after %d frames: %v", len(s.frames), s.err)
		}
		return fmt.Errorf("%d frames read, want %d", len(s.frames), n)
	})
	return s.Frames()
}

// waitItem waits until the socket has read an item that satisfies match
// and returns the first such item.
func (s *socket) waitItem(tb testing.TB, what string, match func(deltaItem) bool) deltaItem {
	tb.Helper()
	var found deltaItem
	testutil.WaitFor(tb, waitTimeout, func() error {
		for _, d := range s.items() {
			if match(d) {
				found = d
				return nil
			}
		}
		return fmt.Errorf("socket has not seen %s", what)
	})
	return found
}

// Matchers of delta items.

func messageText(text string) func(deltaItem) bool {
	return func(d deltaItem) bool { return d.is("CHAT_MESSAGE", "add") && d.message().Text == text }
}

func itemData(objectType, event, data string) func(deltaItem) bool {
	return func(d deltaItem) bool { return d.is(objectType, event) && string(d.Data) == data }
}

// chatMessages returns the texts of the CHAT_MESSAGE adds among items.
func chatMessages(items []deltaItem) []string {
	var out []string
	for _, d := range items {
		if d.is("CHAT_MESSAGE", "add") {
			out = append(out, d.message().Text)
		}
	}
	return out
}

// openChat starts a node's standard scene: operator alice online and a
// visitor whose chat alice holds. The visitor's stream is drained, so its
// Rev is the last revision.
func openChat(tb testing.TB, n *testNode, question string) (*visitor, *operator, string) {
	tb.Helper()
	op := n.login(tb, "alice")
	op.setStatus(tb, "online")
	v := n.newVisitor(tb)
	v.mustAct(tb, "chat.start", "first-question", question, "client-side-id", "start-"+v.Session)
	v.waitDelta(tb, "the chat's CHAT_STATE chatting", itemData("CHAT_STATE", "upd", `"chatting"`))
	v.waitDelta(tb, "the operator's join message", func(d deltaItem) bool {
		return d.is("CHAT_MESSAGE", "add") && d.message().Kind == "info"
	})
	var chatID string
	testutil.WaitFor(tb, waitTimeout, func() error {
		f, _ := op.full(tb)
		for _, c := range f.Chats {
			if len(c.Messages) > 0 && c.Messages[0].Text == question {
				chatID = c.idString()
				return nil
			}
		}
		return fmt.Errorf("alice does not hold the chat: %+v", f.Chats)
	})
	v.drain(tb)
	return v, op, chatID
}
