package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/testutil"
)

var bg = context.Background()

func newTestHub(t *testing.T, mutate func(*Options)) *Hub {
	t.Helper()
	opts := Options{AssignTick: 20 * time.Millisecond, RequestTimeout: 5 * time.Second}
	if mutate != nil {
		mutate(&opts)
	}
	h := New(opts)
	if err := h.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h
}

// item is a decoded delta item.
type item struct {
	ObjectType string          `json:"objectType"`
	Event      string          `json:"event"`
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data"`
}

// stream follows one subscriber stream through long polls, like a client.
type stream struct {
	t     *testing.T
	since int64
	full  json.RawMessage
	items []item
	poll  func(since int64) (*Update, error)
}

func (s *stream) take(u *Update) {
	s.t.Helper()
	if u.Empty() {
		return
	}
	if u.Revision <= s.since && s.since != 0 {
		s.t.Fatalf("revision went back: %d after %d", u.Revision, s.since)
	}
	s.since = u.Revision
	if u.Full != nil {
		s.full = u.Full
	}
	for _, d := range u.Deltas {
		var it item
		if err := json.Unmarshal(d, &it); err != nil {
			s.t.Fatal(err)
		}
		s.items = append(s.items, it)
	}
}

// waitItem polls until an item matching objectType (and data containing
// want, when given) arrived, and returns it.
func (s *stream) waitItem(objectType, want string) item {
	s.t.Helper()
	var found item
	testutil.WaitFor(s.t, 5*time.Second, func() error {
		for _, it := range s.items {
			if it.ObjectType == objectType && (want == "" || contains(string(it.Data), want)) {
				found = it
				return nil
			}
		}
		u, err := s.poll(s.since)
		if err != nil {
			return err
		}
		s.take(u)
		return fmt.Errorf("no %s item with %q among %d items", objectType, want, len(s.items))
	})
	return found
}

func (s *stream) count(objectType, want string) int {
	n := 0
	for _, it := range s.items {
		if it.ObjectType == objectType && (want == "" || contains(string(it.Data), want)) {
			n++
		}
	}
	return n
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

type testVisitor struct {
	*stream
	h    *Hub
	auth VisitorAuth
}

func newVisitor(t *testing.T, h *Hub) *testVisitor {
	t.Helper()
	u, err := h.VisitorInit(bg, &InitRequest{DeviceID: "d1", Platform: "ios"})
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ PageID, AuthToken string }
	if err := json.Unmarshal(u.Full, &f); err != nil {
		t.Fatal(err)
	}
	v := &testVisitor{h: h, auth: VisitorAuth{PageID: f.PageID, AuthToken: f.AuthToken}}
	v.stream = &stream{t: t, since: u.Revision, full: u.Full, poll: func(since int64) (*Update, error) {
		return h.VisitorDelta(bg, v.auth, since, 20*time.Millisecond)
	}}
	return v
}

func (v *testVisitor) do(req VisitorRequest) error {
	req.Auth = v.auth
	return v.h.VisitorAction(bg, &req)
}

type testOperator struct {
	*stream
	h     *Hub
	token string
}

