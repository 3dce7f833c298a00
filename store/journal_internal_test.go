package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func sampleChanges() []Change {
	rate := -2
	t1 := time.Date(2026, 11, 26, 10, 0, 0, 123_456_789, time.UTC)
	return []Change{
		{Visitor: &Visitor{ID: "v1", PageID: "p", AuthToken: "tok", DeviceID: "dev", Fields: []byte(`{"name":"Ann"}`), CreatedAt: t1, SeenAt: t1.Add(time.Second)}},
		{Visitor: &Visitor{ID: "v2", Fields: []byte{}}},
		{Chat: &Chat{ID: "c1", VisitorID: "v1", ClientSideID: "cs", DepartmentKey: "sales", State: ChatChatting, OperatorID: "7",
			QueuedAt: t1, CreatedAt: t1, ModifiedAt: t1, Rate: &rate, RatedOperatorID: "7", NextSeq: 3}},
		{Chat: &Chat{ID: "c2", State: ChatClosed, ClosedAt: t1}},
		{Message: &Message{ID: "c1-1", ChatID: "c1", Seq: 1, Kind: MessageVisitor, AuthorID: "v1", AuthorName: "Анна",
			Text: "привет \x00 ✓", ClientSideID: "m1", CreatedAt: t1}},
		{Operator: &OperatorState{OperatorID: "7", Status: OperatorOnline, UpdatedAt: t1}},
		{Read: &Read{ChatID: "c1", Side: SideOperator, UpToSeq: 1}},
	}
}

