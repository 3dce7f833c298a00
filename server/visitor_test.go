package server

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/actors"
)

// A real iOS SDK init query (3.43.1).
const iosInit = "device-id=5E1C1E7A-0B2D-4E61-9D7A-8B3C8A5D9F10&event=init&location=mobile&platform=ios&respond-immediately=1&since=0&title=iOS%20Client&visit-session-id=vs-1&visitor=%7B%22id%22%3A%22v1%22%2C%22fields%22%3A%7B%22name%22%3A%22Guest%22%7D%7D"

func TestVisitorInit(t *testing.T) {
	ts := mustRunServer(t, Options{})
	for _, tc := range []struct{ name, method, path, body string }{
		{"GET", "GET", "/l/v/m/init?" + iosInit, ""},
		{"POST form", "POST", "/l/v/m/init", iosInit},
		{"Android delta?event=init", "GET", "/l/v/m/delta?" + iosInit, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ts.raw(t, tc.method, tc.path, tc.body)
			if a.Status != 200 || a.Header.Get("Content-Type") != contentTypeJSON {
				t.Fatalf("%d %s", a.Status, a.Body)
			}
			want := `{"revision":1,"fullUpdate":` + string(fullState) + `}`
			if string(a.Body) != want {
				t.Fatalf("body\n got %s\nwant %s", a.Body, want)
			}
			ts.fake.mu.Lock()
			req := ts.fake.inits[len(ts.fake.inits)-1]
			ts.fake.mu.Unlock()
			want2 := &actors.InitRequest{
				VisitSessionID: "vs-1",
				DeviceID:       "5E1C1E7A-0B2D-4E61-9D7A-8B3C8A5D9F10",
				Platform:       "ios",
				Location:       "mobile",
				Title:          "iOS Client",
				Visitor:        json.RawMessage(`{"id":"v1","fields":{"name":"Guest"}}`),
			}
			if !reflect.DeepEqual(req, want2) {
				t.Fatalf("request\n got %+v\nwant %+v", req, want2)
			}
		})
	}
}

func TestVisitorDelta(t *testing.T) {
	ts := mustRunServer(t, Options{LongPollTimeout: 100 * time.Millisecond})

	t.Run("timeout answers {}", func(t *testing.T) {
		start := time.Now()
		a := ts.get(t, "/l/v/m/delta", visitorForm("since", "1", "ts", "794000000000"))
		if a.Status != 200 || string(a.Body) != "{}" {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("answered after %v, before the wait", d)
		}
	})

	t.Run("news answers at once", func(t *testing.T) {
		ts := mustRunServer(t, Options{LongPollTimeout: time.Minute})
		got := make(chan answer, 1)
		go func() { got <- ts.get(t, "/l/v/m/delta", visitorForm("since", "1")) }()
		checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
			if ts.Stats().LongPolls != 1 {
				return errorf("long polls %d", ts.Stats().LongPolls)
			}
			return nil
		})
		ts.fake.news <- &actors.Update{Revision: 2, Deltas: []json.RawMessage{
			json.RawMessage(`{"objectType":"CHAT_STATE","event":"upd","id":"1","data":"chatting"}`),
			json.RawMessage(`{"objectType":"QUEUE_POSITION","event":"upd","id":"1","data":0}`),
		}}
		select {
		case a := <-got:
			want := `{"revision":2,"deltaList":[{"objectType":"CHAT_STATE","event":"upd","id":"1","data":"chatting"},{"objectType":"QUEUE_POSITION","event":"upd","id":"1","data":0}]}`
			if a.Status != 200 || string(a.Body) != want {
				t.Fatalf("%d %s", a.Status, a.Body)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no answer")
		}
		if n := ts.Stats().LongPolls; n != 0 {
			t.Fatalf("long polls %d after the answer", n)
		}
	})

	t.Run("since 0 answers the full state", func(t *testing.T) {
		a := ts.get(t, "/l/v/m/delta", visitorForm("since", "0"))
		if !strings.HasPrefix(string(a.Body), `{"revision":1,"fullUpdate":{`) {
			t.Fatalf("%s", a.Body)
		}
	})

	t.Run("unknown page is reinit-required with 200", func(t *testing.T) {
		q := visitorForm("since", "3")
		q.Set("auth-token", "stale")
		wantError(t, ts.get(t, "/l/v/m/delta", q), 200, chatnode.EReinitRequired)
	})
}