func newOperator(t *testing.T, h *Hub, login, status string) *testOperator {
	t.Helper()
	res, err := h.OperatorLogin(bg, login, "password")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOperator{h: h, token: res.Token}
	o.stream = &stream{t: t, poll: func(since int64) (*Update, error) {
		return h.OperatorDelta(bg, o.token, since, 20*time.Millisecond)
	}}
	u, err := h.OperatorDelta(bg, o.token, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	o.take(u)
	if status != "" {
		if err := h.OperatorSetStatus(bg, o.token, status); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func (o *testOperator) do(req OperatorRequest) error {
	req.Token = o.token
	return o.h.OperatorAction(bg, &req)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := chatnode.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// chatID returns the id of the visitor's current chat from its CHAT item.
func chatIDOf(t *testing.T, it item) string {
	var c struct{ ID int64 }
	if err := json.Unmarshal(it.Data, &c); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(c.ID)
}

func TestChatLifecycle(t *testing.T) {
	h := newTestHub(t, nil)
	v := newVisitor(t, h)
	if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: "Where is my order?", ClientSideID: "c1"}); err != nil {
		t.Fatal(err)
	}
	chat := v.waitItem(objChat, `"state":"queue"`)
	chatID := chatIDOf(t, chat)
	v.waitItem(objQueuePosition, "1")

	alice := newOperator(t, h, "alice", chatnode.StatusOnline)
	alice.waitItem(objChat, `"state":"chatting"`)
	v.waitItem(objState, `"chatting"`)
	v.waitItem(objOperator, `"fullname":"Alice"`)
	v.waitItem(objMessage, `Alice joined the chat`)

	if err := alice.do(OperatorRequest{Action: ActMessage, ChatID: chatID, Message: "Let me check", ClientSideID: "o1"}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objMessage, `Let me check`)
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "Thanks", ClientSideID: "m2"}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objMessage, `Thanks`)

	if err := alice.do(OperatorRequest{Action: ActOperatorTyping, ChatID: chatID, Typing: true}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objOperatorTyping, "true")
	if err := v.do(VisitorRequest{Action: ActVisitorTyping, Typing: true, Draft: "hel"}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objVisitorTyping, `"draft":"hel"`)
	if err := v.do(VisitorRequest{Action: ActReadByVisitor}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objReadByVisitor, "true")
	if err := alice.do(OperatorRequest{Action: ActReadByOperator, ChatID: chatID}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objMessageRead, "true")

	wantCode(t, v.do(VisitorRequest{Action: ActRate, Rate: 3}), chatnode.ERateIncorrect)
	if err := v.do(VisitorRequest{Action: ActRate, Rate: 2}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objRate, `"rating":2`)
	if err := v.do(VisitorRequest{Action: ActClose}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objState, `"closed_by_visitor"`)
	alice.waitItem(objState, `"closed_by_visitor"`)
	alice.waitItem(objChat, "") // the closed chat leaves the operator's list

	// A message after close opens a new chat.
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "One more thing", ClientSideID: "m3"}); err != nil {
		t.Fatal(err)
	}
	v.waitNewChat(chatID, "One more thing")
}

// waitNewChat polls until the visitor's stream shows a chat other than
// closed that holds text.
func (v *testVisitor) waitNewChat(closed, text string) {
	v.t.Helper()
	testutil.WaitFor(v.t, 5*time.Second, func() error {
		u, err := v.h.VisitorDelta(bg, v.auth, v.since, 10*time.Millisecond)
		if err != nil {
			return err
		}
		v.take(u)
		for _, it := range v.items {
			if it.ObjectType == objChat && chatIDOf(v.t, it) != closed && contains(string(it.Data), text) {
				return nil
			}
		}
		return fmt.Errorf("no new chat with %q yet", text)
	})
}

func TestIdempotentMessage(t *testing.T) {
	h := newTestHub(t, nil)
	v := newVisitor(t, h)
	if err := v.do(VisitorRequest{Action: ActStart, ClientSideID: "s"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = v.do(VisitorRequest{Action: ActMessage, Message: "hello once", ClientSideID: "same"})
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "hello once", ClientSideID: "same"}); err != nil {
		t.Fatal(err)
	}
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "marker", ClientSideID: "other"}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objMessage, "marker")
	if n := v.count(objMessage, "hello once"); n != 1 {
		t.Fatalf("message with one client-side id arrived %d times", n)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.MaxMessageLength = 10 })
	v := newVisitor(t, h)
	wantCode(t, v.do(VisitorRequest{Action: ActClose}), chatnode.ENoChat)
	wantCode(t, v.do(VisitorRequest{Action: ActMessage, Message: "far too long for the limit"}), chatnode.EMessageTooLong)
	wantCode(t, v.do(VisitorRequest{Action: ActStart, DepartmentKey: "nope"}), chatnode.EUnknownDepartment)
	wantCode(t, v.do(VisitorRequest{Action: "chat.fly"}), chatnode.EUnknownAction)
	wantCode(t, h.VisitorAction(bg, &VisitorRequest{Auth: VisitorAuth{PageID: v.auth.PageID, AuthToken: "wrong"}, Action: ActStart}), chatnode.EReinitRequired)
	u, err := h.VisitorDelta(bg, v.auth, v.since, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Empty() {
		t.Fatalf("rejected requests changed the stream: %+v", u)
	}

	o := newOperator(t, h, "bob", "")
	wantCode(t, h.OperatorSetStatus(bg, o.token, "sleeping"), chatnode.EStatusUnknown)
	wantCode(t, h.OperatorSetStatus(bg, "forged.token.sig", chatnode.StatusOnline), chatnode.EUnauthorized)
	wantCode(t, o.do(OperatorRequest{Action: ActMessage, ChatID: "123", Message: "hi"}), chatnode.EOperatorNotInChat)
	wantCode(t, o.do(OperatorRequest{Action: "chat.fly", ChatID: "1"}), chatnode.EUnknownAction)
	_, err = h.OperatorLogin(bg, "bob", "wrong")
	wantCode(t, err, chatnode.EWrongCredentials)
	_, err = h.OperatorLogin(bg, "nobody", "password")
	wantCode(t, err, chatnode.EWrongCredentials)
}

