package actors

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/store"
)

// openStore opens an SQLite store in dir with its writer; Cleanup closes them.
func openStore(t *testing.T, dir string) (store.Store, *store.Writer) {
	t.Helper()
	st, err := store.OpenSQLite(bg, dir)
	if err != nil {
		t.Fatal(err)
	}
	w := store.NewWriter(st, store.WriterOptions{})
	t.Cleanup(func() { w.Close(); st.Close() })
	return st, w
}

// TestRestartRestoresState stops a hub and starts a new one on the same
// data: open chats, their messages, the queue, assignments, operator
// statuses and visitor sessions come back.
func TestRestartRestoresState(t *testing.T) {
	dir := t.TempDir()
	accounts := config.DefaultAccounts()
	accounts.Operators[0].MaxChats = 1 // alice: one chat, so the second waits
	accounts.Operators = accounts.Operators[:1]

	st, w := openStore(t, dir)
	h := New(Options{Store: st, Writer: w, Accounts: accounts, AssignTick: 20 * time.Millisecond})
	if err := h.Start(bg); err != nil {
		t.Fatal(err)
	}
	alice := newOperator(t, h, "alice", chatnode.StatusOnline)
	v1, v2 := newVisitor(t, h), newVisitor(t, h)
	if err := v1.do(VisitorRequest{Action: ActStart, FirstQuestion: "first chat"}); err != nil {
		t.Fatal(err)
	}
	chat1 := chatIDOf(t, alice.waitItem(objChat, "first chat"))
	for i := 0; i < 20; i++ {
		if err := v1.do(VisitorRequest{Action: ActMessage, Message: fmt.Sprintf("m%02d", i), ClientSideID: fmt.Sprintf("c%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := v2.do(VisitorRequest{Action: ActStart, FirstQuestion: "waiting chat"}); err != nil {
		t.Fatal(err)
	}
	v2.waitItem(objQueuePosition, "1")
	h.Stop()
	w.Close()
	st.Close()

	st2, w2 := openStore(t, dir)
	h2 := New(Options{Store: st2, Writer: w2, Accounts: accounts, AssignTick: 20 * time.Millisecond})
	if err := h2.Start(bg); err != nil {
		t.Fatal(err)
	}
	defer h2.Stop()

	// The visitor's session and open chat survive, with every message in order.
	u, err := h2.VisitorDelta(bg, v1.auth, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, func() error {
		u, err = h2.VisitorDelta(bg, v1.auth, 0, 0)
		if err != nil {
			return err
		}
		var f struct {
			Chat *struct {
				ID       int64
				State    string
				Messages []struct{ Text string }
			}
		}
		if err := json.Unmarshal(u.Full, &f); err != nil {
			return err
		}
		if f.Chat == nil || fmt.Sprint(f.Chat.ID) != chat1 || f.Chat.State != chatnode.ChatChatting {
			return fmt.Errorf("chat not restored: %s", u.Full)
		}
		var texts []string
		for _, m := range f.Chat.Messages {
			texts = append(texts, m.Text)
		}
		want := []string{"first chat", "Alice joined the chat"}
		for i := 0; i < 20; i++ {
			want = append(want, fmt.Sprintf("m%02d", i))
		}
		if fmt.Sprint(texts) != fmt.Sprint(want) {
			return fmt.Errorf("messages %v, want %v", texts, want)
		}
		return nil
	})
	// The operator is still online, holds chat 1 and sees chat 2 waiting;
	// closing chat 1 hands chat 2 to her, which proves load was restored.
	a2 := newOperator(t, h2, "alice", "")
	if !contains(string(a2.full), `"status":"online"`) || !contains(string(a2.full), "first chat") {
		t.Fatalf("operator state not restored: %s", a2.full)
	}
	if contains(string(a2.full), `"chats":[{"id"`) && contains(string(a2.full), "waiting chat") && !contains(string(a2.full), `"queue":[{`) {
		t.Fatalf("waiting chat should be queued, not assigned: %s", a2.full)
	}
	if err := a2.do(OperatorRequest{Action: ActClose, ChatID: chat1}); err != nil {
		t.Fatal(err)
	}
	a2.waitItem(objChat, "waiting chat")
}

// panicOn is a message that makes panicOnMiddleware panic inside the
// receiving actor.
type panicOn struct{}

func panicOnMiddleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		if _, ok := env.Message.(*panicOn); ok {
			panic("injected failure")
		}
		next(c, env)
	}
}

// TestSupervisionRestartsOneChat panics inside one chat actor: it restarts
// and reloads its chat from the store, and a sibling chat is untouched.
func TestSupervisionRestartsOneChat(t *testing.T) {
	st, w := openStore(t, t.TempDir())
	h := newTestHub(t, func(o *Options) {
		o.Store, o.Writer = st, w
		o.PropsOptions = func(kind string) []actor.PropsOption {
			if kind == kindChat {
				return []actor.PropsOption{actor.WithReceiverMiddleware(panicOnMiddleware)}
			}
			return nil
		}
	})
	v1, v2 := newVisitor(t, h), newVisitor(t, h)
	for _, v := range []*testVisitor{v1, v2} {
		if err := v.do(VisitorRequest{Action: ActMessage, Message: "before", ClientSideID: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	chat1 := chatIDOf(t, v1.waitItem(objChat, "before"))
	// Told like any message, the failure reaches the chat before the
	// visitor's next requests, which go to the running chat straight.
	h.tell(h.system.Root, h.chats, &route{id: chat1, msg: &panicOn{}}, nil)
	// The restarted chat knows its message: a resend is still idempotent,
	// and new messages continue the order.
	testutil.WaitFor(t, 5*time.Second, func() error {
		return v1.do(VisitorRequest{Action: ActMessage, Message: "before", ClientSideID: "b"})
	})
	if err := v1.do(VisitorRequest{Action: ActMessage, Message: "after", ClientSideID: "a"}); err != nil {
		t.Fatal(err)
	}
	m := v1.waitItem(objMessage, "after")
	if m.ID != chat1+"-2" {
		t.Fatalf("message after restart got id %s, want %s-2", m.ID, chat1)
	}
	if n := v1.count(objMessage, `"before"`); n != 0 {
		t.Fatalf("resend after restart produced a new message")
	}
	if err := v2.do(VisitorRequest{Action: ActMessage, Message: "sibling fine", ClientSideID: "s"}); err != nil {
		t.Fatal(err)
	}
	v2.waitItem(objMessage, "sibling fine")
}

// TestSupervisionRestartsOneOperator panics inside an operator actor: it
// restarts with its status and its chat, recalled from the assigner.
func TestSupervisionRestartsOneOperator(t *testing.T) {
	h := newTestHub(t, func(o *Options) {
		o.PropsOptions = func(kind string) []actor.PropsOption {
			if kind == kindOperator {
				return []actor.PropsOption{actor.WithReceiverMiddleware(panicOnMiddleware)}
			}
			return nil
		}
	})
	alice := newOperator(t, h, "alice", chatnode.StatusOnline)
	v := newVisitor(t, h)
	if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: "before the crash"}); err != nil {
		t.Fatal(err)
	}
	chatID := chatIDOf(t, alice.waitItem(objChat, "before the crash"))
	sink := &endSink{}
	if _, err := h.OperatorSubscribe(bg, alice.token, 0, sink); err != nil {
		t.Fatal(err)
	}
	h.tell(h.system.Root, h.operators, &route{id: "1", msg: &panicOn{}}, nil)
	// The WebSocket of the failed incarnation is told to reconnect.
	testutil.WaitFor(t, 5*time.Second, func() error {
		if code := chatnode.ErrorCode(sink.ended()); code != chatnode.EUnavailable {
			return fmt.Errorf("sink ended with %q", code)
		}
		return nil
	})
	testutil.WaitFor(t, 5*time.Second, func() error {
		u, err := h.OperatorDelta(bg, alice.token, 0, 0)
		if err != nil {
			return err
		}
		if !contains(string(u.Full), `"status":"online"`) || !contains(string(u.Full), "before the crash") {
			return fmt.Errorf("operator not recalled yet: %s", u.Full)
		}
		return nil
	})
	if err := alice.do(OperatorRequest{Action: ActMessage, ChatID: chatID, Message: "after the crash"}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objMessage, "after the crash")
}

// TestRestoredVisitorWritesIntoItsChat: the first request of a visitor
// restored from the store is a message; it goes into the open chat instead
// of starting a second one.
func TestRestoredVisitorWritesIntoItsChat(t *testing.T) {
	dir := t.TempDir()
	st, w := openStore(t, dir)
	h := New(Options{Store: st, Writer: w, AssignTick: 20 * time.Millisecond})
	if err := h.Start(bg); err != nil {
		t.Fatal(err)
	}
	v := newVisitor(t, h)
	if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: "before"}); err != nil {
		t.Fatal(err)
	}
	chatID := chatIDOf(t, v.waitItem(objChat, "before"))
	h.Stop()
	w.Close()
	st.Close()

	st2, w2 := openStore(t, dir)
	h2 := New(Options{Store: st2, Writer: w2, AssignTick: 20 * time.Millisecond})
	if err := h2.Start(bg); err != nil {
		t.Fatal(err)
	}
	defer h2.Stop()
	if err := h2.VisitorAction(bg, &VisitorRequest{Auth: v.auth, Action: ActMessage, Message: "after", ClientSideID: "a"}); err != nil {
		t.Fatal(err)
	}
	msgs, err := st2.Messages(bg, chatID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(msgs); n != 2 || msgs[1].Text != "after" {
		t.Fatalf("the restored chat has %d messages %+v, want the message after the restart in it", n, msgs)
	}
}

// endSink is a subscriber that records how its stream ended.
type endSink struct {
	mu  sync.Mutex
	err error
}

func (s *endSink) Push(*Update) bool { return true }

func (s *endSink) End(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *endSink) ended() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
