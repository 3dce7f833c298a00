package actors

import (
	"time"

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
// otherwise, up to maxWorkers running at once; past that, mailboxes wait
// their turn, so a burst (an assignment pass that tells ten thousand chats
// at once) runs on the workers there are instead of starting, and growing
// the stack of, a goroutine for each. As with the default dispatcher, a
// mailbox that blocks does not hold up the others for long: a worker that
// has run one mailbox through a whole check interval (every workerStall
// while mailboxes wait) no longer counts, and another takes its place
// (workpool.NewLimited).
type workers struct {
	throughput int
	pool       *workpool.Pool
}

var _ actor.Dispatcher = (*workers)(nil)

// Worker limits. A node under full load keeps some hundreds of mailboxes
// scheduled at once (a few for each of the 256 requests in flight), and
// they do not wait; a burst beyond that does. A mailbox run takes
// microseconds to a millisecond; one still running through a whole check
// interval, after 2 to 4 ms, is taken to be waiting on something (a store
// read at an actor's start).
const (
	maxWorkers  = 256
	workerStall = 2 * time.Millisecond
)

func newWorkers(throughput int) *workers {
	return &workers{throughput: throughput, pool: workpool.NewLimited(maxWorkers, workerStall)}
}

// Schedule implements actor.Dispatcher.
func (w *workers) Schedule(fn func()) { w.pool.Go(fn) }

// Throughput implements actor.Dispatcher: messages a mailbox handles before
// it lets others run.
func (w *workers) Throughput() int { return w.throughput }