func TestJournalRecordRoundTrip(t *testing.T) {
	want := sampleChanges()
	rec := appendRecord([]byte("prefix"), want)[len("prefix"):]
	got, n, err := readRecord(append(rec, "next record"...))
	if err != nil || n != len(rec) {
		t.Fatalf("readRecord = %d bytes, %v; want %d, nil", n, err, len(rec))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	for cut := range len(rec) {
		if _, _, err := readRecord(rec[:cut]); !errors.Is(err, errTorn) {
			t.Fatalf("record cut to %d of %d bytes: %v, want errTorn", cut, len(rec), err)
		}
	}
	damaged := append([]byte{}, rec...)
	damaged[len(damaged)-3] ^= 0x40
	if _, _, err := readRecord(damaged); !errors.Is(err, errTorn) {
		t.Fatalf("flipped bit: %v, want errTorn", err)
	}
}

// openJournaled opens a SQLite store under dir behind its journal.
func openJournaled(t *testing.T, dir string) *Journaled {
	t.Helper()
	s, err := OpenSQLite(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournaled(t.Context(), s, dir+"/"+JournalDir, nil)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return j
}

func writeSegment(t *testing.T, dir, name string, records ...[]Change) []byte {
	t.Helper()
	if err := os.MkdirAll(dir+"/"+JournalDir, 0o750); err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, r := range records {
		b = appendRecord(b, r)
	}
	if err := os.WriteFile(dir+"/"+JournalDir+"/"+name, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return b
}

func msg(chatID string, seq int64) Change {
	id := MessageID(chatID, seq)
	return Change{Message: &Message{ID: id, ChatID: chatID, Seq: seq, Kind: MessageVisitor, Text: id,
		CreatedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}}
}

func TestJournalReplaysAndDropsATornTail(t *testing.T) {
	dir := t.TempDir()
	// What a crash leaves: two acknowledged records in an older file, one in
	// the newest, and a record cut short after it (never acknowledged).
	writeSegment(t, dir, "0000000000000001.log", []Change{msg("c1", 1)}, []Change{msg("c1", 2), msg("c2", 1)})
	full := writeSegment(t, dir, "0000000000000002.log", []Change{msg("c1", 3)}, []Change{msg("c1", 4)})
	torn := appendRecord(nil, []Change{msg("c1", 4)})
	if err := os.WriteFile(dir+"/"+JournalDir+"/0000000000000002.log", append(full[:len(full)-5:len(full)-5], torn[:3]...), 0o640); err != nil {
		t.Fatal(err)
	}
	_ = full
	j := openJournaled(t, dir)
	defer j.Close()
	got, err := j.Messages(t.Context(), "c1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, m := range got {
		seqs = append(seqs, m.Seq)
	}
	if !reflect.DeepEqual(seqs, []int64{1, 2, 3}) {
		t.Fatalf("chat c1 after replay has seqs %v, want [1 2 3]", seqs)
	}
	if m, _ := j.Messages(t.Context(), "c2", 0, 0); len(m) != 1 {
		t.Fatalf("chat c2 after replay: %v", m)
	}
	entries, _ := os.ReadDir(dir + "/" + JournalDir)
	if len(entries) != 1 || entries[0].Name() != "0000000000000003.log" {
		t.Fatalf("journal files after replay: %v, want only a new 0000000000000003.log", entries)
	}
}

func TestJournalRefusesDamageBeforeTheEnd(t *testing.T) {
	dir := t.TempDir()
	b := writeSegment(t, dir, "0000000000000001.log", []Change{msg("c1", 1)}, []Change{msg("c1", 2)})
	b[len(b)-2] ^= 1
	if err := os.WriteFile(dir+"/"+JournalDir+"/0000000000000001.log", b, 0o640); err != nil {
		t.Fatal(err)
	}
	writeSegment(t, dir, "0000000000000002.log", []Change{msg("c1", 3)})
	s, err := OpenSQLite(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = OpenJournaled(t.Context(), s, dir+"/"+JournalDir, nil)
	if err == nil || !strings.Contains(err.Error(), "0000000000000001.log") {
		t.Fatalf("OpenJournaled over a damaged older file = %v, want an error naming it", err)
	}
}

func TestJournalRotatesAndDeletesAppliedFiles(t *testing.T) {
	dir := t.TempDir()
	j := openJournaled(t, dir)
	j.segmentSize = 256
	ctx := context.Background()
	for seq := int64(1); seq <= 40; seq++ {
		if err := j.Apply(ctx, []Change{msg("c1", seq)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Deletion follows the apply that made a file redundant.
	if err := j.flush(ctx); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir + "/" + JournalDir)
	if len(entries) != 1 {
		t.Fatalf("journal files once everything is applied: %d, want 1 (the one being written)", len(entries))
	}
	got, err := j.Messages(ctx, "c1", 0, 0)
	if err != nil || len(got) != 40 {
		t.Fatalf("Messages = %d, %v; want 40", len(got), err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir + "/" + JournalDir); len(entries) != 0 {
		t.Fatalf("journal files after a clean close: %v", entries)
	}
}

func TestJournalConflictAfterTheChatIsForgotten(t *testing.T) {
	j := openJournaled(t, t.TempDir())
	defer j.Close()
	ctx := context.Background()
	closedAt := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	clash := func() Change {
		c := msg("c1", 1)
		c.Message.Text = "another"
		return c
	}
	if err := j.Apply(ctx, []Change{msg("c1", 1), {Chat: &Chat{ID: "c1", State: ChatClosed, ClosedAt: closedAt}}}); err != nil {
		t.Fatal(err)
	}
	// Still queued: the journal remembers the chat.
	if err := j.Apply(ctx, []Change{clash()}); !errors.Is(err, ErrConflict) {
		t.Fatalf("clash while queued: %v, want ErrConflict", err)
	}
	if err := j.flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Applied and forgotten: the seq is read back from the database.
	if err := j.Apply(ctx, []Change{{Read: &Read{ChatID: "c1", Side: SideVisitor, UpToSeq: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, known := j.lastSeq["c1"]; known {
		t.Fatal("a closed chat whose writes are applied is still remembered")
	}
	if err := j.Apply(ctx, []Change{clash()}); !errors.Is(err, ErrConflict) {
		t.Fatalf("clash after the chat was forgotten: %v, want ErrConflict", err)
	}
	if err := j.Apply(ctx, []Change{msg("c1", 1)}); err != nil {
		t.Fatalf("retry of the stored message: %v, want it skipped", err)
	}
}

// failingStore is a SQLite store whose writes fail while fail is set.
type failingStore struct {
	*SQLite
	fail atomic.Bool
}

func (f *failingStore) Apply(ctx context.Context, changes []Change) error {
	if f.fail.Load() {
		return errors.New("disk unavailable")
	}
	return f.SQLite.Apply(ctx, changes)
}

func TestJournalStallingDatabaseStopsWritesAndLosesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSQLite(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	inner := &failingStore{SQLite: s}
	j, err := OpenJournaled(t.Context(), inner, dir+"/"+JournalDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.backlog = 3
	inner.fail.Store(true)
	ctx := context.Background()
	for seq := int64(1); seq <= 3; seq++ {
		if err := j.Apply(ctx, []Change{msg("c1", seq)}); err != nil {
			t.Fatalf("write %d while the backlog has room: %v", seq, err)
		}
	}
	if err := j.Apply(ctx, []Change{msg("c1", 4)}); err == nil || !strings.Contains(err.Error(), "disk unavailable") {
		t.Fatalf("write past the backlog with the database failing = %v, want its error", err)
	}
	if _, err := j.Messages(ctx, "c1", 0, 0); err == nil {
		t.Fatal("a read while the database cannot take the journal's writes succeeded")
	}
	if st := j.Stats(); st.Backlog != 3 || st.Failures == 0 || st.Applied != 0 {
		t.Fatalf("Stats while the database fails = %+v, want a backlog of 3, failures, nothing applied", st)
	}
	inner.fail.Store(false)
	if err := j.Apply(ctx, []Change{msg("c1", 4)}); err != nil {
		t.Fatalf("write once the database is back: %v", err)
	}
	got, err := j.Messages(ctx, "c1", 0, 0)
	if err != nil || len(got) != 4 {
		t.Fatalf("Messages = %d, %v; want the 4 acknowledged", len(got), err)
	}
	if st := j.Stats(); st.Backlog != 0 || st.Applied != 4 || st.Applying <= 0 {
		t.Fatalf("Stats once the database is back = %+v, want no backlog, 4 applied, some time applying", st)
	}
}

// copyDir copies the regular files under src to dst: the image a crash
// would leave of a data directory that is not being written to.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestJournalReplayKeepsTheNewestWrite(t *testing.T) {
	dir := t.TempDir()
	j := openJournaled(t, dir)
	defer j.Close()
	ctx := context.Background()
	chat := func(state string) Change {
		return Change{Chat: &Chat{ID: "c1", VisitorID: "v1", State: state, CreatedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}}
	}
	if err := j.Apply(ctx, []Change{chat(ChatQueue), msg("c1", 1)}); err != nil {
		t.Fatal(err)
	}
	// A retried message (its seq is taken, by itself) with a newer chat
	// record in the same batch: checked against the database first.
	if err := j.Apply(ctx, []Change{msg("c1", 1), chat(ChatChatting)}); err != nil {
		t.Fatal(err)
	}
	if err := j.flush(ctx); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	again := openJournaled(t, crashed)
	defer again.Close()
	c, err := again.Chat(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != ChatChatting {
		t.Fatalf("after replay the chat is %q, want %q: an older record was applied over a newer write", c.State, ChatChatting)
	}
	if ms, err := again.Messages(ctx, "c1", 0, 0); err != nil || len(ms) != 1 {
		t.Fatalf("messages after replay: %d, %v; want 1", len(ms), err)
	}
}

func TestJournalReplayDoesNotRestorePurgedChats(t *testing.T) {
	dir := t.TempDir()
	j := openJournaled(t, dir)
	defer j.Close()
	ctx := context.Background()
	closedAt := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)
	if err := j.Apply(ctx, []Change{msg("old", 1), {Chat: &Chat{ID: "old", State: ChatClosed, CreatedAt: closedAt, ClosedAt: closedAt}}}); err != nil {
		t.Fatal(err)
	}
	n, err := j.PurgeClosed(ctx, closedAt.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeClosed = %d, %v; want 1 chat", n, err)
	}
	if err := j.Apply(ctx, []Change{msg("new", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := j.flush(ctx); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	again := openJournaled(t, crashed)
	defer again.Close()
	if _, err := again.Chat(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purged chat after replay: %v, want ErrNotFound", err)
	}
	if ms, _ := again.Messages(ctx, "old", 0, 0); len(ms) != 0 {
		t.Fatalf("purged chat's messages came back after replay: %d", len(ms))
	}
	if ms, _ := again.Messages(ctx, "new", 0, 0); len(ms) != 1 {
		t.Fatalf("a write after the purge is missing after replay: %d messages", len(ms))
	}
}

func TestJournalConflictInsideOneBatch(t *testing.T) {
	j := openJournaled(t, t.TempDir())
	defer j.Close()
	ctx := context.Background()
	clash := msg("c1", 1)
	clash.Message.Text = "another"
	if err := j.Apply(ctx, []Change{msg("c1", 1), clash}); !errors.Is(err, ErrConflict) {
		t.Fatalf("two messages with one seq in a batch: %v, want ErrConflict", err)
	}
	if ms, err := j.Messages(ctx, "c1", 0, 0); err != nil || len(ms) != 0 {
		t.Fatalf("the failed batch was partly written: %d messages, %v", len(ms), err)
	}
	if err := j.Apply(ctx, []Change{msg("c1", 1), msg("c1", 2)}); err != nil {
		t.Fatalf("a good batch after the failed one: %v", err)
	}
	if ms, err := j.Messages(ctx, "c1", 0, 0); err != nil || len(ms) != 2 {
		t.Fatalf("Messages = %d, %v; want 2", len(ms), err)
	}
}
