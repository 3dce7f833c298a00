package actors

import (
	"sync"
	"testing"
	"time"
)

func TestWorkersNeverHoldAMailboxBehindABusyOne(t *testing.T) {
	w := newWorkers(10)
	release := make(chan struct{})
	started := make(chan struct{})
	w.Schedule(func() { close(started); <-release })
	<-started
	var wg sync.WaitGroup
	const n = 100
	wg.Add(n)
	for range n {
		w.Schedule(wg.Done)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("mailboxes scheduled behind a busy one did not run")
	}
	close(release)
	if w.Throughput() != 10 {
		t.Fatalf("Throughput() = %d, want 10", w.Throughput())
	}
}
