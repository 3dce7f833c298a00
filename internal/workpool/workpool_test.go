package workpool

import (
	"fmt"
	"sync"
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
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
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
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a function given to an emptied pool did not run")
	}
}

func (p *Pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func BenchmarkGo(b *testing.B) {
	p := New()
	var wg sync.WaitGroup
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			wg.Add(1)
			p.Go(wg.Done)
		}
	})
	wg.Wait()
}
