// Package workpool runs short functions on goroutines that are reused.
//
// Starting a goroutine for every piece of work is cheap until the work
// needs a deep stack: a fresh goroutine starts with a small one, which the
// work then grows and copies several times. Under load that copying costs
// more processor time than the work around it. A pooled goroutine keeps
// its grown stack from one function to the next.
package workpool

import "time"

// idleTimeout is how long a goroutine waits for more work before it exits:
// it exits at the first tick of its timer that finds it was idle since the
// tick before, so after five to ten seconds without work.
const idleTimeout = 5 * time.Second

// Pool hands each function to an idle goroutine of the pool if there is
// one and to a new goroutine otherwise, so a function that blocks never
// holds up another. Goroutines idle for five to ten seconds exit. The zero Pool
// is not usable; call New.
type Pool struct {
	work chan func()
}

// New returns an empty Pool.
func New() *Pool { return &Pool{work: make(chan func())} }

// Go runs fn on a goroutine of the pool.
func (p *Pool) Go(fn func()) {
	select {
	case p.work <- fn:
	default:
		go p.run(fn)
	}
}

func (p *Pool) run(fn func()) {
	fn()
	// The timer is not reset after each function: at over a hundred
	// thousand functions a second, resetting it was a visible share of the
	// processor time. A worker that ran something since the last tick
	// stays for another.
	idle := time.NewTimer(idleTimeout)
	defer idle.Stop()
	busy := false
	for {
		select {
		case fn := <-p.work:
			fn()
			busy = true
		case <-idle.C:
			if !busy {
				return
			}
			busy = false
			idle.Reset(idleTimeout)
		}
	}
}
