package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// JournalDir is the journal's directory inside the data directory.
const JournalDir = "journal"

const (
	// journalSegment is the size past which the journal starts a new file;
	// a file is deleted once the database holds all of it.
	journalSegment = 32 << 20
	// journalDelay is how long a write may wait in the journal before it
	// is applied to the database, and journalBatch how many changes make
	// the applier start at once: the database gets few, large transactions.
	journalDelay = 250 * time.Millisecond
	journalBatch = 32768
	// journalBacklog bounds the changes waiting for the applier: past it,
	// Apply waits until the database has caught up (and fails if it
	// cannot), so a database that stalls slows writers down instead of
	// filling memory.
	journalBacklog = 1 << 20
)

// Journaled is a Store whose writes are durable once they are appended to
// an append-only journal and fsynced: one sequential write and one
// fdatasync per Apply. A background applier copies them into the inner
// store in large transactions, where a commit touches each database page
// once for many messages instead of once per message. Every read first
// waits until the inner store holds every write that returned, so readers
// see their writes. On open, whatever the journal holds beyond the inner
// store is applied to it before anything else; replaying a record twice is
// harmless, because every change is an upsert or an insert-once.
//
// A new message whose seq may be taken (the chat's messages are not known
// to be below it) is checked against the inner store before it is
// journaled, so Apply still fails with ErrConflict as the Store contract
// says. Every write that succeeds is journaled, even one the check showed
// to be a retry, so that a replay never puts an older record over a newer
// write.
type Journaled struct {
	inner       Store
	db          seqChecker // the inner store, for seq checks
	dir         string
	logger      *slog.Logger
	segmentSize int64 // journalSegment; smaller in tests
	backlog     int   // journalBacklog; smaller in tests

	wmu     sync.Mutex // serialises Apply: the journal file and its buffer
	f       *os.File
	seg     atomic.Uint64 // number of the file being written
	size    int64
	buf     []byte
	broken  error            // set when the journal can no longer be trusted
	lastSeq map[string]int64 // highest message seq journaled or stored, by open chat
	records uint64           // records appended since open
	closing []closedChat     // closed chats to forget once the inner store has their writes

	mu       sync.Mutex // guards the queue and the applier's state below
	queue    []queued
	queued   int // changes in queue
	applying int // changes the applier has taken and not yet applied
	stats    JournalStats
	wake     chan struct{}
	flushes  []chan error // readers waiting for the queue to be applied
	applied  uint64       // files below this number are wholly in the inner store

	appliedRecords atomic.Uint64 // records the inner store holds, numbered like records
	stop           chan struct{}
	stopped        chan struct{}
	applyErr       error // the last failure to apply, reported to flushing readers

	closeOnce sync.Once
	closeErr  error
}

// JournalStats is what a journal has done since it was opened.
type JournalStats struct {
	Backlog  int           // changes durable in the journal, not yet in the database
	Applied  int64         // changes applied to the database
	Applying time.Duration // time spent applying them
	Failures int64         // applies that failed (their changes stay queued and are retried)
}

// Stats returns the journal's figures; it is cheap and safe to call from
// any goroutine.
func (j *Journaled) Stats() JournalStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.stats
	s.Backlog = j.queued + j.applying
	return s
}

// closedChat is a chat whose seq the journal may forget after record n.
type closedChat struct {
	id string
	n  uint64
}

// queued is one Apply call waiting for the applier: its record, which the
// applier decodes (Apply's caller may reuse its changes once it returns).
type queued struct {
	record  []byte
	changes int
	seg     uint64
	n       uint64 // the record's number
}

// seqChecker is what the journal needs of its inner store besides Store:
// a chat's highest message seq, and what Apply would return for changes,
// found without writing them.
type seqChecker interface {
	lastSeq(ctx context.Context, chatID string) (int64, error)
	check(ctx context.Context, changes []Change) error
}

var _ Store = (*Journaled)(nil)

