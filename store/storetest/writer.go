package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatnode/chatnode/store"
)

func testWriterConcurrent(t *testing.T, s store.Store) {
	const submitters, each = 50, 100
	var batches, changes atomic.Int64
	w := store.NewWriter(s, store.WriterOptions{
		MaxBatch: 256,
		OnBatch: func(n int, d time.Duration) {
			batches.Add(1)
			changes.Add(int64(n))
		},
	})
	defer w.Close()

	acked := make([][]int, submitters) // per submitter, the order of its callbacks
	errs := make([]error, submitters)
	var wg sync.WaitGroup
	for g := range submitters {
		id := fmt.Sprintf("w%d", g)
		wg.Add(each + 1)
		go func() {
			done := func(i int) func(error) {
				return func(err error) {
					// Callbacks run on the Writer's goroutine, one at a time.
					acked[g] = append(acked[g], i)
					if err != nil && errs[g] == nil {
						errs[g] = err
					}
					wg.Done()
				}
			}
			w.Submit([]store.Change{{Chat: chat(id, "v"+id, "", at(0))}}, done(0))
			for seq := int64(1); seq <= each; seq++ {
				w.Submit([]store.Change{{Message: message(id, seq, at(int(seq)))}}, done(int(seq)))
			}
		}()
	}
	wg.Wait()

	for g := range submitters {
		if errs[g] != nil {
			t.Fatalf("submitter %d: %v", g, errs[g])
		}
		for i, got := range acked[g] {
			if got != i {
				t.Fatalf("submitter %d: callback %d was for submission %d; callbacks out of order", g, i, got)
			}
		}
		if len(acked[g]) != each+1 {
			t.Fatalf("submitter %d: %d callbacks, want %d", g, len(acked[g]), each+1)
		}
		id := fmt.Sprintf("w%d", g)
		ms := mustMessages(t, s, id, 0, 0)
		if len(ms) != each {
			t.Fatalf("chat %s: %d messages stored, want %d", id, len(ms), each)
		}
		for i, m := range ms {
			if m.Seq != int64(i+1) {
				t.Fatalf("chat %s: message %d has seq %d", id, i, m.Seq)
			}
		}
	}
	if got, want := changes.Load(), int64(submitters*(each+1)); got != want {
		t.Errorf("OnBatch counted %d changes, want %d", got, want)
	}
	t.Logf("%d submissions in %d transactions", submitters*(each+1), batches.Load())
}

// testWriterCommitInterval submits one message at a time, each after the
// previous one is durable: every submission is a transaction of its own,
// and their starts are at least CommitInterval apart.
func testWriterCommitInterval(t *testing.T, s store.Store) {
	const interval, n = 20 * time.Millisecond, 6
	var mu sync.Mutex
	var starts []time.Time
	w := store.NewWriter(s, store.WriterOptions{CommitInterval: interval, OnBatch: func(_ int, d time.Duration) {
		mu.Lock()
		starts = append(starts, time.Now().Add(-d))
		mu.Unlock()
	}})
	defer w.Close()
	done := make(chan error, 1)
	w.Submit([]store.Change{{Chat: chat("ci", "vci", "", at(0))}}, func(err error) { done <- err })
	for seq := int64(1); seq <= n; seq++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		w.Submit([]store.Change{{Message: message("ci", seq, at(int(seq)))}}, func(err error) { done <- err })
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != n+1 {
		t.Fatalf("%d transactions, want %d", len(starts), n+1)
	}
	for i := 1; i < len(starts); i++ {
		// OnBatch's clock reading comes after the store's, so a start may
		// look up to a millisecond late.
		if gap := starts[i].Sub(starts[i-1]); gap < interval-time.Millisecond {
			t.Errorf("transaction %d started %v after the one before, want at least %v", i, gap, interval)
		}
	}
	if ms := mustMessages(t, s, "ci", 0, 0); len(ms) != n {
		t.Errorf("%d messages stored, want %d", len(ms), n)
	}
}

func testWriterFlushesOnClose(t *testing.T, s store.Store) {
	w := store.NewWriter(s, store.WriterOptions{MaxBatch: 16})
	const n = 200
	var acked atomic.Int64
	for seq := int64(1); seq <= n; seq++ {
		w.Submit([]store.Change{{Message: message("c1", seq, at(0))}}, func(err error) {
			if err != nil {
				t.Errorf("submission %d: %v", seq, err)
			}
			acked.Add(1)
		})
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if acked.Load() != n {
		t.Fatalf("%d callbacks when Close returned, want %d", acked.Load(), n)
	}
	if ms := mustMessages(t, s, "c1", 0, 0); len(ms) != n {
		t.Fatalf("%d messages stored, want %d", len(ms), n)
	}
}

func testWriterAfterClose(t *testing.T, s store.Store) {
	w := store.NewWriter(s, store.WriterOptions{})
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var got error
	called := 0
	w.Submit([]store.Change{{Message: message("c1", 1, at(0))}}, func(err error) { got = err; called++ })
	if called != 1 || !errors.Is(got, store.ErrClosed) {
		t.Fatalf("Submit after Close: callback called %d times with %v; want once with ErrClosed", called, got)
	}
	w.Submit(nil, nil) // a nil callback is allowed
	if ms := mustMessages(t, s, "c1", 0, 0); len(ms) != 0 {
		t.Fatalf("a submission after Close was written")
	}
}

// collect submits to w and returns a function that waits for the result.
func collect(w *store.Writer, changes ...store.Change) func() error {
	ch := make(chan error, 1)
	w.Submit(changes, func(err error) { ch <- err })
	return func() error { return <-ch }
}

func testWriterInvalidSubmission(t *testing.T, s store.Store) {
	w := store.NewWriter(s, store.WriterOptions{})
	defer w.Close()
	var order []string // appended on the Writer's goroutine
	var wg sync.WaitGroup
	submit := func(name string, want error, changes ...store.Change) {
		wg.Add(1)
		w.Submit(changes, func(err error) {
			if !errors.Is(err, want) {
				t.Errorf("submission %s: %v, want %v", name, err, want)
			}
			order = append(order, name)
			wg.Done()
		})
	}
	submit("a", nil, store.Change{Message: message("c1", 1, at(0))})
	submit("b", store.ErrInvalid, store.Change{})
	submit("c", nil, store.Change{Message: message("c1", 2, at(0))})
	submit("d", nil) // nothing to write, still acknowledged in turn
	wg.Wait()
	equal(t, "callback order", order, []string{"a", "b", "c", "d"})
	if ms := mustMessages(t, s, "c1", 0, 0); len(ms) != 2 {
		t.Fatalf("%d messages stored, want 2", len(ms))
	}
}

func testWriterBatchError(t *testing.T, s store.Store) {
	mustApply(t, s, store.Change{Message: message("c1", 1, at(0))})
	w := store.NewWriter(s, store.WriterOptions{})
	defer w.Close()
	clash := message("c1", 1, at(0))
	clash.Text, clash.ClientSideID = "clash", "clash"
	if err := collect(w, store.Change{Message: clash})(); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflicting submission: %v, want ErrConflict", err)
	}
	if err := collect(w, store.Change{Message: message("c1", 2, at(0))})(); err != nil {
		t.Fatalf("the Writer did not recover from a failed batch: %v", err)
	}
}
