package clustertest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/chatnode/chatnode/internal/testservices"
)

// endpoint is where a client sends requests: a node, or nginx in front.
type endpoint struct {
	base   string // http(s)://host:port
	ws     string // ws(s)://host:port
	client *http.Client
	dialer *websocket.Dialer
}

// endpoint returns a client of addr, speaking TLS when the cluster does.
func (c *cluster) endpoint(addr string) *endpoint {
	var tc *tls.Config
	if c.tls != nil {
		tc = c.tls.clientConfig()
	}
	return newEndpoint(addr, tc)
}

func newEndpoint(addr string, tc *tls.Config) *endpoint {
	scheme, ws := "http://", "ws://"
	if tc != nil {
		scheme, ws = "https://", "wss://"
	}
	return &endpoint{
		base: scheme + addr,
		ws:   ws + addr,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 64},
		},
		dialer: &websocket.Dialer{TLSClientConfig: tc, HandshakeTimeout: 10 * time.Second},
	}
}

// do sends a request; form is the query of a GET and the body of a POST.
func (e *endpoint) do(method, path string, form url.Values) (testservices.Answer, error) {
	return e.doContext(context.Background(), method, path, form)
}

func (e *endpoint) doContext(ctx context.Context, method, path string, form url.Values) (testservices.Answer, error) {
	return testservices.Send(ctx, e.client, method, e.base+path, form, nil)
}

func (e *endpoint) mustDo(tb testing.TB, method, path string, form url.Values) testservices.Answer {
	tb.Helper()
	a, err := e.do(method, path, form)
	if err != nil {
		tb.Fatalf("%s %s%s: %v", method, e.base, path, err)
	}
	return a
}

// visitor is a visit session.
type visitor struct {
	pageID, authToken string
}

// newVisitor opens a visit session through e.
func newVisitor(tb testing.TB, e *endpoint) *visitor {
	tb.Helper()
	v, _ := initVisitor(tb, e)
	return v
}

// initVisitor opens a visit session through e and returns the init answer
// too.
func initVisitor(tb testing.TB, e *endpoint) (*visitor, testservices.Answer) {
	tb.Helper()
	a := e.mustDo(tb, http.MethodGet, "/l/v/m/init", testservices.Form("event", "init", "since", "0",
		"device-id", "d-"+testservices.RandomHex(6), "platform", "web", "location", "x", "title", "t"))
	var u struct {
		FullUpdate struct {
			PageID    string `json:"pageId"`
			AuthToken string `json:"authToken"`
		} `json:"fullUpdate"`
	}
	if err := json.Unmarshal(a.Body, &u); err != nil || a.Status != http.StatusOK || u.FullUpdate.PageID == "" {
		tb.Fatalf("visitor init through %s: %v: %v", e.base, a, err)
	}
	return &visitor{pageID: u.FullUpdate.PageID, authToken: u.FullUpdate.AuthToken}, a
}

func (v *visitor) auth(kv ...string) url.Values {
	return testservices.Form(append([]string{"page-id", v.pageID, "auth-token", v.authToken}, kv...)...)
}

// act sends a visitor action through e.
func (v *visitor) act(e *endpoint, action string, kv ...string) (testservices.Answer, error) {
	return e.do(http.MethodPost, "/l/v/m/action", v.auth(append([]string{"action", action}, kv...)...))
}

// mustAct sends a visitor action and fails the test unless it is accepted.
func (v *visitor) mustAct(tb testing.TB, e *endpoint, action string, kv ...string) {
	tb.Helper()
	a, err := v.act(e, action, kv...)
	if err != nil || !a.OK() {
		tb.Fatalf("visitor %s through %s: %v %v", action, e.base, a, err)
	}
}

// state returns the visitor's full state as e serves it (a delta poll from
// revision 0).
func (v *visitor) state(e *endpoint) (*stream, error) {
	return fetchState(e, "/l/v/m/delta", v.auth("since", "0"))
}