// OpenJournaled opens the journal under dir (creating it), applies what it
// holds to inner, and returns the journaled store. inner must implement
// the seq lookup of the SQLite store. On error inner is left open.
func OpenJournaled(ctx context.Context, inner Store, dir string, logger *slog.Logger) (*Journaled, error) {
	db, ok := inner.(seqChecker)
	if !ok {
		return nil, fmt.Errorf("store: journal: %T cannot look up message seqs", inner)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal %q: %w", dir, err)
	}
	j := &Journaled{
		inner: inner, db: db, dir: dir, logger: logger,
		lastSeq: map[string]int64{}, segmentSize: journalSegment, backlog: journalBacklog,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	last, err := j.replay(ctx)
	if err != nil {
		return nil, err
	}
	j.seg.Store(last + 1)
	j.applied = last + 1
	if err := j.openSegment(last + 1); err != nil {
		return nil, err
	}
	go j.run()
	return j, nil
}

func (j *Journaled) segmentPath(n uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%016d.log", n))
}

// segments lists the journal's files in order.
func (j *Journaled) segments() ([]uint64, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("journal %q: %w", j.dir, err)
	}
	var segs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// replay applies every record of the journal's files to the inner store,
// then deletes the files. It returns the highest file number seen.
func (j *Journaled) replay(ctx context.Context) (uint64, error) {
	segs, err := j.segments()
	if err != nil || len(segs) == 0 {
		return 0, err
	}
	for i, n := range segs {
		path := j.segmentPath(n)
		data, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("journal %q: %w", path, err)
		}
		var batch []Change
		records := 0
		for off := 0; off < len(data); {
			changes, size, err := readRecord(data[off:])
			if err != nil {
				// Only the last file may end in a record cut short by a
				// crash: it was never acknowledged. Elsewhere it is damage.
				if i != len(segs)-1 {
					return 0, fmt.Errorf("journal %q: offset %d: %w", path, off, err)
				}
				j.logger.Warn("journal ends in an incomplete record; it was never acknowledged and is dropped",
					"file", path, "offset", off, "bytes", len(data)-off)
				break
			}
			off += size
			records++
			batch = append(batch, changes...)
			if len(batch) >= journalBatch {
				if err := j.applyReplayed(ctx, batch); err != nil {
					return 0, err
				}
				batch = batch[:0]
			}
		}
		if err := j.applyReplayed(ctx, batch); err != nil {
			return 0, err
		}
		j.logger.Info("journal replayed", "file", path, "records", records)
	}
	for _, n := range segs {
		if err := os.Remove(j.segmentPath(n)); err != nil {
			return 0, fmt.Errorf("journal: %w", err)
		}
	}
	return segs[len(segs)-1], syncDir(j.dir)
}

// applyReplayed applies replayed changes; a batch that conflicts is
// applied record by record so that one bad change cannot hold back the
// rest.
func (j *Journaled) applyReplayed(ctx context.Context, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	err := j.inner.Apply(ctx, changes)
	if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrInvalid) {
		if err != nil {
			return fmt.Errorf("journal replay: %w", err)
		}
		return nil
	}
	for i := range changes {
		if err := j.inner.Apply(ctx, changes[i:i+1]); err != nil {
			if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrInvalid) {
				return fmt.Errorf("journal replay: %w", err)
			}
			j.logger.Error("journal replay: change skipped", "err", err)
		}
	}
	return nil
}

// openSegment creates file n and makes it the one written.
func (j *Journaled) openSegment(n uint64) error {
	f, err := os.OpenFile(j.segmentPath(n), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return err
	}
	j.f, j.size = f, 0
	j.seg.Store(n)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync %q: %w", dir, err)
	}
	return nil
}

