package workpool

import (
	"errors"
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
	var wg sync.WaitGroup
	wg.Add(1)
	p.Go(wg.Done)
	wg.Wait()
	// The goroutine that ran the first function now waits for work: the
	// next function is handed to it rather than to a new goroutine.
	handed := make(chan struct{})
	testutil.WaitFor(t, 10*time.Second, func() error {
		select {
		case p.work <- func() { close(handed) }:
			return nil
		default:
			return errors.New("no idle goroutine takes work")
		}
	})
	<-handed
}
