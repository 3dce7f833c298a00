package actors

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/messages"
)

// BenchmarkAssign10kChatsActors measures assignment through the actors:
// 10,000 chats wait in the queue, then 1,000 operators (max_chats 10) come
// online; the time runs until every chat has applied its assignment and
// answered the assigner.
func BenchmarkAssign10kChatsActors(b *testing.B) {
	const nOps, nChats = 1000, 10000
	accounts := &config.Accounts{Departments: []config.Department{{Key: "support", Name: "Support"}, {Key: "sales", Name: "Sales"}}}
	for i := 1; i <= nOps; i++ {
		accounts.Operators = append(accounts.Operators, config.Operator{ID: fmt.Sprint(i), Login: fmt.Sprintf("op%d", i), Name: fmt.Sprintf("Op %d", i),
			PasswordHash: config.DefaultAccounts().Operators[0].PasswordHash, Departments: []string{"support", "sales"}, MaxChats: 10})
	}
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
		start := time.Now()
		for o := 1; o <= nOps; o++ {
			h.system.Root.Send(h.assigner, &messages.OperatorUpdate{OperatorId: fmt.Sprint(o), Status: chatnode.StatusOnline, Departments: []string{"support", "sales"}, MaxChats: 10})
		}
		for applied.Load() < nChats {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/10k-assignments")
		b.StopTimer()
		h.Stop()
	}
}
