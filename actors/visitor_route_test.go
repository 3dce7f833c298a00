package actors

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/internal/testutil"
)

// openChat starts a chat for a new visitor and has alice take it; it
// returns the visitor, alice and the chat's id once the visitor's route
// to the chat is published.
func openChat(t *testing.T, h *Hub) (*testVisitor, *testOperator, string) {
	t.Helper()
	v := newVisitor(t, h)
	if err := v.do(VisitorRequest{Action: ActStart, ClientSideID: "start"}); err != nil {
		t.Fatal(err)
	}
	chatID := chatIDOf(t, v.waitItem(objChat, `"state":"queue"`))
	alice := newOperator(t, h, "alice", chatnode.StatusOnline)
	alice.waitItem(objChat, `"state":"chatting"`)
	v.waitItem(objState, `"chatting"`)
	testutil.WaitFor(t, 5*time.Second, func() error {
		if r := routeOf(h, v); r == nil || r.chatID != chatID {
			return fmt.Errorf("route %+v, want one to chat %s", r, chatID)
		}
		return nil
	})
	return v, alice, chatID
}

func routeOf(h *Hub, v *testVisitor) *visitorRoute {
	id, _ := visitorID(v.auth.PageID)
	r, ok := h.visitorRoutes.Load(id)
	if !ok {
		return nil
	}
	return r.(*visitorRoute)
}

func TestVisitorMessagesTakeTheRoute(t *testing.T) {
	h := newTestHub(t, nil)
	v, alice, _ := openChat(t, h)
	r := routeOf(h, v)
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "along the route", ClientSideID: "m1"}); err != nil {
		t.Fatal(err)
	}
	if r.seen.Load() == 0 {
		t.Fatal("the message did not go along the route")
	}
	alice.waitItem(objMessage, "along the route")
	v.waitItem(objMessage, "along the route")

	// A resend along the route is answered from the chat, not written again.
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "along the route", ClientSideID: "m1"}); err != nil {
		t.Fatal(err)
	}

	// A wrong token gets the visitor actor's answer and changes nothing.
	bad := *v
	bad.auth.AuthToken = "not-the-token"
	wantCode(t, bad.do(VisitorRequest{Action: ActMessage, Message: "forged", ClientSideID: "m2"}), chatnode.EReinitRequired)

	if err := v.do(VisitorRequest{Action: ActMessage, Message: "marker", ClientSideID: "m3"}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objMessage, "marker")
	if n := alice.count(objMessage, "along the route"); n != 1 {
		t.Fatalf("the message arrived %d times", n)
	}
	if n := alice.count(objMessage, "forged"); n != 0 {
		t.Fatal("a message with a wrong token was delivered")
	}
}

// TestRouteToClosedChatFallsBack sends along a route that still names a
// chat the operator has closed, as happens when the message overtakes the
// close on its way to the visitor actor: the chat refuses it, and the
// visitor actor opens a new chat with it.
func TestRouteToClosedChatFallsBack(t *testing.T) {
	h := newTestHub(t, nil)
	v, alice, chatID := openChat(t, h)
	id, _ := visitorID(v.auth.PageID)
	stale := &visitorRoute{token: v.auth.AuthToken, chatID: chatID}
	if err := alice.do(OperatorRequest{Action: ActClose, ChatID: chatID}); err != nil {
		t.Fatal(err)
	}
	h.visitorRoutes.Store(id, stale) // the visitor actor deletes only its own route
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "after the close", ClientSideID: "m1"}); err != nil {
		t.Fatal(err)
	}
	if stale.seen.Load() == 0 {
		t.Fatal("the message did not try the stale route")
	}
	v.waitNewChat(chatID, "after the close")
	for _, it := range v.items {
		if it.ObjectType == objMessage && contains(string(it.Data), "after the close") && contains(string(it.Data), `"chatId":"`+chatID+`"`) {
			t.Fatalf("the closed chat took the message: %s", it.Data)
		}
	}
}

// TestRouteKeepsVisitorAwake checks that messages sent along the route
// count as the visitor's activity: the visitor actor passivates only when
// neither it nor its route has seen the visitor for the idle timeout.
func TestRouteKeepsVisitorAwake(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := newTestHub(t, func(o *Options) {
		o.Now = clock
		o.VisitorIdleTimeout = time.Hour // its timer never fires here: the test sends the checks
		o.ChatInactivityTimeout = 24 * time.Hour
	})
	v, _, _ := openChat(t, h)
	id, _ := visitorID(v.auth.PageID)
	pid := livePID(h, id)

	advance(2 * time.Hour)
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "still here", ClientSideID: "m1"}); err != nil {
		t.Fatal(err)
	}
	h.system.Root.Send(pid, &idleCheck{})
	// A request the visitor actor answers comes after the check: a retiring
	// actor hands it to a new incarnation.
	if _, err := h.VisitorDelta(bg, v.auth, v.since, 0); err != nil {
		t.Fatal(err)
	}
	if got := livePID(h, id); got == nil || !got.Equal(pid) {
		t.Fatalf("the visitor actor passivated although its route saw the visitor (%v, was %v)", got, pid)
	}

	advance(2 * time.Hour)
	h.system.Root.Send(pid, &idleCheck{})
	testutil.WaitFor(t, 5*time.Second, func() error {
		if got := livePID(h, id); got != nil && got.Equal(pid) {
			return fmt.Errorf("the idle visitor actor still runs")
		}
		return nil
	})
}

func livePID(h *Hub, id string) *actor.PID {
	h.liveVisitors.mu.RLock()
	defer h.liveVisitors.mu.RUnlock()
	return h.liveVisitors.m[id]
}