// follow long-polls the visitor's delta stream on e until the test ends.
func (v *visitor) follow(tb testing.TB, e *endpoint) *stream {
	s := newStream()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			a, err := e.doContext(ctx, http.MethodGet, "/l/v/m/delta", v.auth("since", strconv.FormatInt(s.revision(), 10)))
			if err == nil {
				err = s.apply(a.Body)
			}
			if err != nil && ctx.Err() == nil {
				s.fail(err)
				// Back off before the next poll; conditions wait on the
				// stream's content, not on this pause.
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	tb.Cleanup(func() { cancel(); <-done })
	return s
}

// operator is a logged-in operator.
type operator struct {
	token string
}

// login logs alice (operator 1) in through e.
func login(tb testing.TB, e *endpoint) *operator {
	tb.Helper()
	op, _ := loginAnswer(tb, e)
	return op
}

// loginAnswer logs alice in through e and returns the login answer too.
func loginAnswer(tb testing.TB, e *endpoint) (*operator, testservices.Answer) {
	tb.Helper()
	a := e.mustDo(tb, http.MethodPost, "/l/o/login", testservices.Form("login", "alice", "password", "password"))
	var r struct {
		AuthToken string `json:"authToken"`
	}
	if err := json.Unmarshal(a.Body, &r); err != nil || a.Status != http.StatusOK || r.AuthToken == "" {
		tb.Fatalf("login through %s: %v: %v", e.base, a, err)
	}
	return &operator{token: r.AuthToken}, a
}

// setStatus sets the operator's status through e.
func (o *operator) setStatus(tb testing.TB, e *endpoint, status string) testservices.Answer {
	tb.Helper()
	a := e.mustDo(tb, http.MethodPost, "/l/o/set-status", testservices.Form("auth-token", o.token, "status", status))
	if !a.OK() {
		tb.Fatalf("set-status %s through %s: %v", status, e.base, a)
	}
	return a
}

// message sends a message in chatID through e.
func (o *operator) message(e *endpoint, chatID, text, clientSideID string) (testservices.Answer, error) {
	return e.do(http.MethodPost, "/l/o/action", testservices.Form("auth-token", o.token, "action", "chat.message",
		"chat-id", chatID, "message", text, "client-side-id", clientSideID))
}

// state returns the operator's full state as e serves it.
func (o *operator) state(e *endpoint) (*stream, error) {
	return fetchState(e, "/l/o/delta", testservices.Form("auth-token", o.token, "since", "0"))
}

// socket opens the operator's WebSocket on e and applies its frames to a
// stream until the test ends. It returns the handshake answer too.
func (o *operator) socket(tb testing.TB, e *endpoint) (*stream, *http.Response) {
	tb.Helper()
	u := e.ws + "/ws/o/delta?" + testservices.Form("auth-token", o.token, "since", "0").Encode()
	conn, resp, err := e.dialer.Dial(u, nil)
	if err != nil {
		tb.Fatalf("operator WebSocket through %s: %v", e.ws, err)
	}
	s := newStream()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				s.fail(err)
				return
			}
			if err := s.apply(data); err != nil {
				s.fail(err)
			}
		}
	}()
	tb.Cleanup(func() { conn.Close(); <-done })
	return s, resp
}

func fetchState(e *endpoint, path string, q url.Values) (*stream, error) {
	a, err := e.do(http.MethodGet, path, q)
	if err != nil {
		return nil, err
	}
	if a.Status != http.StatusOK {
		return nil, fmt.Errorf("GET %s%s: %v", e.base, path, a)
	}
	s := newStream()
	if err := s.apply(a.Body); err != nil {
		return nil, fmt.Errorf("GET %s%s: %v", e.base, path, err)
	}
	if !s.full {
		return nil, fmt.Errorf("GET %s%s with since=0: no fullUpdate: %s", e.base, path, a.Body)
	}
	return s, nil
}

// message is a chat message as clients see it.
type message struct {
	ID           string `json:"id"`
	ClientSideID string `json:"clientSideId"`
	ChatID       string `json:"chatId"`
	Text         string `json:"text"`
	Kind         string `json:"kind"`
}

// chat is a chat as clients see it.
type chat struct {
	ID         string
	State      string
	OperatorID int64
	Messages   []message
}

// ids returns the chat's message ids in order.
func (c chat) ids() []string {
	out := make([]string, len(c.Messages))
	for i, m := range c.Messages {
		out[i] = m.ID
	}
	return out
}

// texts returns the set of the chat's message texts.
func (c chat) texts() map[string]bool {
	out := make(map[string]bool, len(c.Messages))
	for _, m := range c.Messages {
		out[m.Text] = true
	}
	return out
}

type wireChat struct {
	ID       json.Number `json:"id"`
	State    string      `json:"state"`
	Operator *struct {
		ID int64 `json:"id"`
	} `json:"operator"`
	Messages []message `json:"messages"`
}

func (w *wireChat) chat() *chat {
	c := &chat{ID: w.ID.String(), State: w.State, Messages: slices.Clone(w.Messages)}
	if w.Operator != nil {
		c.OperatorID = w.Operator.ID
	}
	return c
}

