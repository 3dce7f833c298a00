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
// Pool is not usable; call New.
//
// Each idle goroutine waits on a channel of its own, and the pool hands
// work to the one that went idle last. Idle goroutines sharing one channel
// had to wait in a select with their own timer, and at a hundred thousand
// functions a second the select's locking of both channels on every wake
// cost several percent of a loaded node's processor time.
type Pool struct {
	idleTimeout time.Duration

	mu    sync.Mutex
	idle  []*worker // idle goroutines, the longest idle first
	tick  uint64    // sweeps so far
	sweep *time.Timer

	spawned atomic.Int64 // goroutines started, for tests
	live    atomic.Int64 // goroutines running, for tests
}

// worker is one goroutine of the pool.
type worker struct {
	work chan func() // a function to run, or nil to exit; one at most
	tick uint64      // the pool's tick when it last went idle
}

// New returns an empty Pool.
func New() *Pool { return &Pool{idleTimeout: idleTimeout} }

// Go runs fn on a goroutine of the pool.
func (p *Pool) Go(fn func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.work <- fn
		return
	}
	p.mu.Unlock()
	p.spawned.Add(1)
	p.live.Add(1)
	go p.run(&worker{work: make(chan func(), 1)}, fn)
}

func (p *Pool) run(w *worker, fn func()) {
	defer p.live.Add(-1)
	for fn != nil {
		fn()
		p.mu.Lock()
		w.tick = p.tick
		p.idle = append(p.idle, w)
		if p.sweep == nil {
			p.sweep = time.AfterFunc(p.idleTimeout, p.sweepIdle)
		}
		p.mu.Unlock()
		fn = <-w.work
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
