package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode/internal/workpool"
)

// workers runs actor mailboxes on goroutines that are reused. protoactor's
// default dispatcher starts a goroutine every time a mailbox is scheduled;
// a fresh goroutine starts with a small stack, which handling a message
// grows and copies several times, and under load that copying cost more
// processor time than any one part of the message path. A worker keeps its
// grown stack from one mailbox to the next.
//
// A mailbox is handed to an idle worker if there is one and to a new one
// otherwise, so, as with the default dispatcher, a mailbox that takes long
// never holds up another.
type workers struct {
	throughput int
	pool       *workpool.Pool
}

var _ actor.Dispatcher = (*workers)(nil)

func newWorkers(throughput int) *workers {
	return &workers{throughput: throughput, pool: workpool.New()}
}

// Schedule implements actor.Dispatcher.
func (w *workers) Schedule(fn func()) { w.pool.Go(fn) }

// Throughput implements actor.Dispatcher: messages a mailbox handles before
// it lets others run.
func (w *workers) Throughput() int { return w.throughput }
