package observetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/chatnode/chatnode/internal/testservices"
	"github.com/chatnode/chatnode/internal/testutil"
)

// client speaks HTTP and WebSocket to one node.
type client struct {
	addr string
	http *http.Client
}

func newClient(addr string) *client {
	return &client{addr: addr, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

// do sends a request with header; form is the query of a GET and the body
// of a POST.
func (c *client) do(method, path string, form url.Values, header http.Header) (testservices.Answer, error) {
	return testservices.Send(context.Background(), c.http, method, "http://"+c.addr+path, form, header)
}

func (c *client) mustDo(tb testing.TB, method, path string, form url.Values, header http.Header) testservices.Answer {
	tb.Helper()
	a, err := c.do(method, path, form, header)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// visitor is a visit session.
type visitor struct {
	c                 *client
	pageID, authToken string
	session           string
}

// newVisitor opens a visit session.
func (c *client) newVisitor(tb testing.TB) *visitor {
	tb.Helper()
	a := c.mustDo(tb, http.MethodGet, "/l/v/m/init", testservices.Form("event", "init", "since", "0",
		"device-id", "d-"+testservices.RandomHex(6), "platform", "web", "location", "mobile", "title", "Shop"), nil)
	var u struct {
		FullUpdate struct {
			PageID         string `json:"pageId"`
			AuthToken      string `json:"authToken"`
			VisitSessionID string `json:"visitSessionId"`
		} `json:"fullUpdate"`
	}
	if err := json.Unmarshal(a.Body, &u); err != nil || a.Status != http.StatusOK || u.FullUpdate.PageID == "" {
		tb.Fatalf("visitor init: %v: %v", a, err)
	}
	return &visitor{c: c, pageID: u.FullUpdate.PageID, authToken: u.FullUpdate.AuthToken, session: u.FullUpdate.VisitSessionID}
}

// act sends a visitor action with the request header h (may be nil) and
// fails the test unless it is accepted.
func (v *visitor) act(tb testing.TB, h http.Header, action string, kv ...string) {
	tb.Helper()
	f := testservices.Form(append([]string{"page-id", v.pageID, "auth-token", v.authToken, "action", action}, kv...)...)
	if a := v.c.mustDo(tb, http.MethodPost, "/l/v/m/action", f, h); !a.OK() {
		tb.Fatalf("visitor %s: %s", action, a)
	}
}

// operator is a logged-in operator.
type operator struct {
	c     *client
	token string
}

// login logs login in with the password "password".
func (c *client) login(tb testing.TB, login string) *operator {
	tb.Helper()
	a := c.mustDo(tb, http.MethodPost, "/l/o/login", testservices.Form("login", login, "password", "password"), nil)
	var r struct {
		AuthToken string `json:"authToken"`
	}
	if a.Status != http.StatusOK || json.Unmarshal(a.Body, &r) != nil || r.AuthToken == "" {
		tb.Fatalf("login %s: %s", login, a)
	}
	return &operator{c: c, token: r.AuthToken}
}

func (o *operator) setStatus(tb testing.TB, status string) {
	tb.Helper()
	if a := o.c.mustDo(tb, http.MethodPost, "/l/o/set-status", testservices.Form("auth-token", o.token, "status", status), nil); !a.OK() {
		tb.Fatalf("set-status %s: %s", status, a)
	}
}

// message sends a chat message into chatID and fails the test unless it is
// accepted.
func (o *operator) message(tb testing.TB, chatID, text string) {
	tb.Helper()
	f := testservices.Form("auth-token", o.token, "action", "chat.message", "chat-id", chatID, "message", text, "client-side-id", "o-"+testservices.RandomHex(4))
	if a := o.c.mustDo(tb, http.MethodPost, "/l/o/action", f, nil); !a.OK() {
		tb.Fatalf("operator chat.message: %s", a)
	}
}

// update is an init, delta or WebSocket frame.
type update struct {
	Revision  int64       `json:"revision"`
	DeltaList []deltaItem `json:"deltaList"`
	Error     string      `json:"error"`
}

type deltaItem struct {
	ObjectType string          `json:"objectType"`
	Event      string          `json:"event"`
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data"`
}

// wireChat is the part of a CHAT item the tests read.
type wireChat struct {
	State    string `json:"state"`
	Operator *struct {
		ID int64 `json:"id"`
	} `json:"operator"`
	VisitSessionID string `json:"visitSessionId"`
}

// socket is a WebSocket client that keeps every delta item it reads.
type socket struct {
	conn  *websocket.Conn
	mu    sync.Mutex
	items []deltaItem
	err   error
	done  chan struct{}
}

// socket opens the operator's WebSocket; it is closed when the test ends
// or by close.
func (o *operator) socket(tb testing.TB) *socket {
	tb.Helper()
	return o.c.dial(tb, "/ws/o/delta", testservices.Form("auth-token", o.token, "since", "0"))
}

// socket opens the visitor's WebSocket; it is closed when the test ends or
// by close.
func (v *visitor) socket(tb testing.TB) *socket {
	tb.Helper()
	return v.c.dial(tb, "/ws/v/delta", testservices.Form("page-id", v.pageID, "auth-token", v.authToken, "since", "0"))
}

func (c *client) dial(tb testing.TB, path string, q url.Values) *socket {
	tb.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws://"+c.addr+path+"?"+q.Encode(), nil)
	if err != nil {
		tb.Fatalf("open the WebSocket %s: %v", path, err)
	}
	resp.Body.Close()
	s := &socket{conn: conn, done: make(chan struct{})}
	go s.read()
	tb.Cleanup(s.close)
	return s
}

func (s *socket) read() {
	defer close(s.done)
	for {
		_, b, err := s.conn.ReadMessage()
		var u update
		if err == nil {
			err = json.Unmarshal(b, &u)
		}
		s.mu.Lock()
		if err != nil {
			s.err = err
			s.mu.Unlock()
			return
		}
		s.items = append(s.items, u.DeltaList...)
		s.mu.Unlock()
	}
}

// close closes the connection and waits for the reader to end.
func (s *socket) close() {
	_ = s.conn.Close()
	<-s.done
}

// waitItem waits until the socket has read an item that satisfies match
// and returns the first such item.
func (s *socket) waitItem(tb testing.TB, what string, match func(deltaItem) bool) deltaItem {
	tb.Helper()
	var found deltaItem
	testutil.WaitFor(tb, waitTimeout, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := slices.IndexFunc(s.items, match); i >= 0 {
			found = s.items[i]
			return nil
		}
		if s.err != nil {
			return fmt.Errorf("socket ended before %s: %v", what, s.err)
		}
		return fmt.Errorf("socket has not seen %s", what)
	})
	return found
}

// waitChat waits until the socket shows the chat of visit session
// session chatting with operator id and returns the chat's id.
func (s *socket) waitChat(tb testing.TB, operatorID int64, session string) string {
	tb.Helper()
	d := s.waitItem(tb, "the visitor's chat assigned to the operator", func(d deltaItem) bool {
		var c wireChat
		return d.ObjectType == "CHAT" && d.Event == "upd" && json.Unmarshal(d.Data, &c) == nil &&
			c.State == "chatting" && c.Operator != nil && c.Operator.ID == operatorID && c.VisitSessionID == session
	})
	return d.ID
}

// waitMessage waits until the socket shows a chat message with text.
func (s *socket) waitMessage(tb testing.TB, text string) {
	tb.Helper()
	s.waitItem(tb, fmt.Sprintf("the message %q", text), func(d deltaItem) bool {
		var m struct {
			Text string `json:"text"`
		}
		return d.ObjectType == "CHAT_MESSAGE" && d.Event == "add" && json.Unmarshal(d.Data, &m) == nil && m.Text == text
	})
}

// openChat logs alice in on op's node, opens her WebSocket there and sets
// her online; then a visitor on vc starts a chat, and it waits until the
// chat reaches alice's socket. It returns the visitor, alice, her socket
// and the chat id.
func openChat(tb testing.TB, op, vc *client) (*visitor, *operator, *socket, string) {
	tb.Helper()
	alice := op.login(tb, "alice")
	ws := alice.socket(tb)
	alice.setStatus(tb, "online")
	v := vc.newVisitor(tb)
	v.act(tb, nil, "chat.start", "first-question", "Hello there", "client-side-id", "start-"+testservices.RandomHex(4))
	return v, alice, ws, ws.waitChat(tb, 1, v.session)
}
