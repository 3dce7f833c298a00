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
// A limited pool runs at most its limit of functions at once; past it,
// functions wait in a queue that running goroutines take from as they
// finish. A burst of thousands of functions then runs on the goroutines
// already there instead of starting a goroutine, and growing a fresh
// stack, for each. While functions wait, the pool looks every stall
// interval for goroutines that have run the same function since before
// its previous look: those are taken to be blocked (a store read, a lock)
// and no longer count against the limit, and idle or new goroutines take
// from the queue until the unblocked ones are back at it. When the
// blocked ones return, the limit holds again, for idle goroutines too:
// the extra ones stay idle and go with the sweep. What a limited pool
// gives up is that work which is slow without being blocked that long
// (reads of a busy store) holds up the functions queued behind it, where
// an unlimited pool would run them at once.
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
	workers  map[*worker]bool // every goroutine of a limited pool
	looks    atomic.Uint64    // stall checks so far
	watch    *time.Timer      // the stall check, made once
	watching bool             // the stall check is armed

	spawned atomic.Int64 // goroutines started, for tests
	live    atomic.Int64 // goroutines running, for tests
}

// worker is one goroutine of the pool.
type worker struct {
	work chan func() // a function to run, or nil to exit; one at most
	tick uint64      // the pool's tick when it last went idle
	// In a limited pool: the stall checks made when its function started,
	// or idleLooks while it has none.
	since atomic.Uint64
}

const idleLooks = ^uint64(0)

// maxKeptQueue is the largest emptied queue a pool keeps.
const maxKeptQueue = 1024

// New returns an empty Pool without a limit.
func New() *Pool { return &Pool{idleTimeout: idleTimeout} }

// NewLimited returns an empty Pool that queues functions while limit
// goroutines run, and checks every stall for goroutines blocked in a
// function while others wait (see Pool).
func NewLimited(limit int, stall time.Duration) *Pool {
	if limit < 1 || stall <= 0 {
		panic("workpool: limit and stall must be positive")
	}
	return &Pool{idleTimeout: idleTimeout, limit: limit, stall: stall, workers: make(map[*worker]bool)}
}

// Go runs fn on a goroutine of the pool. It never blocks.
//
// In a limited pool the limit holds for idle goroutines too: those started
// in place of blocked ones stay idle, and go with the sweep, once the
// blocked ones are back.
func (p *Pool) Go(fn func()) {
	p.mu.Lock()
	if p.limit > 0 && p.busy >= p.limit {
		p.enqueueLocked(fn)
		if !p.watching {
			p.watching = true
			if p.watch == nil {
				p.watch = time.AfterFunc(p.stall, p.checkStall)
			} else {
				p.watch.Reset(p.stall)
			}
		}
		p.mu.Unlock()
		return
	}
	if w := p.takeIdleLocked(); w != nil {
		p.mu.Unlock()
		w.work <- fn
		return
	}
	p.busy++
	w := p.newWorkerLocked()
	p.mu.Unlock()
	p.start(w, fn)
}

// takeIdleLocked takes the goroutine that went idle last, counted busy,
// or returns nil.
func (p *Pool) takeIdleLocked() *worker {
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	w := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.busy++
	return w
}

// newWorkerLocked makes a goroutine's worker; the caller counts it busy.
func (p *Pool) newWorkerLocked() *worker {
	w := &worker{work: make(chan func(), 1)}
	w.since.Store(idleLooks)
	if p.workers != nil {
		p.workers[w] = true
	}
	return w
}

// start runs fn on a new goroutine for w.
func (p *Pool) start(w *worker, fn func()) {
	p.spawned.Add(1)
	p.live.Add(1)
	go p.run(w, fn)
}

func (p *Pool) run(w *worker, fn func()) {
	defer p.live.Add(-1)
	limited := p.workers != nil
	for fn != nil {
		if limited {
			w.since.Store(p.looks.Load())
		}
		fn()
		if limited {
			w.since.Store(idleLooks)
		}
		p.mu.Lock()
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
		if cap(p.queue) > maxKeptQueue {
			p.queue = nil // a burst's queue is not kept for the next
		}
	}
	return fn, true
}

// checkStall runs every stall interval while functions wait. Goroutines
// that have run one function since before the previous check are taken
// to be blocked; for each, while functions wait and fewer than the limit
// run unblocked, a new goroutine starts for the queue.
func (p *Pool) checkStall() {
	now := p.looks.Add(1)
	type started struct {
		w     *worker
		fn    func()
		fresh bool // a new goroutine, not an idle one
	}
	var starts []started
	p.mu.Lock()
	blocked := 0
	for w := range p.workers {
		if since := w.since.Load(); since != idleLooks && since+1 < now {
			blocked++
		}
	}
	for p.busy-blocked < p.limit {
		fn, ok := p.dequeueLocked()
		if !ok {
			break
		}
		if w := p.takeIdleLocked(); w != nil {
			starts = append(starts, started{w, fn, false})
			continue
		}
		p.busy++
		starts = append(starts, started{p.newWorkerLocked(), fn, true})
	}
	if p.head < len(p.queue) {
		p.watch.Reset(p.stall)
	} else {
		p.watching = false
	}
	p.mu.Unlock()
	for _, s := range starts {
		if s.fresh {
			p.start(s.w, s.fn)
		} else {
			s.w.work <- s.fn
		}
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
	for _, w := range done {
		delete(p.workers, w)
	}
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