func TestVisitorActions(t *testing.T) {
	ts := mustRunServer(t, Options{})
	for _, tc := range []struct {
		form url.Values
		want actors.VisitorRequest
	}{
		{visitorForm("action", "chat.start", "force-online", "1", "client-side-id", "c1", "department-key", "sales", "first-question", "Hi there"),
			actors.VisitorRequest{Action: actors.ActStart, ClientSideID: "c1", DepartmentKey: "sales", FirstQuestion: "Hi there"}},
		{visitorForm("action", "chat.message", "message", "Hello,\nworld ☃", "client-side-id", "c2"),
			actors.VisitorRequest{Action: actors.ActMessage, Message: "Hello,\nworld ☃", ClientSideID: "c2"}},
		{visitorForm("action", "chat.visitor_typing", "typing", "1", "del-message-draft", "0", "message-draft", "Hel"),
			actors.VisitorRequest{Action: actors.ActVisitorTyping, Typing: true, Draft: "Hel"}},
		{visitorForm("action", "chat.visitor_typing", "typing", "false", "del-message-draft", "true", "message-draft", "x"),
			actors.VisitorRequest{Action: actors.ActVisitorTyping}},
		{visitorForm("action", "chat.read_by_visitor"),
			actors.VisitorRequest{Action: actors.ActReadByVisitor}},
		{visitorForm("action", "chat.close"),
			actors.VisitorRequest{Action: actors.ActClose}},
		{visitorForm("action", "chat.operator_rate_select", "operator_id", "7", "rate", "-2"),
			actors.VisitorRequest{Action: actors.ActRate, OperatorID: "7", Rate: -2}},
	} {
		t.Run(tc.form.Get("action"), func(t *testing.T) {
			wantOK(t, ts.post(t, "/l/v/m/action", tc.form))
			ts.fake.mu.Lock()
			got := *ts.fake.vacts[len(ts.fake.vacts)-1]
			ts.fake.mu.Unlock()
			tc.want.Auth = testAuth
			if got != tc.want {
				t.Fatalf("request\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		wantOK(t, ts.get(t, "/l/v/m/action", visitorForm("action", "chat.close")))
	})
	t.Run("domain error", func(t *testing.T) {
		q := visitorForm("action", "chat.close")
		q.Set("page-id", "other")
		wantError(t, ts.post(t, "/l/v/m/action", q), 200, chatnode.EReinitRequired)
	})
}

func TestVisitorHistory(t *testing.T) {
	ts := mustRunServer(t, Options{})
	a := ts.get(t, "/l/v/m/history", visitorForm("before-ts", "1700000000000000"))
	want := `{"result":"ok","data":{"messages":[{"id":"m1","text":"first"},{"id":"m2","text":"second"}],"hasMore":true}}`
	if a.Status != 200 || string(a.Body) != want {
		t.Fatalf("before-ts: %d %s", a.Status, a.Body)
	}
	// Android's milliseconds are taken as such.
	ts.get(t, "/l/v/m/history", visitorForm("before-ts", "1700000000000"))
	// The since form: the first request gets the newest page and a
	// revision, later ones nothing new.
	a = ts.get(t, "/l/v/m/history", visitorForm())
	want = `{"result":"ok","data":{"messages":[{"id":"m1","text":"first"},{"id":"m2","text":"second"}],"hasMore":true,"revision":"1"}}`
	if string(a.Body) != want {
		t.Fatalf("initial since: %s", a.Body)
	}
	calls := ts.fake.callCount()
	a = ts.get(t, "/l/v/m/history", visitorForm("since", "1"))
	want = `{"result":"ok","data":{"messages":[],"hasMore":false,"revision":"1"}}`
	if string(a.Body) != want {
		t.Fatalf("since: %s", a.Body)
	}
	if ts.fake.callCount() != calls {
		t.Fatal("since poll reached the backend")
	}
	ts.fake.mu.Lock()
	got := ts.fake.before
	ts.fake.mu.Unlock()
	if !reflect.DeepEqual(got, []string{"1700000000000000", "1700000000000000", ""}) {
		t.Fatalf("cursors %q", got)
	}
}

func errorf(format string, args ...any) error {
	return &chatnode.Error{Code: "test", Message: sprintf(format, args...)}
}
