package workpool

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatnode/chatnode/internal/testutil"
)

func TestGoNeverHoldsWorkBehindABlockedFunction(t *testing.T) {
	p := New()
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	p.Go(func() { close(started); <-release })
	<-started
	var wg sync.WaitGroup
	const n = 100
	wg.Add(n)
	for range n {
		p.Go(wg.Done)
	}
	if !within(closedAfter(&wg)) {
		t.Fatal("functions started behind a blocked one did not run")
	}
}

func TestGoReusesIdleGoroutines(t *testing.T) {
	p := New()
	for i := range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		// The goroutine that ran the function goes idle: wait for it, so
		// that the next function finds it.
		testutil.WaitFor(t, 10*time.Second, func() error {
			if p.idleCount() != 1 {
				return fmt.Errorf("after function %d: %d idle goroutines, want 1", i, p.idleCount())
			}
			return nil
		})
	}
	if n := p.spawned.Load(); n != 1 {
		t.Fatalf("%d goroutines started for functions run one at a time, want 1", n)
	}
}

func TestIdleGoroutinesExit(t *testing.T) {
	p := New()
	p.idleTimeout = 20 * time.Millisecond
	var wg sync.WaitGroup
	release := make(chan struct{})
	const n = 10
	wg.Add(n)
	for range n {
		p.Go(func() { defer wg.Done(); <-release })
	}
	close(release)
	wg.Wait()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if live := p.live.Load(); live != 0 {
			return fmt.Errorf("%d of %d goroutines still running", live, n)
		}
		return nil
	})
	// The pool still works once all its goroutines are gone.
	done := make(chan struct{})
	p.Go(func() { close(done) })
	if !within(done) {
		t.Fatal("a function given to an emptied pool did not run")
	}
}

func TestLimitedPoolQueuesPastItsLimit(t *testing.T) {
	p := NewLimited(4, time.Hour)
	release := make(chan struct{})
	var wg sync.WaitGroup
	const blocked, queued = 4, 100
	wg.Add(blocked + queued)
	for range blocked {
		p.Go(func() { defer wg.Done(); <-release })
	}
	var ran atomic.Int64
	for range queued {
		p.Go(func() { defer wg.Done(); ran.Add(1) })
	}
	if n := p.queued(); n != queued {
		t.Fatalf("%d functions queued behind %d running, want %d (%d ran)", n, blocked, queued, ran.Load())
	}
	close(release)
	wg.Wait()
	if n := p.spawned.Load(); n != blocked {
		t.Errorf("%d goroutines started, want %d", n, blocked)
	}
	if n := ran.Load(); n != queued {
		t.Errorf("%d of %d queued functions ran", n, queued)
	}
	if n := p.queued(); n != 0 {
		t.Errorf("%d functions still queued", n)
	}
}

func TestLimitedPoolRunsABurstOnItsGoroutines(t *testing.T) {
	const limit, n = 8, 10_000
	p := NewLimited(limit, time.Hour)
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		p.Go(wg.Done)
	}
	wg.Wait()
	if s := p.spawned.Load(); s > limit {
		t.Errorf("%d goroutines started for a burst of %d, limit %d", s, n, limit)
	}
}

func TestQueueThatNeverEmptiesStaysSmall(t *testing.T) {
	p := NewLimited(1, time.Hour)
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 10 {
		p.enqueueLocked(func() {})
	}
	for i := range 100_000 { // one in, one out: ten always wait
		p.enqueueLocked(func() {})
		if _, ok := p.dequeueLocked(); !ok {
			t.Fatal("the queue emptied")
		}
		if c := cap(p.queue); c > 64 {
			t.Fatalf("after %d functions: 10 waiting in a queue of capacity %d", i+1, c)
		}
	}
	for range 10 {
		if _, ok := p.dequeueLocked(); !ok {
			t.Fatal("the queue lost functions")
		}
	}
	if _, ok := p.dequeueLocked(); ok {
		t.Fatal("the queue made up a function")
	}
}

func TestLimitedPoolStartsAGoroutineWhenAllBlock(t *testing.T) {
	p := NewLimited(2, 20*time.Millisecond)
	release := make(chan struct{})
	defer close(release)
	for range 2 {
		p.Go(func() { <-release })
	}
	done := make(chan struct{})
	p.Go(func() { close(done) })
	if !within(done) {
		t.Fatal("a function queued behind blocked ones never ran")
	}
	if n := p.spawned.Load(); n != 3 {
		t.Errorf("%d goroutines started, want 3", n)
	}
}

func TestLimitedPoolRunsEveryBlockedFunction(t *testing.T) {
	p := NewLimited(2, 20*time.Millisecond)
	release := make(chan struct{})
	defer close(release)
	var running sync.WaitGroup
	const n = 12 // six times the limit, every one blocking
	running.Add(n)
	for range n {
		p.Go(func() { running.Done(); <-release })
	}
	if !within(closedAfter(&running)) {
		t.Fatalf("functions queued behind blocked ones never ran (%d waiting)", p.queued())
	}
}

func TestLimitHoldsAfterBlockedFunctionsReturn(t *testing.T) {
	const limit, episode, burst = 2, 20, 100
	p := NewLimited(limit, 5*time.Millisecond)
	release := make(chan struct{})
	var running sync.WaitGroup
	running.Add(episode)
	for range episode { // all block: goroutines start in their place
		p.Go(func() { running.Done(); <-release })
	}
	running.Wait()
	close(release)
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := p.idleCount(); n != episode {
			return fmt.Errorf("%d of %d goroutines idle", n, episode)
		}
		return nil
	})
	// A burst after the episode: limit functions run and the rest queue,
	// although episode goroutines wait idle. (A stall check could move a
	// few more on a machine slow enough to span two checks here; the
	// earlier rule ran one on every idle goroutine.)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(burst)
	for range burst {
		p.Go(func() { defer wg.Done(); <-gate })
	}
	if n := p.queued(); n < burst-limit-8 {
		t.Errorf("%d of %d functions queued after the episode, want about %d", n, burst, burst-limit)
	}
	close(gate)
	wg.Wait()
}

func TestNewLimitedRefusesNonPositive(t *testing.T) {
	for _, tc := range []struct {
		limit int
		stall time.Duration
	}{{0, time.Second}, {1, 0}, {-1, -time.Second}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewLimited(%d, %v) did not panic", tc.limit, tc.stall)
				}
			}()
			NewLimited(tc.limit, tc.stall)
		}()
	}
}

// within reports whether done closes within ten seconds.
func within(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// closedAfter returns a channel closed once wg is done.
func closedAfter(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

func (p *Pool) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) - p.head
}

func (p *Pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func BenchmarkGo(b *testing.B) {
	for _, bc := range []struct {
		name string
		pool *Pool
	}{{"unlimited", New()}, {"limited", NewLimited(64, 10*time.Millisecond)}} {
		b.Run(bc.name, func(b *testing.B) {
			var wg sync.WaitGroup
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					wg.Add(1)
					bc.pool.Go(wg.Done)
				}
			})
			wg.Wait()
		})
	}
}
