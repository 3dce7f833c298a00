// Package workpool runs short functions on goroutines that are reused.
//
// Starting a goroutine for every piece of work is cheap until the work
// needs a deep stack: a fresh goroutine starts with a small one, which the
// work then grows and copies several times. Under load that copying costs
// more processor time than the work around it. A pooled goroutine keeps
// its grown stack from one function to the next.
package workpool

import "time"

// idleTimeout is how long a goroutine waits for more work before it exits.
const idleTimeout = 5 * time.Second

// Pool hands each function to an idle goroutine of the pool if there is
// one and to a new goroutine otherwise, so a function that blocks never
// holds up another. Goroutines idle for five seconds exit. The zero Pool
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
	idle := time.NewTimer(idleTimeout)
	defer idle.Stop()
	for {
		select {
		case fn := <-p.work:
			fn()
			idle.Reset(idleTimeout)
		case <-idle.C:
			return
		}
	}
}
