package actors

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/store"
)

// BenchmarkAssign10kChatsActors measures assignment through the actors:
// 10,000 chats wait in the queue, then 1,000 operators (max_chats 10) come
// online; the time runs until every chat has applied its assignment and
// answered the assigner. Beside the mean time it reports the mean
// processor time of the process over the same spans, which varies less:
// how much the time varies depends on how the operators' arrivals and the
// assigner's passes interleave.
func BenchmarkAssign10kChatsActors(b *testing.B) {
	const nOps, nChats = 1000, 10000
	accounts := &config.Accounts{Departments: []config.Department{{Key: "support", Name: "Support"}, {Key: "sales", Name: "Sales"}}}
	for i := 1; i <= nOps; i++ {
		accounts.Operators = append(accounts.Operators, config.Operator{ID: fmt.Sprint(i), Login: fmt.Sprintf("op%d", i), Name: fmt.Sprintf("Op %d", i),
			PasswordHash: config.DefaultAccounts().Operators[0].PasswordHash, Departments: []string{"support", "sales"}, MaxChats: 10})
	}
	var took, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var applied atomic.Int64
		count := func(next actor.ReceiverFunc) actor.ReceiverFunc {
			return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
				if r, ok := env.Message.(*messages.AssignResult); ok && r.Applied {
					applied.Add(1)
				}
				next(c, env)
			}
		}
		h := New(Options{Accounts: accounts, AssignTick: time.Hour, RequestTimeout: time.Minute,
			PropsOptions: func(kind string) []actor.PropsOption {
				if kind == kindAssigner {
					return []actor.PropsOption{actor.WithReceiverMiddleware(count)}
				}
				return nil
			}})
		if err := h.Start(bg); err != nil {
			b.Fatal(err)
		}
		for c := 0; c < nChats; c++ {
			id := h.newChatID()
			dept := "support"
			if c%2 == 0 {
				dept = "sales"
			}
			now := time.Now().UnixMicro()
			chat := &messages.Chat{Id: id, VisitorId: fmt.Sprintf("v%d", c), DepartmentKey: dept, State: chatnode.ChatQueue, CreatedMicros: now, ModifiedMicros: now, QueuedMicros: now}
			h.system.Root.Send(h.chats, &route{id: id, msg: &chatCreate{chat: chat}, spawn: true})
		}
		testutil.WaitFor(b, time.Minute, func() error {
			res, err := h.system.Root.RequestFuture(h.assigner, &queueLen{}, time.Second).Result()
			if err != nil {
				return err
			}
			if n := res.(int); n != nChats {
				return fmt.Errorf("%d of %d chats queued", n, nChats)
			}
			return nil
		})
		b.StartTimer()
		start, cpu0 := time.Now(), processCPU()
		for o := 1; o <= nOps; o++ {
			h.system.Root.Send(h.assigner, &messages.OperatorUpdate{OperatorId: fmt.Sprint(o), Status: chatnode.StatusOnline, Departments: []string{"support", "sales"}, MaxChats: 10})
		}
		for applied.Load() < nChats {
			time.Sleep(time.Millisecond)
		}
		took += time.Since(start)
		cpu += processCPU() - cpu0
		b.StopTimer()
		h.Stop()
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "s/10k-assignments")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/10k-assignments")
}

// countSink counts the updates pushed to a stream.
type countSink struct{ n *atomic.Int64 }

func (s countSink) Push(u *Update) bool { s.n.Add(int64(len(u.Deltas))); return true }
func (s countSink) End(error)           {}

// instantWriter reports every submission durable at once, from the
// submitting goroutine: the actor path without the store.
type instantWriter struct{}

func (instantWriter) Submit(_ []store.Change, done func(error)) { done(nil) }

// BenchmarkVisitorMessage measures the path of a visitor's message through
// the actors: 500 visitors in chats held by 50 operators, 256 messages in
// flight; an op is one message answered and pushed to its operator's
// stream. The store is left out (instantWriter), so the figure is the
// actors' own cost.
func BenchmarkVisitorMessage(b *testing.B) {
	const nOps, nVisitors, inflight = 50, 500, 256
	accounts := &config.Accounts{Departments: []config.Department{{Key: "support", Name: "Support"}}}
	hash := config.DefaultAccounts().Operators[0].PasswordHash
	for i := 1; i <= nOps; i++ {
		accounts.Operators = append(accounts.Operators, config.Operator{ID: fmt.Sprint(i), Login: fmt.Sprintf("op%d", i), Name: fmt.Sprintf("Op %d", i),
			PasswordHash: hash, Departments: []string{"support"}, MaxChats: 20})
	}
	h := New(Options{Accounts: accounts, Writer: instantWriter{}, AssignTick: 50 * time.Millisecond, RequestTimeout: time.Minute})
	if err := h.Start(bg); err != nil {
		b.Fatal(err)
	}
	defer h.Stop()
	var pushed atomic.Int64
	for i := 1; i <= nOps; i++ {
		res, err := h.OperatorLogin(bg, fmt.Sprintf("op%d", i), "password")
		if err != nil {
			b.Fatal(err)
		}
		if err := h.OperatorSetStatus(bg, res.Token, chatnode.StatusOnline); err != nil {
			b.Fatal(err)
		}
		if _, err := h.OperatorSubscribe(bg, res.Token, 0, countSink{&pushed}); err != nil {
			b.Fatal(err)
		}
	}
	auths := make([]VisitorAuth, nVisitors)
	for i := range auths {
		u, err := h.VisitorInit(bg, &InitRequest{DeviceID: fmt.Sprint("d", i), Platform: "web"})
		if err != nil {
			b.Fatal(err)
		}
		var f struct{ PageID, AuthToken string }
		if err := json.Unmarshal(u.Full, &f); err != nil {
			b.Fatal(err)
		}
		auths[i] = VisitorAuth{PageID: f.PageID, AuthToken: f.AuthToken}
		if err := h.VisitorAction(bg, &VisitorRequest{Auth: auths[i], Action: ActStart, FirstQuestion: "hello"}); err != nil {
			b.Fatal(err)
		}
		if _, err := h.VisitorSubscribe(bg, auths[i], 0, countSink{new(atomic.Int64)}); err != nil {
			b.Fatal(err)
		}
	}
	testutil.WaitFor(b, time.Minute, func() error {
		res, err := h.system.Root.RequestFuture(h.assigner, &queueLen{}, time.Second).Result()
		if err != nil {
			return err
		}
		if n := res.(int); n != 0 {
			return fmt.Errorf("%d chats still wait", n)
		}
		return nil
	})
	testutil.WaitFor(b, time.Minute, func() error {
		if n := pushed.Load(); n < nVisitors {
			return fmt.Errorf("operators saw %d of %d chats", n, nVisitors)
		}
		return nil
	})
	base := pushed.Load()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	var wg sync.WaitGroup
	for w := 0; w < inflight; w++ {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				auth := auths[int(n)%nVisitors]
				if err := h.VisitorAction(bg, &VisitorRequest{Auth: auth, Action: ActMessage, Message: "a message of the benchmark", ClientSideID: fmt.Sprint(n)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	testutil.WaitFor(b, time.Minute, func() error {
		if got := pushed.Load() - base; got < int64(b.N) {
			return fmt.Errorf("operators got %d of %d messages", got, b.N)
		}
		return nil
	})
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the processor time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