func TestManualTakeRace(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.ManualAssignment = true })
	alice := newOperator(t, h, "alice", chatnode.StatusOnline)
	bob := newOperator(t, h, "bob", chatnode.StatusOnline)
	for round := 0; round < 20; round++ {
		v := newVisitor(t, h)
		if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: fmt.Sprintf("q%d", round), DepartmentKey: "support"}); err != nil {
			t.Fatal(err)
		}
		chatID := chatIDOf(t, v.waitItem(objChat, "queue"))
		alice.waitItem(objQueue, fmt.Sprintf("q%d", round))
		bob.waitItem(objQueue, fmt.Sprintf("q%d", round))
		var wg sync.WaitGroup
		var errA, errB error
		wg.Add(2)
		go func() { defer wg.Done(); errA = alice.do(OperatorRequest{Action: ActTake, ChatID: chatID}) }()
		go func() { defer wg.Done(); errB = bob.do(OperatorRequest{Action: ActTake, ChatID: chatID}) }()
		wg.Wait()
		if (errA == nil) == (errB == nil) {
			t.Fatalf("round %d: exactly one take must win: alice %v, bob %v", round, errA, errB)
		}
		loser := errA
		if loser == nil {
			loser = errB
		}
		wantCode(t, loser, chatnode.EChatTaken)
		winner := alice
		if errA != nil {
			winner = bob
		}
		if err := winner.do(OperatorRequest{Action: ActClose, ChatID: chatID}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTransfer(t *testing.T) {
	h := newTestHub(t, nil)
	alice := newOperator(t, h, "alice", chatnode.StatusOnline)
	v := newVisitor(t, h)
	if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: "billing question", DepartmentKey: "support"}); err != nil {
		t.Fatal(err)
	}
	chatID := chatIDOf(t, alice.waitItem(objChat, "billing question"))
	bob := newOperator(t, h, "bob", chatnode.StatusOnline)

	if err := alice.do(OperatorRequest{Action: ActTransfer, ChatID: chatID, ToOperatorID: "2"}); err != nil {
		t.Fatal(err)
	}
	bob.waitItem(objChat, "billing question")
	alice.waitItem(objChat, "") // released
	v.waitItem(objMessage, "transferred to Bob")
	wantCode(t, alice.do(OperatorRequest{Action: ActMessage, ChatID: chatID, Message: "still mine?"}), chatnode.EOperatorNotInChat)
	if err := bob.do(OperatorRequest{Action: ActMessage, ChatID: chatID, Message: "Bob here"}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objMessage, "Bob here")

	// Back to a department queue: the assigner hands it to the least loaded.
	if err := bob.do(OperatorRequest{Action: ActTransfer, ChatID: chatID, ToDepartmentKey: "sales"}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objMessage, "transferred to Sales")
	alice.waitItem(objChat, "transferred to Sales")
	wantCode(t, bob.do(OperatorRequest{Action: ActTransfer, ChatID: chatID, ToDepartmentKey: "sales"}), chatnode.EOperatorNotInChat)
}

