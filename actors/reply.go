package actors

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// replyAddress is the address of the PIDs that stand for a Hub request
// waiting for its answer. The process registry hands every PID with this
// address to one process, replies, which finds the waiting request by the
// PID's id.
const replyAddress = "chatnode.reply"

// replySweep is how often requests past their deadline are failed. A
// request may wait up to this much longer than its timeout.
const replySweep = 100 * time.Millisecond

// replies lets the Hub wait for actors' answers without a protoactor future
// per request. A future registers a process under a new name, arms a timer
// and allocates its own wake-up; at thousands of requests a second that cost
// more than the actor hops of the request. Here a request is an entry in a
// sharded table, its answer arrives on a reusable channel, and one sweeper
// fails the requests whose deadline passed.
//
// An answer is delivered at most once: whoever removes the entry from the
// table (the answer, the sweeper or Stop) sends on its channel, and later
// answers to the same PID find no entry and are dropped, as a stopped
// future drops them.
type replies struct {
	next    atomic.Uint64
	shards  [replyShards]replyShard
	sweeper sync.Once
	stop    chan struct{}
	stopped sync.Once
}

const replyShards = 32

type replyShard struct {
	mu      sync.Mutex
	waiting map[uint64]*replyWait
}

// replyWait is one waiting request.
type replyWait struct {
	ch       chan replyResult
	deadline int64 // unix nanoseconds
}

type replyResult struct {
	msg any
	err error
}

var _ actor.Process = (*replies)(nil)

var replyWaits = sync.Pool{New: func() any { return &replyWait{ch: make(chan replyResult, 1)} }}

// newReplies makes the replies of system and registers them for
// replyAddress.
func newReplies(system *actor.ActorSystem) *replies {
	r := &replies{stop: make(chan struct{})}
	for i := range r.shards {
		r.shards[i].waiting = make(map[uint64]*replyWait)
	}
	system.ProcessRegistry.RegisterAddressResolver(func(pid *actor.PID) (actor.Process, bool) {
		if pid.Address == replyAddress {
			return r, true
		}
		return nil, false
	})
	return r
}

// request is a waiting request: send with its pid as the sender, then wait.
type request struct {
	id  uint64 // 0 when it was never registered
	w   *replyWait
	pid *actor.PID
}

// start registers a request that fails with actor.ErrTimeout after timeout.
func (r *replies) start(timeout time.Duration) request {
	r.sweeper.Do(func() { go r.sweep() })
	id := r.next.Add(1)
	w := replyWaits.Get().(*replyWait)
	w.deadline = time.Now().Add(timeout).UnixNano()
	s := &r.shards[id%replyShards]
	s.mu.Lock()
	if s.waiting == nil {
		s.mu.Unlock()
		w.ch <- replyResult{err: actor.ErrDeadLetter}
		return request{w: w, pid: &actor.PID{Address: replyAddress}}
	}
	s.waiting[id] = w
	s.mu.Unlock()
	return request{id: id, w: w, pid: &actor.PID{Address: replyAddress, Id: strconv.FormatUint(id, 36)}}
}

// cancel forgets a request that was never sent.
func (r *replies) cancel(q request) {
	if q.id != 0 && r.take(q.id) != nil {
		replyWaits.Put(q.w)
	}
}

// wait returns the answer. A request is waited for once.
func (q request) wait() (any, error) {
	res := <-q.w.ch
	replyWaits.Put(q.w)
	return res.msg, res.err
}

// take removes the request id from the table and returns it, or nil when
// it was answered or failed already.
func (r *replies) take(id uint64) *replyWait {
	s := &r.shards[id%replyShards]
	s.mu.Lock()
	w := s.waiting[id]
	delete(s.waiting, id)
	s.mu.Unlock()
	return w
}

// SendUserMessage implements actor.Process: an answer to the request pid
// stands for.
func (r *replies) SendUserMessage(pid *actor.PID, message any) {
	id, err := strconv.ParseUint(pid.Id, 36, 64)
	if err != nil {
		return
	}
	w := r.take(id)
	if w == nil {
		return
	}
	_, msg, _ := actor.UnwrapEnvelope(message)
	if _, ok := msg.(*actor.DeadLetterResponse); ok {
		w.ch <- replyResult{err: actor.ErrDeadLetter}
		return
	}
	w.ch <- replyResult{msg: msg}
}

// SendSystemMessage implements actor.Process; a request has no system
// messages.
func (r *replies) SendSystemMessage(*actor.PID, any) {}

// Stop implements actor.Process; a request ends when it is answered.
func (r *replies) Stop(*actor.PID) {}

// sweep fails requests past their deadline until close.
func (r *replies) sweep() {
	t := time.NewTicker(replySweep)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.expire(now.UnixNano())
		}
	}
}

// expire fails every request whose deadline is before now with
// actor.ErrTimeout.
func (r *replies) expire(now int64) {
	var due []*replyWait
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for id, w := range s.waiting {
			if w.deadline < now {
				delete(s.waiting, id)
				due = append(due, w)
			}
		}
		s.mu.Unlock()
	}
	for _, w := range due {
		w.ch <- replyResult{err: actor.ErrTimeout}
	}
}

// close fails every waiting request with actor.ErrDeadLetter, as the actors
// that would answer them are gone, and refuses new ones.
func (r *replies) close() {
	r.stopped.Do(func() {
		close(r.stop)
		var all []*replyWait
		for i := range r.shards {
			s := &r.shards[i]
			s.mu.Lock()
			for _, w := range s.waiting {
				all = append(all, w)
			}
			s.waiting = nil
			s.mu.Unlock()
		}
		for _, w := range all {
			w.ch <- replyResult{err: actor.ErrDeadLetter}
		}
	})
}
