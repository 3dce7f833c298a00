// Package workpool runs short functions on goroutines that are reused.
//
// Starting a goroutine for every piece of work is cheap until the work
// needs a deep stack: a fresh goroutine starts with a small one, which the
// work then grows and copies several times. Under load that copying costs
// more processor time than the work around it. A pooled goroutine keeps
// its grown stack from one function to the next.
package workpool

import (
	"sync"
	"sync/atomic"
	"time"
)

// idleTimeout is how long a goroutine waits for more work before it exits:
// a sweep every idleTimeout ends the goroutines that were idle through the
// whole interval before it, so they go after five to ten seconds without
// work.
const idleTimeout = 5 * time.Second

// Pool hands each function to an idle goroutine of the pool if there is
// one and to a new goroutine otherwise, so a function that blocks never
// holds up another. Goroutines idle for five to ten seconds exit. The zero
// Pool is not usable; call New or NewLimited.
//
// A limited pool starts goroutines only while fewer than its limit run
// functions; past it, functions wait in a queue that running goroutines
// take from as they finish. A burst of thousands of functions then runs
// on the goroutines already there instead of starting a goroutine, and
// growing a fresh stack, for each. Should no function finish for a whole
// stall interval while some wait, the running ones are taken to be
// blocked and another goroutine starts for the queue, so a function that
// blocks holds up the queue for at most that long.
//
// Each idle goroutine waits on a channel of its own, and the pool hands
// work to the one that went idle last. Idle goroutines sharing one channel
// had to wait in a select with their own timer, and at a hundred thousand
// functions a second the select's locking of both channels on every wake
// cost several percent of a loaded node's processor time.
type Pool struct {
	idleTimeout time.Duration
	limit       int           // running goroutines before functions queue; 0: no limit
	stall       time.Duration // see the type's comment

	mu       sync.Mutex
	idle     []*worker // idle goroutines, the longest idle first
	tick     uint64    // sweeps so far
	sweep    *time.Timer
	busy     int      // goroutines running a function
	queue    []func() // functions waiting, from queue[head] on
	head     int
	finished uint64      // functions run to the end, so that a stall shows
	watch    *time.Timer // the stall check, made once
	watching bool        // the stall check is armed
	seen     uint64      // finished at the last stall check

	spawned atomic.Int64 // goroutines started, for tests
	live    atomic.Int64 // goroutines running, for tests
}

// worker is one goroutine of the pool.
type worker struct {
	work chan func() // a function to run, or nil to exit; one at most
	tick uint64      // the pool's tick when it last went idle
}

// New returns an empty Pool without a limit.
func New() *Pool { return &Pool{idleTimeout: idleTimeout} }

// NewLimited returns an empty Pool that queues functions while limit
// goroutines run, and starts another for the queue when none of them has
// finished a function for stall.
func NewLimited(limit int, stall time.Duration) *Pool {
	if limit < 1 || stall <= 0 {
		panic("workpool: limit and stall must be positive")
	}
	return &Pool{idleTimeout: idleTimeout, limit: limit, stall: stall}
}

// Go runs fn on a goroutine of the pool. It never blocks.
func (p *Pool) Go(fn func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.busy++
		p.mu.Unlock()
		w.work <- fn
		return
	}
	if p.limit > 0 && p.busy >= p.limit {
		p.enqueueLocked(fn)
		if !p.watching {
			p.watching, p.seen = true, p.finished
			if p.watch == nil {
				p.watch = time.AfterFunc(p.stall, p.checkStall)
			} else {
				p.watch.Reset(p.stall)
			}
		}
		p.mu.Unlock()
		return
	}
	p.busy++
	p.mu.Unlock()
	p.start(fn)
}

// start runs fn on a new goroutine; the caller counted it busy.
func (p *Pool) start(fn func()) {
	p.spawned.Add(1)
	p.live.Add(1)
	go p.run(&worker{work: make(chan func(), 1)}, fn)
}

func (p *Pool) run(w *worker, fn func()) {
	defer p.live.Add(-1)
	for fn != nil {
		fn()
		p.mu.Lock()
		p.finished++
		if next, ok := p.dequeueLocked(); ok {
			p.mu.Unlock()
			fn = next
			continue
		}
		p.busy--
		w.tick = p.tick
		p.idle = append(p.idle, w)
		if p.sweep == nil {
			p.sweep = time.AfterFunc(p.idleTimeout, p.sweepIdle)
		}
		p.mu.Unlock()
		fn = <-w.work
	}
}

// enqueueLocked queues fn. A queue that never quite empties would keep
// growing past the room its taken functions left at the front, so once
// they are half of it the rest moves to the front first.
func (p *Pool) enqueueLocked(fn func()) {
	if p.head > 0 && len(p.queue) == cap(p.queue) && 2*p.head >= len(p.queue) {
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	p.queue = append(p.queue, fn)
}

// dequeueLocked takes the function that waited longest, if any.
func (p *Pool) dequeueLocked() (func(), bool) {
	if p.head == len(p.queue) {
		return nil, false
	}
	fn := p.queue[p.head]
	p.queue[p.head] = nil
	p.head++
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	}
	return fn, true
}

// checkStall runs every stall interval while functions wait: when none
// finished through the interval, it starts a goroutine for the queue.
func (p *Pool) checkStall() {
	p.mu.Lock()
	var fn func()
	if p.finished == p.seen {
		fn, _ = p.dequeueLocked()
	}
	if fn != nil {
		p.busy++
	}
	if p.head < len(p.queue) {
		p.seen = p.finished
		p.watch.Reset(p.stall)
	} else {
		p.watching = false
	}
	p.mu.Unlock()
	if fn != nil {
		p.start(fn)
	}
}

// sweepIdle ends the goroutines that have been idle since before the
// previous sweep and comes back while any stay idle.
func (p *Pool) sweepIdle() {
	p.mu.Lock()
	p.tick++
	n := 0
	for n < len(p.idle) && p.idle[n].tick+1 < p.tick {
		n++
	}
	done := make([]*worker, n)
	copy(done, p.idle[:n])
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	if rest > 0 {
		p.sweep.Reset(p.idleTimeout)
	} else {
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, w := range done {
		w.work <- nil
	}
}
