package server

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/actors"
)

func TestOperatorLogin(t *testing.T) {
	ts := mustRunServer(t, Options{})
	a := ts.post(t, "/l/o/login", url.Values{"login": {"alice"}, "password": {"secret"}})
	want := `{"authToken":"op-token","operator":{"id":"1","login":"alice"}}`
	if a.Status != 200 || string(a.Body) != want {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	wantError(t, ts.post(t, "/l/o/login", url.Values{"login": {"alice"}, "password": {"guess"}}), 401, chatnode.EWrongCredentials)
	// A password in the query string is not taken.
	calls := ts.fake.callCount()
	wantError(t, ts.raw(t, "POST", "/l/o/login?login=alice&password=secret", ""), 400, chatnode.EWrongArgument)
	if ts.fake.callCount() != calls {
		t.Fatal("backend called")
	}
}

func TestOperatorSetStatus(t *testing.T) {
	ts := mustRunServer(t, Options{})
	wantOK(t, ts.post(t, "/l/o/set-status", operatorForm("status", "invisible")))
	ts.fake.mu.Lock()
	got := ts.fake.status
	ts.fake.mu.Unlock()
	if !reflect.DeepEqual(got, []string{"invisible"}) {
		t.Fatalf("%q", got)
	}
	q := operatorForm("status", "online")
	q.Set("auth-token", "forged")
	wantError(t, ts.post(t, "/l/o/set-status", q), 401, chatnode.EUnauthorized)
}

func TestOperatorActions(t *testing.T) {
	ts := mustRunServer(t, Options{})
	for _, tc := range []struct {
		form url.Values
		want actors.OperatorRequest
	}{
		{operatorForm("action", "chat.take", "chat-id", "c1"),
			actors.OperatorRequest{Action: actors.ActTake, ChatID: "c1"}},
		{operatorForm("action", "chat.message", "chat-id", "c1", "message", "How can I help?", "client-side-id", "o1"),
			actors.OperatorRequest{Action: actors.ActMessage, ChatID: "c1", Message: "How can I help?", ClientSideID: "o1"}},
		{operatorForm("action", "chat.close", "chat-id", "c1"),
			actors.OperatorRequest{Action: actors.ActClose, ChatID: "c1"}},
		{operatorForm("action", "chat.transfer", "chat-id", "c1", "operator-id", "9"),
			actors.OperatorRequest{Action: actors.ActTransfer, ChatID: "c1", ToOperatorID: "9"}},
		{operatorForm("action", "chat.transfer", "chat-id", "c1", "department-key", "sales"),
			actors.OperatorRequest{Action: actors.ActTransfer, ChatID: "c1", ToDepartmentKey: "sales"}},
		{operatorForm("action", "chat.operator_typing", "chat-id", "c1", "typing", "true", "message-draft", "Let me"),
			actors.OperatorRequest{Action: actors.ActOperatorTyping, ChatID: "c1", Typing: true, Draft: "Let me"}},
		{operatorForm("action", "chat.read_by_operator", "chat-id", "c1"),
			actors.OperatorRequest{Action: actors.ActReadByOperator, ChatID: "c1"}},
	} {
		t.Run(tc.form.Get("action"), func(t *testing.T) {
			wantOK(t, ts.post(t, "/l/o/action", tc.form))
			ts.fake.mu.Lock()
			got := *ts.fake.oacts[len(ts.fake.oacts)-1]
			ts.fake.mu.Unlock()
			tc.want.Token = testOperator
			if got != tc.want {
				t.Fatalf("request\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestOperatorDelta(t *testing.T) {
	ts := mustRunServer(t, Options{LongPollTimeout: 50 * time.Millisecond})
	a := ts.get(t, "/l/o/delta", operatorForm("since", "0"))
	if string(a.Body) != `{"revision":1,"fullUpdate":`+string(fullState)+`}` {
		t.Fatalf("%s", a.Body)
	}
	if a := ts.get(t, "/l/o/delta", operatorForm("since", "1")); string(a.Body) != "{}" {
		t.Fatalf("%s", a.Body)
	}
	ts.fake.news <- &actors.Update{Revision: 5, Deltas: []json.RawMessage{json.RawMessage(`{"objectType":"QUEUE","event":"add","id":"c9","data":{}}`)}}
	if a := ts.get(t, "/l/o/delta", operatorForm("since", "4")); string(a.Body) != `{"revision":5,"deltaList":[{"objectType":"QUEUE","event":"add","id":"c9","data":{}}]}` {
		t.Fatalf("%s", a.Body)
	}
}

func TestOperatorHistory(t *testing.T) {
	ts := mustRunServer(t, Options{})
	a := ts.get(t, "/l/o/history", operatorForm("chat-id", "c1", "before", "cur-1", "limit", "1"))
	if a.Status != 200 || string(a.Body) != `{"messages":[{"id":"m2","text":"second"}],"next":""}` {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	ts.fake.mu.Lock()
	got := ts.fake.before
	ts.fake.mu.Unlock()
	if !reflect.DeepEqual(got, []string{"cur-1"}) {
		t.Fatalf("%q", got)
	}
}

func TestShutdownEndsLongPolls(t *testing.T) {
	fake := newFake()
	s := New(Options{Backend: fake, LongPollTimeout: time.Hour, RateLimit: -1})
	ts := &testServer{Server: s, fake: fake}
	ln := listen(t)
	ts.base = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	got := make(chan answer, 1)
	go func() { got <- ts.get(t, "/l/o/delta", operatorForm("since", "1")) }()
	checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if s.Stats().LongPolls != 1 {
			return errorf("not held yet")
		}
		return nil
	})
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		if a.Status != 200 || string(a.Body) != "{}" {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll still held")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
