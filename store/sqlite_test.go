package store_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatnode/chatnode/store"
	"github.com/chatnode/chatnode/store/storetest"
)

// mustOpenSQLite opens a store in a new temporary data directory and closes
// it when tb ends.
func mustOpenSQLite(tb testing.TB) *store.SQLite {
	tb.Helper()
	return mustOpenSQLiteAt(tb, tb.TempDir())
}

func mustOpenSQLiteAt(tb testing.TB, dir string) *store.SQLite {
	tb.Helper()
	s, err := store.OpenSQLite(context.Background(), dir)
	if err != nil {
		tb.Fatalf("OpenSQLite: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return mustOpenSQLite(t) })
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenSQLiteAt(t, dir)
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := &store.Chat{ID: "c1", VisitorID: "v1", State: store.ChatQueue, QueuedAt: now, CreatedAt: now, ModifiedAt: now, NextSeq: 2}
	m := &store.Message{ID: "c1-1", ChatID: "c1", Seq: 1, Kind: store.MessageVisitor, Text: "hi", CreatedAt: now}
	if err := s.Apply(t.Context(), []store.Change{{Chat: c}, {Message: m}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 { // the second open finds the schema up to date
		s = mustOpenSQLiteAt(t, dir)
		snap, err := s.Recover(t.Context(), time.Time{})
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		if len(snap.Chats) != 1 || snap.Chats[0].ID != "c1" || len(snap.Messages["c1"]) != 1 || snap.Messages["c1"][0].Text != "hi" {
			t.Fatalf("after reopening: %+v", snap)
		}
		s.Close()
	}
}

func TestSQLiteCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	mustOpenSQLiteAt(t, dir)
	if _, err := os.Stat(filepath.Join(dir, store.SQLiteFile)); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestSQLiteCorruptFile(t *testing.T) {
	dir := t.TempDir()
	garbage := bytes.Repeat([]byte("this is not a database "), 400)
	if err := os.WriteFile(filepath.Join(dir, store.SQLiteFile), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.OpenSQLite(t.Context(), dir)
	if err == nil {
		t.Fatal("OpenSQLite of a corrupt file succeeded")
	}
	for _, want := range []string{"data_dir", dir, store.SQLiteFile, "not a database"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestSQLiteDataDirIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.OpenSQLite(t.Context(), file)
	if err == nil || !strings.Contains(err.Error(), "data_dir") || !strings.Contains(err.Error(), file) ||
		!strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("OpenSQLite(regular file) = %v; want an error naming data_dir and the path", err)
	}
	if _, err := store.OpenSQLite(t.Context(), ""); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Fatalf("OpenSQLite(\"\") = %v; want an error naming data_dir", err)
	}
}

func TestOpenUnknownKind(t *testing.T) {
	if _, err := store.Open(t.Context(), "mysql", t.TempDir(), "", nil); err == nil || !strings.Contains(err.Error(), "mysql") {
		t.Fatalf("Open(mysql) = %v", err)
	}
	s, err := store.Open(t.Context(), store.KindSQLite, t.TempDir(), "", nil)
	if err != nil {
		t.Fatalf("Open(sqlite): %v", err)
	}
	s.Close()
}

// killEnv switches the test binary into TestHelperProcess's writer.
const killEnv = "CHATNODE_STORE_KILL_DIR"

// TestSQLiteSurvivesKill9 runs a child process that writes messages through
// a Writer into the store a standalone node opens (SQLite behind its
// journal) and prints the id of each one it was told is durable, kills it
// with SIGKILL in mid-stream, and checks that every acknowledged message is
// in the store when it is opened again.
func TestSQLiteSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 2000
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		acked = append(acked, id)
		if len(acked) == killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill: %v", err)
			}
		}
		// Keep reading: acks already in the pipe were printed before the kill.
	}
	err = cmd.Wait()
	if len(acked) < killAfter {
		t.Fatalf("child stopped after %d acks (%v): %s", len(acked), err, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v; stderr: %s", err, stderr.String())
	}

	s, err := store.Open(t.Context(), store.KindSQLite, dir, "", nil)
	if err != nil {
		t.Fatalf("reopen after the kill: %v", err)
	}
	defer s.Close()
	stored := map[string]bool{}
	for g := range killWriters {
		ms, err := s.Messages(t.Context(), fmt.Sprint("k", g), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			if m.Seq != int64(i+1) {
				t.Fatalf("chat k%d: message %d has seq %d: a hole", g, i, m.Seq)
			}
			stored[m.ID] = true
		}
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged message %s is lost (%d acked, %d stored)", id, len(acked), len(stored))
		}
	}
	t.Logf("%d messages acknowledged before and during the kill, %d stored", len(acked), len(stored))
}

const killWriters = 8

