package actors

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
)

// TestStraightSendsRacePassivation has visitor actors passivate after
// every request (a 1 ms idle timeout) while their visitors keep sending:
// requests reach a running visitor straight, through the live table, and
// race the directory stopping it. Every request must still be answered,
// and every message must reach the operator in the order sent.
func TestStraightSendsRacePassivation(t *testing.T) {
	st, w := openStore(t, t.TempDir())
	accounts := config.DefaultAccounts()
	accounts.Operators = accounts.Operators[:1]
	accounts.Operators[0].MaxChats = 100
	var incarnations atomic.Int64 // visitor actors started
	countStarts := func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if _, ok := env.Message.(*actor.Started); ok {
				incarnations.Add(1)
			}
			next(c, env)
		}
	}
	h := New(Options{Store: st, Writer: w, Accounts: accounts, AssignTick: 20 * time.Millisecond,
		VisitorIdleTimeout: time.Millisecond, RequestTimeout: 10 * time.Second,
		PropsOptions: func(kind string) []actor.PropsOption {
			if kind == kindVisitor {
				return []actor.PropsOption{actor.WithReceiverMiddleware(countStarts)}
			}
			return nil
		}})
	if err := h.Start(bg); err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	op := newOperator(t, h, "alice", chatnode.StatusOnline)
	const visitors, messages = 6, 120 // fewer than the feed keeps, so the operator reads deltas
	vs := make([]*testVisitor, visitors)
	for i := range vs {
		vs[i] = newVisitor(t, h)
		if err := vs[i].do(VisitorRequest{Action: ActStart, FirstQuestion: fmt.Sprintf("v%d start", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range vs {
		// A message sent before the chat reaches alice comes to her inside
		// the chat, not as a message item: start once every chat is hers.
		op.waitItem(objChat, fmt.Sprintf("v%d start", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, visitors)
	for i, v := range vs {
		wg.Go(func() {
			for m := range messages {
				if err := v.do(VisitorRequest{Action: ActMessage, Message: fmt.Sprintf("v%d m%03d", i, m), ClientSideID: fmt.Sprintf("v%d-%d", i, m)}); err != nil {
					errs <- fmt.Errorf("visitor %d message %d: %w", i, m, err)
					return
				}
				if m%10 == 0 {
					time.Sleep(2 * time.Millisecond) // let the actor go idle and passivate
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for i := range vs {
		op.waitItem(objMessage, fmt.Sprintf("v%d m%03d", i, messages-1))
	}
	next := make([]int, visitors)
	for _, it := range op.items {
		if it.ObjectType != objMessage {
			continue
		}
		var i, m int
		text := string(it.Data)
		for k := 0; k+1 < len(text); k++ {
			if n, _ := fmt.Sscanf(text[k:], "v%d m%d", &i, &m); n == 2 {
				if m != next[i] {
					t.Fatalf("visitor %d: message %d arrived when %d was next", i, m, next[i])
				}
				next[i]++
				break
			}
		}
	}
	for i, n := range next {
		if n != messages {
			t.Errorf("visitor %d: the operator read %d of %d messages", i, n, messages)
		}
	}
	if n := incarnations.Load(); n < 2*visitors {
		t.Errorf("only %d visitor actors started: the visitors did not passivate", n)
	}
	t.Logf("%d visitor actors started", incarnations.Load())
}

// TestRequestsEndWithTheHub stops a hub: a request made afterwards is
// answered at once that the node is unavailable, not left to time out.
func TestRequestsEndWithTheHub(t *testing.T) {
	h := New(Options{RequestTimeout: time.Minute})
	if err := h.Start(bg); err != nil {
		t.Fatal(err)
	}
	v := newVisitor(t, h)
	if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: "hello"}); err != nil {
		t.Fatal(err)
	}
	h.Stop()
	done := make(chan error, 1)
	go func() { done <- v.do(VisitorRequest{Action: ActMessage, Message: "after the stop"}) }()
	select {
	case err := <-done:
		wantCode(t, err, chatnode.EUnavailable)
	case <-time.After(20 * time.Second):
		t.Fatal("a request after Stop was not answered")
	}
}