func TestClosingFreesCapacity(t *testing.T) {
	accounts := config.DefaultAccounts()
	accounts.Operators = accounts.Operators[:1]
	accounts.Operators[0].MaxChats = 1
	h := newTestHub(t, func(o *Options) { o.Accounts = accounts })
	alice := newOperator(t, h, "alice", chatnode.StatusOnline)
	v1, v2 := newVisitor(t, h), newVisitor(t, h)
	if err := v1.do(VisitorRequest{Action: ActStart, FirstQuestion: "first"}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objChat, "first")
	if err := v2.do(VisitorRequest{Action: ActStart, FirstQuestion: "second"}); err != nil {
		t.Fatal(err)
	}
	v2.waitItem(objQueuePosition, "1")
	chat1 := chatIDOf(t, v1.waitItem(objChat, "first"))
	if err := alice.do(OperatorRequest{Action: ActClose, ChatID: chat1}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objChat, "second")
	v2.waitItem(objState, "chatting")
}

func TestQueuePositionsMove(t *testing.T) {
	h := newTestHub(t, nil)
	v1, v2 := newVisitor(t, h), newVisitor(t, h)
	if err := v1.do(VisitorRequest{Action: ActStart, FirstQuestion: "a", DepartmentKey: "sales"}); err != nil {
		t.Fatal(err)
	}
	if err := v2.do(VisitorRequest{Action: ActStart, FirstQuestion: "b", DepartmentKey: "sales"}); err != nil {
		t.Fatal(err)
	}
	v2.waitItem(objQueuePosition, "2")
	if err := v1.do(VisitorRequest{Action: ActClose}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, func() error {
		u, err := h.VisitorDelta(bg, v2.auth, v2.since, 10*time.Millisecond)
		if err != nil {
			return err
		}
		v2.take(u)
		last := v2.items[len(v2.items)-1]
		if last.ObjectType == objQueuePosition && string(last.Data) == "1" {
			return nil
		}
		return fmt.Errorf("position not 1 yet: %s", last.Data)
	})
}

// TestQueueViewWindow: an operator's queue view shows the oldest waiting
// chats up to QueueViewSize; a taken chat makes room for the next.
func TestQueueViewWindow(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.ManualAssignment, o.QueueViewSize = true, 2 })
	alice := newOperator(t, h, "alice", chatnode.StatusOnline)
	var first string
	for i := 0; i < 3; i++ {
		v := newVisitor(t, h)
		if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: fmt.Sprintf("w%d", i)}); err != nil {
			t.Fatal(err)
		}
		id := chatIDOf(t, v.waitItem(objChat, "queue"))
		if i == 0 {
			first = id
		}
	}
	alice.waitItem(objQueue, "w1")
	if n := alice.count(objQueue, "w2"); n != 0 {
		t.Fatalf("the third chat is beyond the view of 2 but was shown")
	}
	if err := alice.do(OperatorRequest{Action: ActTake, ChatID: first}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objQueue, "w2")
}

// TestQueueViewAfterABigPass: a pass that assigns more chats than a view
// shows still takes each from the views that showed it, in order, and
// refills them from the chats still waiting.
func TestQueueViewAfterABigPass(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.QueueViewSize = 2 })
	alice := newOperator(t, h, "alice", chatnode.StatusInvisible) // sees the queue, is given no chats
	ids := make([]string, 6)
	for i := range ids {
		v := newVisitor(t, h)
		if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: fmt.Sprintf("w%d", i)}); err != nil {
			t.Fatal(err)
		}
		ids[i] = chatIDOf(t, v.waitItem(objChat, "queue"))
	}
	alice.waitItem(objQueue, "w1")
	newOperator(t, h, "bob", chatnode.StatusOnline) // takes five in one pass
	alice.waitItem(objQueue, "w5")
	var dels []string
	for _, it := range alice.items {
		if it.ObjectType == objQueue && it.Event == "del" {
			dels = append(dels, it.ID)
		}
	}
	if want := []string{ids[0], ids[1]}; !slices.Equal(dels, want) {
		t.Errorf("alice's view lost %v, want %v", dels, want)
	}
	if n := alice.count(objQueue, "w2"); n != 0 {
		t.Errorf("a chat assigned in the same pass was shown")
	}
}
