package server

import (
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatnode/chatnode"
)

// TestBadInput checks that every class of bad request gets its error code
// and never reaches the backend.
func TestBadInput(t *testing.T) {
	ts := mustRunServer(t, Options{})
	v := "page-id=page-1&auth-token=token-1&"
	o := "auth-token=op-token&"
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, argument           string
	}{
		{"visitor action without token", "POST", "/l/v/m/action", "page-id=page-1&action=chat.close", 401, chatnode.EUnauthorized, ""},
		{"visitor action without page", "POST", "/l/v/m/action", "auth-token=token-1&action=chat.close", 401, chatnode.EUnauthorized, ""},
		{"delta without token", "GET", "/l/v/m/delta?since=1", "", 401, chatnode.EUnauthorized, ""},
		{"operator action without token", "POST", "/l/o/action", "action=chat.take&chat-id=1", 401, chatnode.EUnauthorized, ""},
		{"operator delta without token", "GET", "/l/o/delta?since=1", "", 401, chatnode.EUnauthorized, ""},
		{"set-status without token", "POST", "/l/o/set-status", "status=online", 401, chatnode.EUnauthorized, ""},
		{"history without token", "GET", "/l/o/history?chat-id=1", "", 401, chatnode.EUnauthorized, ""},
		{"missing action", "POST", "/l/v/m/action", v, 400, chatnode.EWrongArgument, "action"},
		{"unknown action", "POST", "/l/v/m/action", v + "action=chat.explode", 400, chatnode.EUnknownAction, ""},
		{"unknown operator action", "POST", "/l/o/action", o + "action=chat.explode&chat-id=1", 400, chatnode.EUnknownAction, ""},
		{"missing message", "POST", "/l/v/m/action", v + "action=chat.message&client-side-id=c1", 400, chatnode.EWrongArgument, "message"},
		{"missing client-side-id", "POST", "/l/v/m/action", v + "action=chat.message&message=hi", 400, chatnode.EWrongArgument, "client-side-id"},
		{"file message", "POST", "/l/v/m/action", v + "action=chat.message&message=hi&client-side-id=c&kind=file_visitor", 400, chatnode.EWrongArgument, "kind"},
		{"malformed since", "GET", "/l/v/m/delta?" + v + "since=12abc", "", 400, chatnode.EWrongArgument, "since"},
		{"negative since", "GET", "/l/o/delta?" + o + "since=-1", "", 400, chatnode.EWrongArgument, "since"},
		{"huge since", "GET", "/l/v/m/delta?" + v + "since=99999999999999999999999", "", 400, chatnode.EWrongArgument, "since"},
		{"malformed ts", "GET", "/l/v/m/delta?" + v + "since=1&ts=now", "", 400, chatnode.EWrongArgument, "ts"},
		{"malformed rate", "POST", "/l/v/m/action", v + "action=chat.operator_rate_select&rate=five", 400, chatnode.EWrongArgument, "rate"},
		{"missing rate", "POST", "/l/v/m/action", v + "action=chat.operator_rate_select&operator_id=1", 400, chatnode.EWrongArgument, "rate"},
		{"rate out of range", "POST", "/l/v/m/action", v + "action=chat.operator_rate_select&rate=3", 400, chatnode.ERateIncorrect, ""},
		{"malformed typing", "POST", "/l/v/m/action", v + "action=chat.visitor_typing&typing=yes", 400, chatnode.EWrongArgument, "typing"},
		{"missing typing", "POST", "/l/o/action", o + "action=chat.operator_typing&chat-id=1", 400, chatnode.EWrongArgument, "typing"},
		{"invalid UTF-8 message", "POST", "/l/v/m/action", v + "action=chat.message&client-side-id=c1&message=%ff%fe", 400, chatnode.EWrongArgument, "message"},
		{"invalid UTF-8 token", "POST", "/l/v/m/action", "page-id=%c3%28&auth-token=t&action=chat.close", 400, chatnode.EWrongArgument, "page-id"},
		{"invalid UTF-8 title", "GET", "/l/v/m/init?title=%80", "", 400, chatnode.EWrongArgument, "title"},
		{"control character in id", "POST", "/l/v/m/action", v + "action=chat.start&department-key=a%0Ab", 400, chatnode.EWrongArgument, "department-key"},
		{"NUL in message", "POST", "/l/o/action", o + "action=chat.message&chat-id=1&client-side-id=c&message=a%00b", 400, chatnode.EWrongArgument, "message"},
		{"visitor not an object", "GET", "/l/v/m/init?visitor=%5B1%5D", "", 400, chatnode.EWrongArgument, "visitor"},
		{"visitor not JSON", "GET", "/l/v/m/init?visitor=%7Bname", "", 400, chatnode.EWrongArgument, "visitor"},
		{"event not init", "GET", "/l/v/m/init?event=hello", "", 400, chatnode.EWrongArgument, "event"},
		{"transfer to both", "POST", "/l/o/action", o + "action=chat.transfer&chat-id=1&operator-id=2&department-key=s", 400, chatnode.EWrongArgument, "operator-id"},
		{"transfer to nobody", "POST", "/l/o/action", o + "action=chat.transfer&chat-id=1", 400, chatnode.EWrongArgument, "operator-id"},
		{"missing chat-id", "POST", "/l/o/action", o + "action=chat.take", 400, chatnode.EWrongArgument, "chat-id"},
		{"unknown status", "POST", "/l/o/set-status", o + "status=away", 400, chatnode.EStatusUnknown, ""},
		{"missing password", "POST", "/l/o/login", "login=alice", 400, chatnode.EWrongArgument, "password"},
		{"history limit", "GET", "/l/o/history?" + o + "chat-id=1&limit=100000", "", 400, chatnode.EWrongArgument, "limit"},
		{"history before and before-ts", "GET", "/l/v/m/history?" + v + "before=x&before-ts=5", "", 400, chatnode.EWrongArgument, "before-ts"},
		{"socket without upgrade", "GET", "/ws/o/delta?" + o, "", 400, chatnode.EWrongArgument, "upgrade"},
		{"socket without token", "GET", "/ws/v/delta?page-id=p", "", 401, chatnode.EUnauthorized, ""},
		{"socket malformed since", "GET", "/ws/o/delta?" + o + "since=x", "", 400, chatnode.EWrongArgument, "since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := ts.fake.callCount()
			path, body := tc.path, tc.body
			if tc.method == "GET" && body != "" {
				path, body = path+"?"+body, ""
			}
			a := ts.raw(t, tc.method, path, body)
			wantError(t, a, tc.status, tc.code)
			if got, _ := a.JSON["argumentName"].(string); got != tc.argument {
				t.Fatalf("argumentName %q, want %q", got, tc.argument)
			}
			if n := ts.fake.callCount(); n != calls {
				t.Fatalf("backend called: %s", ts.fake.lastCall())
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	ts := mustRunServer(t, Options{MaxBodyBytes: 1024})
	form := visitorForm("action", "chat.message", "client-side-id", "c1", "message", strings.Repeat("a", 2000))
	a := ts.post(t, "/l/v/m/action", form)
	wantError(t, a, 413, chatnode.ETooLarge)
	if n := ts.fake.callCount(); n != 0 {
		t.Fatalf("backend called %d times", n)
	}
	// Just under the limit passes.
	form.Set("message", strings.Repeat("a", 900))
	wantOK(t, ts.post(t, "/l/v/m/action", form))
}

func TestHeadTooLarge(t *testing.T) {
	ts := mustRunServer(t, Options{})
	q := visitorForm("action", "chat.message", "client-side-id", "c1", "message", strings.Repeat("a", 20000))
	a := ts.get(t, "/l/v/m/action", q)
	wantError(t, a, 431, chatnode.ETooLarge)
}

func TestRateLimit(t *testing.T) {
	ts := mustRunServer(t, Options{RateLimit: 0.001, RateBurst: 2})
	form := visitorForm("action", "chat.close")
	wantOK(t, ts.post(t, "/l/v/m/action", form))
	wantOK(t, ts.post(t, "/l/v/m/action", form))
	wantError(t, ts.post(t, "/l/v/m/action", form), 429, chatnode.ERateLimited)
	if n := ts.fake.callCount(); n != 2 {
		t.Fatalf("backend called %d times", n)
	}
	// Another visitor has its own bucket; init and login are limited by
	// address.
	other := visitorForm("action", "chat.close")
	other.Set("auth-token", "token-2")
	wantError(t, ts.post(t, "/l/v/m/action", other), 200, chatnode.EReinitRequired)
	ts.get(t, "/l/v/m/init", nil)
	ts.post(t, "/l/o/login", url.Values{"login": {"a"}, "password": {"b"}})
	wantError(t, ts.get(t, "/l/v/m/init", nil), 429, chatnode.ERateLimited)
	if got := ts.Stats().RateLimited; got != 2 {
		t.Fatalf("rate limited %d", got)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := newLimiter(10, 20)
	now := time.Unix(1000, 0)
	for i := range 400_000 {
		l.allow([]byte("k"+itoa(i)), now)
	}
	if n := l.size(); n > limiterShards*limiterShardCap {
		t.Fatalf("%d buckets held", n)
	}
	// Buckets idle long enough to refill are forgotten.
	later := now.Add(3 * time.Second)
	for i := range 400_000 {
		l.allow([]byte("n"+itoa(i)), later)
	}
	l2 := newLimiter(10, 20)
	for i := range 50_000 {
		l2.allow([]byte("a"+itoa(i)), now)
	}
	for i := range 50_000 {
		l2.allow([]byte("b"+itoa(i)), now.Add(3*time.Second))
	}
	if n := l2.size(); n > 75_000 {
		t.Fatalf("idle buckets kept: %d", n)
	}
	// A bucket refills at the rate.
	l3 := newLimiter(1, 1)
	if !l3.allow([]byte("x"), now) || l3.allow([]byte("x"), now) || !l3.allow([]byte("x"), now.Add(time.Second)) {
		t.Fatal("bucket arithmetic")
	}
}

func itoa(i int) string { return sprintf("%d", i) }

// TestSlowlorisBodyIsBounded checks that a client announcing more than the
// limit is answered without the body being read.
func TestDeclaredBodyTooLarge(t *testing.T) {
	ts := mustRunServer(t, Options{MaxBodyBytes: 1024})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("POST /l/v/m/action HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	got := string(buf[:n])
	if !strings.HasPrefix(got, "HTTP/1.1 413") || !strings.Contains(got, `{"error":"request-entity-too-large"`) {
		t.Fatalf("%q", got)
	}
}
