package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/chatnode/chatnode/internal/pace"
)

// writerQueue is how many submissions may wait for the Writer before Submit
// blocks.
const writerQueue = 8192

// WriterOptions configures a Writer. The zero value is usable.
type WriterOptions struct {
	// MaxBatch is the number of changes the Writer gathers into one
	// transaction; default 512. A submission is never split, so a batch
	// may exceed MaxBatch by the size of its last submission.
	MaxBatch int
	// Timeout bounds each transaction; default 30s.
	Timeout time.Duration
	// Logger receives failed batches; default: discard.
	Logger *slog.Logger
	// CommitInterval is the shortest time between the starts of two
	// transactions; zero: none. Under load the Writer then waits out the
	// rest of the interval before it gathers the next batch, so more
	// submissions share a commit and its fsync; a submission that comes
	// after a quiet spell commits at once.
	CommitInterval time.Duration
	// OnBatch, if set, is called on the Writer's goroutine after every
	// transaction, successful or not, with its number of changes and how
	// long it took. It must not block.
	OnBatch func(n int, d time.Duration)
}

// Writer batches submissions from many goroutines into few transactions
// (group commit). While one transaction commits, new submissions queue up;
// the next transaction takes all of them, up to MaxBatch changes. Under
// light load a submission commits alone and at once; under heavy load many
// share one commit and its fsync.
//
// Submissions keep FIFO order: a submission's batch commits no later than
// the batch of any later submission. All changes of one submission are in
// the same transaction. The Writer does not close its Store.
type Writer struct {
	s    Store
	opts WriterOptions
	in   chan submission

	mu      sync.RWMutex // guards closed and the closing of in
	closed  bool
	stopped chan struct{}

	invalid []error // per submission of the current batch; the goroutine's own
}

type submission struct {
	changes []Change
	done    func(error)
}

// NewWriter returns a Writer for s and starts its goroutine.
func NewWriter(s Store, opts WriterOptions) *Writer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		s:       s,
		opts:    opts,
		in:      make(chan submission, writerQueue),
		stopped: make(chan struct{}),
	}
	go w.run()
	return w
}

// Submit queues changes for writing. done (which may be nil) is called
// exactly once: on the Writer's goroutine once the transaction holding the
// changes committed (nil) or failed (the error, shared by every submission
// of that transaction), or at once on the caller's goroutine with ErrClosed
// if the Writer is closed. A submission with an invalid change fails alone
// with ErrInvalid. Callbacks come in submission order.
//
// Submit returns at once unless the queue is full, in which case it waits
// for the Writer to make room. done must not block, and must not call
// Submit: with a full queue that would wait for the Writer's own goroutine.
// The changes must not be modified until done is called.
func (w *Writer) Submit(changes []Change, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		done(ErrClosed)
		return
	}
	w.in <- submission{changes: changes, done: done}
	w.mu.RUnlock()
}

// Close stops accepting submissions, writes those already queued, waits
// for their callbacks and stops the Writer's goroutine. It is safe to call
// more than once, but not from a callback.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	<-w.stopped
	return nil
}

func (w *Writer) run() {
	defer close(w.stopped)
	var (
		batch   []submission
		changes []Change
	)
	pacer := pace.Pacer{Interval: w.opts.CommitInterval}
	for first := range w.in {
		pacer.Wait()
		batch = append(batch[:0], first)
		n := len(first.changes)
	fill:
		for n < w.opts.MaxBatch {
			select {
			case s, ok := <-w.in:
				if !ok {
					break fill
				}
				batch = append(batch, s)
				n += len(s.changes)
			default:
				break fill
			}
		}
		changes = w.commit(batch, changes[:0])
		clear(batch)
		clear(changes)
	}
}

// commit writes one batch and reports to its submitters, in the order
// they submitted. It returns the changes buffer for reuse.
func (w *Writer) commit(batch []submission, changes []Change) []Change {
	w.invalid = w.invalid[:0]
	for _, s := range batch {
		err := validate(s.changes)
		w.invalid = append(w.invalid, err)
		if err == nil {
			changes = append(changes, s.changes...)
		}
	}
	var err error
	if len(changes) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
		start := time.Now()
		err = w.s.Apply(ctx, changes)
		d := time.Since(start)
		cancel()
		if w.opts.OnBatch != nil {
			w.opts.OnBatch(len(changes), d)
		}
		if err != nil {
			w.opts.Logger.Error("store write failed", "changes", len(changes), "submissions", len(batch), "err", err)
		}
	}
	for i, s := range batch {
		if w.invalid[i] != nil {
			s.done(w.invalid[i])
		} else {
			s.done(err)
		}
	}
	clear(w.invalid)
	return changes
}