// Apply implements Store: it returns once the changes are in the journal
// on disk.
func (j *Journaled) Apply(ctx context.Context, changes []Change) error {
	if err := validate(changes); err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	j.mu.Lock()
	behind := j.queued >= j.backlog
	j.mu.Unlock()
	if behind {
		if err := j.flush(ctx); err != nil {
			return err
		}
	}
	check, err := j.mayConflict(ctx, changes)
	if err != nil {
		return err
	}
	if check {
		// A seq that may be taken: let the inner store say what it would
		// do with the changes, with everything before them applied. They
		// are then journaled like any others, so a replay applies every
		// write in the order it was made.
		if err := j.flush(ctx); err != nil {
			return err
		}
		if err := j.db.check(ctx, changes); err != nil {
			return err
		}
	}
	j.buf = appendRecord(j.buf[:0], changes)
	if err := j.append(j.buf); err != nil {
		return err
	}
	j.records++
	j.noteSeqs(changes)
	j.mu.Lock()
	j.queue = append(j.queue, queued{record: slices.Clone(j.buf), changes: len(changes), seg: j.seg.Load(), n: j.records})
	j.queued += len(changes)
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	if j.size >= j.segmentSize {
		_ = j.rotate() // on failure the next write tries again
	}
	return nil
}

// mayConflict reports whether a new message of changes might claim a seq
// already held in its chat. A chat it does not know has no write in the
// journal that the inner store lacks (every write since open passed here,
// and a closed chat is forgotten only once its writes are applied), so its
// highest seq is read from the inner store.
func (j *Journaled) mayConflict(ctx context.Context, changes []Change) (bool, error) {
	if len(j.closing) > 0 {
		applied := j.appliedRecords.Load()
		i := 0
		for ; i < len(j.closing) && j.closing[i].n <= applied; i++ {
			delete(j.lastSeq, j.closing[i].id)
		}
		j.closing = j.closing[i:]
	}
	for i := range changes {
		m := changes[i].Message
		if m == nil {
			continue
		}
		last, ok := j.lastSeq[m.ChatID]
		if !ok {
			var err error
			if last, err = j.db.lastSeq(ctx, m.ChatID); err != nil {
				return false, err
			}
			j.lastSeq[m.ChatID] = last
		}
		if m.Seq <= last {
			return true, nil
		}
		// A later message of the same chat in this batch must come after
		// this one. Should the batch fail, a seq remembered too high only
		// sends later writes through the check.
		j.lastSeq[m.ChatID] = m.Seq
	}
	return false, nil
}

// noteSeqs records the seqs of written messages; a chat that closes is
// forgotten once the inner store holds this write.
func (j *Journaled) noteSeqs(changes []Change) {
	for i := range changes {
		c := &changes[i]
		if m := c.Message; m != nil && m.Seq > j.lastSeq[m.ChatID] {
			j.lastSeq[m.ChatID] = m.Seq
		}
		if ch := c.Chat; ch != nil && !ch.ClosedAt.IsZero() {
			j.closing = append(j.closing, closedChat{id: ch.ID, n: j.records})
		}
	}
}

// append writes one record and waits for the disk. A failed write is cut
// off again; if even that fails, or the disk reports a failed sync, the
// journal is broken: the state of the file is unknown.
func (j *Journaled) append(rec []byte) error {
	if _, err := j.f.Write(rec); err != nil {
		if terr := j.f.Truncate(j.size); terr != nil {
			j.broken = fmt.Errorf("journal: write failed and could not be undone: %w", errors.Join(err, terr))
			return j.broken
		}
		return fmt.Errorf("journal: write: %w", err)
	}
	if err := fdatasync(j.f); err != nil {
		j.broken = fmt.Errorf("journal: sync: %w", err)
		return j.broken
	}
	j.size += int64(len(rec))
	return nil
}

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// rotate starts a new journal file. The old one stays until the applier
// has put all of it into the inner store. If the new file cannot be made,
// the old one goes on being written.
func (j *Journaled) rotate() error {
	old := j.f
	if err := j.openSegment(j.seg.Load() + 1); err != nil {
		j.logger.Warn("journal: cannot start a new file", "err", err)
		return err
	}
	if err := old.Close(); err != nil {
		j.logger.Warn("journal: close", "err", err)
	}
	return nil
}