type update struct {
	Revision   int64           `json:"revision"`
	FullUpdate json.RawMessage `json:"fullUpdate"`
	DeltaList  []struct {
		ObjectType string          `json:"objectType"`
		Event      string          `json:"event"`
		ID         string          `json:"id"`
		Data       json.RawMessage `json:"data"`
	} `json:"deltaList"`
	Error string `json:"error"`
}

type fullUpdate struct {
	Chat  *wireChat   `json:"chat"`  // a visitor's
	Chats []*wireChat `json:"chats"` // an operator's
}

// stream is a client's view of the chats in a delta stream (a visitor's or
// an operator's), built from full updates and deltas as a client builds it.
type stream struct {
	mu    sync.Mutex
	rev   int64
	full  bool // a fullUpdate was applied
	chats map[string]*chat
	err   error // the last error reading the stream
}

func newStream() *stream { return &stream{chats: map[string]*chat{}} }

func (s *stream) revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

func (s *stream) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// apply applies one answer or frame.
func (s *stream) apply(body []byte) error {
	var u update
	if err := json.Unmarshal(body, &u); err != nil {
		return fmt.Errorf("decode update: %v: %s", err, body)
	}
	if u.Error != "" {
		return fmt.Errorf("update: %s", body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.FullUpdate != nil {
		var f fullUpdate
		if err := json.Unmarshal(u.FullUpdate, &f); err != nil {
			return fmt.Errorf("decode fullUpdate: %v: %s", err, u.FullUpdate)
		}
		s.full = true
		s.chats = map[string]*chat{}
		if f.Chat != nil {
			s.chats[f.Chat.ID.String()] = f.Chat.chat()
		}
		for _, w := range f.Chats {
			s.chats[w.ID.String()] = w.chat()
		}
	}
	for _, d := range u.DeltaList {
		switch d.ObjectType {
		case "CHAT":
			if d.Event == "del" {
				delete(s.chats, d.ID)
				continue
			}
			var w wireChat
			if err := json.Unmarshal(d.Data, &w); err != nil {
				return fmt.Errorf("decode CHAT: %v: %s", err, d.Data)
			}
			s.chats[w.ID.String()] = w.chat()
		case "CHAT_MESSAGE":
			var m message
			if err := json.Unmarshal(d.Data, &m); err != nil {
				return fmt.Errorf("decode CHAT_MESSAGE: %v: %s", err, d.Data)
			}
			c := s.chats[m.ChatID]
			if c == nil {
				c = &chat{ID: m.ChatID}
				s.chats[m.ChatID] = c
			}
			if i := slices.IndexFunc(c.Messages, func(x message) bool { return x.ID == m.ID }); i >= 0 {
				c.Messages[i] = m
			} else {
				c.Messages = append(c.Messages, m)
			}
		case "CHAT_STATE":
			var state string
			if c := s.chats[d.ID]; c != nil && json.Unmarshal(d.Data, &state) == nil {
				c.State = state
			}
		case "CHAT_OPERATOR":
			var op *struct {
				ID int64 `json:"id"`
			}
			if c := s.chats[d.ID]; c != nil && json.Unmarshal(d.Data, &op) == nil {
				c.OperatorID = 0
				if op != nil {
					c.OperatorID = op.ID
				}
			}
		}
	}
	if u.Revision != 0 {
		s.rev = u.Revision
	}
	return nil
}

// chat returns a copy of the chat with id.
func (s *stream) chat(id string) (chat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[id]
	if !ok {
		return chat{}, false
	}
	cp := *c
	cp.Messages = slices.Clone(c.Messages)
	return cp, true
}

// only returns the one chat of the stream.
func (s *stream) only() (chat, error) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.chats))
	for id := range s.chats {
		ids = append(ids, id)
	}
	err := s.err
	s.mu.Unlock()
	if len(ids) != 1 {
		return chat{}, fmt.Errorf("the stream has %d chats, want 1 (last stream error: %v)", len(ids), err)
	}
	c, _ := s.chat(ids[0])
	return c, nil
}

// hasTexts reports an error unless chat id holds every text.
func (s *stream) hasTexts(id string, texts ...string) error {
	c, ok := s.chat(id)
	if !ok {
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		return fmt.Errorf("no chat %s (last stream error: %v)", id, err)
	}
	have := c.texts()
	var miss []string
	for _, t := range texts {
		if !have[t] {
			miss = append(miss, t)
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("chat %s lacks %d of %d messages, e.g. %q", id, len(miss), len(texts), miss[0])
	}
	return nil
}