// TestHelperProcess is the child of TestSQLiteSurvivesKill9; it does nothing
// in a normal test run.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(killEnv)
	if dir == "" {
		return
	}
	s, err := store.Open(context.Background(), store.KindSQLite, dir, "", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := store.NewWriter(s, store.WriterOptions{})
	var wg sync.WaitGroup
	for g := range killWriters {
		wg.Go(func() {
			chatID := fmt.Sprint("k", g)
			inflight := make(chan struct{}, 32)
			for seq := int64(1); ; seq++ {
				inflight <- struct{}{}
				m := &store.Message{ID: fmt.Sprintf("%s-%d", chatID, seq), ChatID: chatID, Seq: seq,
					Kind: store.MessageVisitor, Text: "x", CreatedAt: time.Now()}
				w.Submit([]store.Change{{Message: m}}, func(err error) {
					if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(2)
					}
					// Callbacks run one at a time on the Writer's goroutine;
					// os.Stdout is unbuffered: the line is out before the
					// next message is acknowledged.
					os.Stdout.WriteString("ack " + m.ID + "\n")
					<-inflight
				})
			}
		})
	}
	wg.Wait() // never returns: the parent kills this process
}

// TestSQLiteMigrationKeepsMessages opens a database made by the schema
// that kept a row a message, before messages were keyed by (chat, seq), and
// finds its messages after the migrations, kept by (chat, seq) in blocks.
func TestSQLiteMigrationKeepsMessages(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for v, name := range []string{"0001_init.sql", "0002_client_side_id_per_kind.sql", "0003_drop_history_index.sql"} {
		script, err := os.ReadFile(filepath.Join("migrations", "sqlite", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(script)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, v+1, name); err != nil {
			t.Fatal(err)
		}
	}
	// c1 has more messages than one migrated block holds, c2 one that
	// needs escaping in JSON; they were written newest first.
	want := map[string][]store.Message{}
	for seq := int64(300); seq >= 1; seq-- {
		want["c1"] = append(want["c1"], store.Message{ID: store.MessageID("c1", seq), ChatID: "c1", Seq: seq,
			Kind: store.MessageVisitor, AuthorID: "v1", AuthorName: "Anna", Text: fmt.Sprint("hello ", seq),
			ClientSideID: fmt.Sprint("k", seq), CreatedAt: time.UnixMilli(1000 + seq).UTC()})
	}
	old := append([]store.Message{}, want["c1"]...)
	slices.Reverse(want["c1"])
	want["c2"] = []store.Message{{ID: "c2-1", ChatID: "c2", Seq: 1, Kind: store.MessageOperator, AuthorID: "op1",
		AuthorName: `Bob "B"`, Text: "line\nbreak \\ ✓", ClientSideID: "", CreatedAt: time.UnixMilli(5000).UTC()}}
	for _, m := range append(old, want["c2"]...) {
		if _, err := db.Exec(`INSERT INTO messages (id, chat_id, seq, kind, author_id, author_name, text, client_side_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, m.ChatID, m.Seq, m.Kind, m.AuthorID, m.AuthorName, m.Text,
			m.ClientSideID, m.CreatedAt.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := mustOpenSQLiteAt(t, dir)
	for chatID, ms := range want {
		got, err := s.Messages(t.Context(), chatID, 0, 0)
		if err != nil || !reflect.DeepEqual(got, ms) {
			t.Fatalf("Messages(%s) after the migration = %+v, %v; want %+v", chatID, got, err, ms)
		}
	}
	// The stored message again is a retry, another one at its seq a
	// conflict, and the next seq is free.
	again := want["c1"][99]
	if err := s.Apply(t.Context(), []store.Change{{Message: &again}}); err != nil {
		t.Fatalf("Apply(a stored message again): %v", err)
	}
	clash := again
	clash.Text = "another"
	if err := s.Apply(t.Context(), []store.Change{{Message: &clash}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Apply(another message at a taken seq) = %v, want ErrConflict", err)
	}
	next := store.Message{ID: "c1-301", ChatID: "c1", Seq: 301, Kind: store.MessageVisitor, Text: "next",
		CreatedAt: time.UnixMilli(9000).UTC()}
	if err := s.Apply(t.Context(), []store.Change{{Message: &next}}); err != nil {
		t.Fatalf("Apply(the next message): %v", err)
	}
	got, err := s.Messages(t.Context(), "c1", 299, 0)
	if err != nil || !reflect.DeepEqual(got, []store.Message{want["c1"][299], next}) {
		t.Fatalf("Messages(c1 after 299) = %+v, %v", got, err)
	}
}

// TestSQLiteMessageBlocks looks inside the database: a batch stores a
// block a chat, cut at 256 messages or about a megabyte; a message below
// the chat's highest seq goes into the block whose range holds it or into
// a block of its own, so that no two blocks of a chat overlap; every block
// is valid JSONB that SQLite renders as the message arrays; and the
// messages view reads what Messages returns.
func TestSQLiteMessageBlocks(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenSQLiteAt(t, dir)
	created := time.UnixMilli(1_700_000_000_123).UTC()
	msg := func(chatID string, seq int64) *store.Message {
		return &store.Message{ID: store.MessageID(chatID, seq), ChatID: chatID, Seq: seq, Kind: store.MessageVisitor,
			AuthorID: "v-" + chatID, AuthorName: `Anna "A" \ Z`, Text: fmt.Sprintf("hello\n%d ✓", seq),
			ClientSideID: fmt.Sprint("k", seq), CreatedAt: created}
	}
	apply := func(chatID string, seqs ...int64) {
		t.Helper()
		var batch []store.Change
		for _, seq := range seqs {
			m := msg(chatID, seq)
			if chatID == "big" {
				m.Text = strings.Repeat("x", 400_000)
			}
			batch = append(batch, store.Change{Message: m})
		}
		if err := s.Apply(t.Context(), batch); err != nil {
			t.Fatalf("Apply(%s %v): %v", chatID, seqs, err)
		}
	}
	var batch []store.Change
	for seq := int64(1); seq <= 10; seq++ {
		for _, chatID := range []string{"c1", "c2"} {
			batch = append(batch, store.Change{Message: msg(chatID, seq)})
		}
	}
	if err := s.Apply(t.Context(), batch); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	apply("c1", 12, 11)
	apply("inside", 1, 2, 5)
	apply("inside", 6, 7)
	apply("inside", 4, 3)
	apply("gap", 1, 2)
	apply("gap", 5, 6)
	apply("gap", 3)
	var long []int64
	for seq := int64(1); seq <= 600; seq++ {
		long = append(long, seq)
	}
	apply("long", long...)
	apply("big", 1, 2, 3, 4, 5)

	db, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT chat_id, first_seq, last_seq, json_valid(messages, 8), json(messages)
		FROM message_blocks ORDER BY chat_id, last_seq`)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	read := map[string][]any{} // each chat's message arrays, block after block
	prevLast := map[string]int64{}
	for rows.Next() {
		var chatID, text string
		var first, last int64
		var valid bool
		if err := rows.Scan(&chatID, &first, &last, &valid, &text); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, fmt.Sprintf("%s %d-%d", chatID, first, last))
		if !valid {
			t.Errorf("block %s %d-%d is not valid JSONB", chatID, first, last)
		}
		if first <= prevLast[chatID] {
			t.Errorf("block %s %d-%d overlaps the one before, which ends at %d", chatID, first, last, prevLast[chatID])
		}
		prevLast[chatID] = last
		var elems []any
		if err := json.Unmarshal([]byte(text), &elems); err != nil {
			t.Fatalf("block %s %d-%d renders as %.200q: %v", chatID, first, last, text, err)
		}
		read[chatID] = append(read[chatID], elems...)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"big 1-2", "big 3-4", "big 5-5", "c1 1-10", "c1 11-12", "c2 1-10", "gap 1-2", "gap 3-3", "gap 5-6",
		"inside 1-5", "inside 6-7", "long 1-256", "long 257-512", "long 513-600"}
	if !reflect.DeepEqual(blocks, want) {
		t.Fatalf("blocks = %q, want %q", blocks, want)
	}
	for chatID, elems := range read {
		ms, err := s.Messages(t.Context(), chatID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var wantElems []any
		for _, m := range ms {
			wantElems = append(wantElems, []any{float64(m.Seq), m.Kind, m.AuthorID, m.AuthorName, m.Text, m.ClientSideID,
				float64(m.CreatedAt.UnixMilli())})
		}
		if !reflect.DeepEqual(elems, wantElems) {
			t.Errorf("the blocks of %s hold, in order,\n%.300v\nMessages returns\n%.300v", chatID, elems, wantElems)
		}
	}

	got, err := s.Messages(t.Context(), "inside", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	view, err := db.Query(`SELECT id, chat_id, seq, kind, author_id, author_name, text, client_side_id, created_at
		FROM messages WHERE chat_id = 'inside' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	var viewed []store.Message
	for view.Next() {
		var m store.Message
		var ms int64
		if err := view.Scan(&m.ID, &m.ChatID, &m.Seq, &m.Kind, &m.AuthorID, &m.AuthorName, &m.Text, &m.ClientSideID, &ms); err != nil {
			t.Fatal(err)
		}
		m.CreatedAt = time.UnixMilli(ms).UTC()
		viewed = append(viewed, m)
	}
	if len(got) != 7 || !reflect.DeepEqual(viewed, got) {
		t.Fatalf("the messages view reads\n%+v\nMessages returns\n%+v", viewed, got)
	}
}