// run is the applier: it copies queued writes into the inner store.
func (j *Journaled) run() {
	defer close(j.stopped)
	timer := time.NewTimer(journalDelay)
	timer.Stop()
	waiting := false
	for {
		select {
		case <-j.stop:
			j.applyQueued()
			return
		case <-j.wake:
			j.mu.Lock()
			now := len(j.flushes) > 0 || j.queued >= journalBatch
			j.mu.Unlock()
			if !now {
				if !waiting {
					timer.Reset(journalDelay)
					waiting = true
				}
				continue
			}
		case <-timer.C:
		}
		if waiting {
			timer.Stop()
			waiting = false
		}
		j.applyQueued()
	}
}

// applyQueued applies everything queued, in transactions of about
// journalBatch changes, and deletes journal files the inner store now
// holds, then answers the readers that asked before it started. A failure
// keeps the writes queued and retries later.
func (j *Journaled) applyQueued() {
	j.mu.Lock()
	batch, flushes, total := j.queue, j.flushes, j.queued
	j.applying, j.queue, j.queued, j.flushes = j.queued, nil, 0, nil
	j.mu.Unlock()
	defer func() {
		for _, c := range flushes {
			c <- j.applyErrNow()
		}
	}()
	// A batch ends at the record that takes it past journalBatch.
	changes := make([]Change, 0, min(total, journalBatch+journalBatch/8))
	done := 0 // queue entries applied
	flushTo := func(upto int) error {
		if len(changes) == 0 {
			done = upto
			return nil
		}
		// No deadline: a context that can end makes the SQLite driver watch
		// it from a goroutine of its own for every statement, and a write
		// stuck in the kernel would not stop for it anyway.
		ctx := context.Background()
		start := time.Now()
		err := j.inner.Apply(ctx, changes)
		j.mu.Lock()
		j.stats.Applying += time.Since(start)
		if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrInvalid) {
			j.stats.Failures++
		} else {
			j.stats.Applied += int64(len(changes))
			j.applying -= len(changes)
		}
		j.mu.Unlock()
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) {
			// Checked before journaling, so this is damage or a bug:
			// apply the rest and say loudly what was skipped.
			for _, q := range batch[done:upto] {
				one, _, _ := readRecord(q.record)
				if err := j.inner.Apply(ctx, one); err != nil {
					j.logger.Error("journal: write skipped by the database", "changes", len(one), "err", err)
				}
			}
			err = nil
		}
		if err != nil {
			return err
		}
		changes, done = changes[:0], upto
		j.appliedRecords.Store(batch[upto-1].n)
		return nil
	}
	var err error
	for i, q := range batch {
		one, _, derr := readRecord(q.record)
		if derr != nil {
			// Our own bytes, just written: only a bug gets here.
			j.logger.Error("journal: cannot decode a queued record", "err", derr)
		}
		changes = append(changes, one...)
		if len(changes) >= journalBatch {
			if err = flushTo(i + 1); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = flushTo(len(batch))
	}
	j.mu.Lock()
	j.applyErr = err
	j.applying = 0
	if err != nil {
		j.logger.Error("journal: applying to the database failed; will retry", "err", err)
		rest := batch[done:len(batch):len(batch)]
		for _, q := range rest {
			j.queued += q.changes
		}
		j.queue = append(rest, j.queue...)
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
	// Files older than the oldest write still queued are wholly applied:
	// a write is queued before the file after it is started.
	keep := j.seg.Load()
	if len(j.queue) > 0 {
		keep = min(keep, j.queue[0].seg)
	}
	from := j.applied
	j.applied = max(j.applied, keep)
	j.mu.Unlock()
	for n := from; n < keep; n++ {
		if err := os.Remove(j.segmentPath(n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			j.logger.Warn("journal: cannot delete an applied file", "err", err)
		}
	}
}

func (j *Journaled) applyErrNow() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.applyErr
}

// flush waits until every write journaled so far is in the inner store.
func (j *Journaled) flush(ctx context.Context) error {
	c := make(chan error, 1)
	j.mu.Lock()
	j.flushes = append(j.flushes, c)
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-c:
		if err != nil {
			return fmt.Errorf("store: journal not applied: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-j.stopped:
		return ErrClosed
	}
}

// Recover implements Store.
func (j *Journaled) Recover(ctx context.Context, visitorsSince time.Time) (*Snapshot, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.inner.Recover(ctx, visitorsSince)
}

// Visitor implements Store.
func (j *Journaled) Visitor(ctx context.Context, id string) (*Visitor, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.inner.Visitor(ctx, id)
}

// Chat implements Store.
func (j *Journaled) Chat(ctx context.Context, id string) (*Chat, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.inner.Chat(ctx, id)
}

// Messages implements Store.
func (j *Journaled) Messages(ctx context.Context, chatID string, afterSeq int64, limit int) ([]Message, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.inner.Messages(ctx, chatID, afterSeq, limit)
}

// VisitorHistory implements Store.
func (j *Journaled) VisitorHistory(ctx context.Context, visitorID string, before time.Time, beforeID string, limit int) ([]Message, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.inner.VisitorHistory(ctx, visitorID, before, beforeID, limit)
}

// OperatorChats implements Store.
func (j *Journaled) OperatorChats(ctx context.Context, operatorID string, before time.Time, beforeID string, limit int) ([]Chat, error) {
	if err := j.flush(ctx); err != nil {
		return nil, err
	}
	return j.inner.OperatorChats(ctx, operatorID, before, beforeID, limit)
}

// PurgeClosed implements Store.
// The journal first moves to a new file and deletes the old ones once the
// database holds them: a replay after the purge must not bring back what
// it deleted.
func (j *Journaled) PurgeClosed(ctx context.Context, before time.Time) (int, error) {
	j.wmu.Lock()
	err := j.broken
	if err == nil {
		err = j.flush(ctx)
	}
	if err == nil {
		err = j.rotate()
	}
	current := j.seg.Load()
	j.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	// This apply finds nothing queued from the older files and deletes them.
	if err := j.flush(ctx); err != nil {
		return 0, err
	}
	segs, err := j.segments()
	if err != nil {
		return 0, err
	}
	if len(segs) > 0 && segs[0] < current {
		return 0, fmt.Errorf("journal: file %d is still there; not purging what a replay would restore", segs[0])
	}
	return j.inner.PurgeClosed(ctx, before)
}

// Ping implements Store: the journal must be writable and the inner store
// usable.
func (j *Journaled) Ping(ctx context.Context) error {
	j.wmu.Lock()
	broken := j.broken
	j.wmu.Unlock()
	if broken != nil {
		return broken
	}
	return j.inner.Ping(ctx)
}

// Close applies what is queued, closes the journal and the inner store.
// The journal's files are deleted when the inner store holds all of them.
func (j *Journaled) Close() error {
	j.closeOnce.Do(func() {
		j.wmu.Lock()
		if j.broken == nil {
			j.broken = ErrClosed
		}
		j.wmu.Unlock()
		close(j.stop)
		<-j.stopped
		var errs []error
		j.mu.Lock()
		pending, applyErr := len(j.queue), j.applyErr
		j.mu.Unlock()
		errs = append(errs, j.f.Close())
		if pending == 0 && applyErr == nil {
			if err := os.Remove(j.segmentPath(j.seg.Load())); err != nil {
				errs = append(errs, err)
			}
		} else {
			errs = append(errs, fmt.Errorf("journal: %d writes not applied, kept for the next start: %w", pending, applyErr))
		}
		errs = append(errs, j.inner.Close())
		j.closeErr = errors.Join(errs...)
	})
	return j.closeErr
}
