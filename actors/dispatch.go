package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// workerIdle is how long a dispatch worker waits for another mailbox
// before it exits.
const workerIdle = 5 * time.Second

// workers runs actor mailboxes on goroutines that are reused. protoactor's
// default dispatcher starts a goroutine every time a mailbox is scheduled;
// a fresh goroutine starts with a small stack, which handling a message
// grows and copies several times, and under load that copying cost more
// processor time than any one part of the message path. A worker keeps its
// grown stack from one mailbox to the next.
//
// A mailbox is handed to an idle worker if there is one and to a new one
// otherwise, so, as with the default dispatcher, a mailbox that takes long
// never holds up another. Workers idle for workerIdle exit.
type workers struct {
	throughput int
	work       chan func()
}

var _ actor.Dispatcher = (*workers)(nil)

func newWorkers(throughput int) *workers {
	return &workers{throughput: throughput, work: make(chan func())}
}

// Schedule implements actor.Dispatcher.
func (w *workers) Schedule(fn func()) {
	select {
	case w.work <- fn:
	default:
		go w.run(fn)
	}
}

// Throughput implements actor.Dispatcher: messages a mailbox handles before
// it lets others run.
func (w *workers) Throughput() int { return w.throughput }

func (w *workers) run(fn func()) {
	fn()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case fn := <-w.work:
			fn()
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		}
	}
}
