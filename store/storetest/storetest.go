// Package storetest is the conformance suite every store.Store
// implementation passes. An implementation's test calls Run with a function
// that opens a fresh, empty store and arranges for it to be closed when the
// test ends.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatnode/chatnode/store"
)

// Run runs the suite. open must return a new, empty store each time it is
// called and close it (t.Cleanup) when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"TimesAreUTCMilliseconds", testTimes},
		{"NotFound", testNotFound},
		{"MessageIdempotentOnPlace", testMessageIdempotentOnPlace},
		{"ClientSideIDNotAKey", testClientSideIDNotAKey},
		{"MessageSeqConflict", testMessageSeqConflict},
		{"MessageRuns", testMessageRuns},
		{"SeqOrder", testSeqOrder},
		{"LateMessages", testLateMessages},
		{"MessageText", testMessageText},
		{"RecoverSkipsClosedChats", testRecoverSkipsClosed},
		{"RecoverVisitorsSince", testRecoverVisitorsSince},
		{"UpsertOverwrites", testUpsertOverwrites},
		{"InvalidChanges", testInvalidChanges},
		{"MessagesPaging", testMessagesPaging},
		{"VisitorHistoryPaging", testVisitorHistoryPaging},
		{"OperatorChatsPaging", testOperatorChatsPaging},
		{"PurgeClosed", testPurgeClosed},
		{"ConcurrentApply", testConcurrentApply},
		{"WriterConcurrentSubmitters", testWriterConcurrent},
		{"WriterFlushesOnClose", testWriterFlushesOnClose},
		{"WriterCommitInterval", testWriterCommitInterval},
		{"WriterAfterClose", testWriterAfterClose},
		{"WriterInvalidSubmissionFailsAlone", testWriterInvalidSubmission},
		{"WriterReportsBatchErrors", testWriterBatchError},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// t0 is the base time of the suite's records, in whole milliseconds.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func intp(v int) *int { return &v }

func visitor(id string, seen time.Time) *store.Visitor {
	return &store.Visitor{
		ID: id, PageID: "page-" + id, AuthToken: "token-" + id, DeviceID: "device-" + id,
		Fields: []byte(`{"name":"` + id + `"}`), CreatedAt: seen.Add(-time.Hour), SeenAt: seen,
	}
}

func chat(id, visitorID, operatorID string, modified time.Time) *store.Chat {
	return &store.Chat{
		ID: id, VisitorID: visitorID, ClientSideID: "c-" + id, DepartmentKey: "sales",
		State: store.ChatChatting, OperatorID: operatorID, QueuedAt: modified.Add(-time.Minute),
		CreatedAt: modified.Add(-2 * time.Minute), ModifiedAt: modified, NextSeq: 1,
	}
}

func closed(c *store.Chat, when time.Time) *store.Chat {
	c.State, c.ClosedAt, c.ModifiedAt = store.ChatClosedByVisitor, when, when
	return c
}

func message(chatID string, seq int64, created time.Time) *store.Message {
	return &store.Message{
		ID: store.MessageID(chatID, seq), ChatID: chatID, Seq: seq, Kind: store.MessageVisitor,
		AuthorID: "v", AuthorName: "Visitor", Text: fmt.Sprintf("hello %d", seq),
		ClientSideID: fmt.Sprintf("%s-c%d", chatID, seq), CreatedAt: created,
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustApply(t *testing.T, s store.Store, changes ...store.Change) {
	t.Helper()
	if err := s.Apply(ctx(t), changes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func mustRecover(t *testing.T, s store.Store, since time.Time) *store.Snapshot {
	t.Helper()
	snap, err := s.Recover(ctx(t), since)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return snap
}

func mustChat(t *testing.T, s store.Store, id string) *store.Chat {
	t.Helper()
	c, err := s.Chat(ctx(t), id)
	if err != nil {
		t.Fatalf("Chat(%q): %v", id, err)
	}
	return c
}

func mustMessages(t *testing.T, s store.Store, chatID string, after int64, limit int) []store.Message {
	t.Helper()
	ms, err := s.Messages(ctx(t), chatID, after, limit)
	if err != nil {
		t.Fatalf("Messages(%q, %d, %d): %v", chatID, after, limit, err)
	}
	return ms
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got: %s\nwant: %s", what, show(got), show(want))
	}
}

// show prints pointers' targets, so that a diff is readable.
func show(v any) string {
	switch x := v.(type) {
	case *store.Chat:
		if x == nil {
			return "nil"
		}
		return show(*x)
	case store.Chat:
		rate := "nil"
		if x.Rate != nil {
			rate = fmt.Sprint(*x.Rate)
		}
		x.Rate = nil
		return fmt.Sprintf("%+v Rate=%s", x, rate)
	case []store.Chat:
		out := "["
		for _, c := range x {
			out += "\n  " + show(c)
		}
		return out + "]"
	case *store.Visitor:
		if x == nil {
			return "nil"
		}
		return show(*x)
	case store.Visitor:
		return fmt.Sprintf("%+v Fields=%q", x, x.Fields)
	}
	return fmt.Sprintf("%+v", v)
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func messageIDs(ms []store.Message) []string {
	return ids(ms, func(m store.Message) string { return m.ID })
}

func chatIDs(cs []store.Chat) []string { return ids(cs, func(c store.Chat) string { return c.ID }) }

func testRoundTrip(t *testing.T, s store.Store) {
	v := visitor("v1", at(0))
	c := chat("c1", "v1", "op1", at(10))
	c.Rate, c.RatedOperatorID, c.NextSeq = intp(-2), "op1", 3
	m1, m2 := message("c1", 1, at(20)), message("c1", 2, at(30))
	m2.Kind, m2.AuthorID, m2.AuthorName, m2.ClientSideID = store.MessageInfo, "", "", ""
	op := &store.OperatorState{OperatorID: "op1", Status: store.OperatorOnline, LastAssignedAt: at(5), UpdatedAt: at(6)}
	op2 := &store.OperatorState{OperatorID: "op2", Status: store.OperatorOffline, UpdatedAt: at(7)}
	rv := &store.Read{ChatID: "c1", Side: store.SideVisitor, UpToSeq: 2}
	ro := &store.Read{ChatID: "c1", Side: store.SideOperator, UpToSeq: 1}
	mustApply(t, s, store.Change{Visitor: v}, store.Change{Chat: c}, store.Change{Message: m2},
		store.Change{Message: m1}, store.Change{Operator: op}, store.Change{Operator: op2},
		store.Change{Read: rv}, store.Change{Read: ro})

	snap := mustRecover(t, s, at(0))
	equal(t, "chats", snap.Chats, []store.Chat{*c})
	equal(t, "messages", snap.Messages, map[string][]store.Message{"c1": {*m1, *m2}})
	equal(t, "visitors", snap.Visitors, []store.Visitor{*v})
	equal(t, "operators", snap.Operators, []store.OperatorState{*op, *op2})
	equal(t, "reads", snap.Reads, []store.Read{*ro, *rv})

	gotV, err := s.Visitor(ctx(t), "v1")
	if err != nil {
		t.Fatalf("Visitor: %v", err)
	}
	equal(t, "Visitor", gotV, v)
	equal(t, "Chat", mustChat(t, s, "c1"), c)

	// A visitor without fields, a queued chat that was never queued before,
	// unrated.
	v2 := &store.Visitor{ID: "v2", CreatedAt: at(1), SeenAt: at(2)}
	c2 := &store.Chat{ID: "c2", VisitorID: "v2", State: store.ChatQueue, CreatedAt: at(3), ModifiedAt: at(3), NextSeq: 1}
	mustApply(t, s, store.Change{Visitor: v2}, store.Change{Chat: c2})
	gotV, err = s.Visitor(ctx(t), "v2")
	if err != nil {
		t.Fatalf("Visitor: %v", err)
	}
	equal(t, "Visitor without fields", gotV, v2)
	equal(t, "Chat with zero times", mustChat(t, s, "c2"), c2)
}

func testTimes(t *testing.T, s store.Store) {
	moscow := time.FixedZone("MSK", 3*3600)
	fine := t0.Add(123456 * time.Nanosecond).In(moscow) // sub-millisecond, not UTC
	v := &store.Visitor{ID: "v1", CreatedAt: fine, SeenAt: fine}
	mustApply(t, s, store.Change{Visitor: v})
	got, err := s.Visitor(ctx(t), "v1")
	if err != nil {
		t.Fatalf("Visitor: %v", err)
	}
	if got.CreatedAt != t0 || got.SeenAt != t0 {
		t.Fatalf("times = %v, %v; want %v (UTC, milliseconds)", got.CreatedAt, got.SeenAt, t0)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	if _, err := s.Visitor(ctx(t), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Visitor(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Chat(ctx(t), "nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Chat(missing) = %v, want ErrNotFound", err)
	}
	if ms := mustMessages(t, s, "nothing", 0, 10); len(ms) != 0 {
		t.Errorf("Messages(missing chat) = %v, want none", ms)
	}
	snap := mustRecover(t, s, time.Time{})
	if len(snap.Chats)+len(snap.Messages)+len(snap.Visitors)+len(snap.Operators)+len(snap.Reads) != 0 {
		t.Errorf("Recover of an empty store = %+v", snap)
	}
}

// testMessageIdempotentOnPlace: a message written again at its seq (a
// replayed journal, a resent batch) changes nothing.
func testMessageIdempotentOnPlace(t *testing.T, s store.Store) {
	m := message("c1", 1, at(0))
	mustApply(t, s, store.Change{Chat: chat("c1", "v1", "", at(0))}, store.Change{Message: m})
	again := *m
	again.CreatedAt = at(9)
	mustApply(t, s, store.Change{Message: &again})
	// Twice within one batch.
	m2 := message("c1", 2, at(1))
	mustApply(t, s, store.Change{Message: m2}, store.Change{Message: m2})
	equal(t, "messages", mustMessages(t, s, "c1", 0, 0), []store.Message{*m, *m2})
}

// testClientSideIDNotAKey: client-side ids are the chat actor's to dedupe;
// the store keeps every message at its own place, whatever its client id.
func testClientSideIDNotAKey(t *testing.T, s store.Store) {
	m := message("c1", 1, at(0))
	second := message("c1", 2, at(1))
	second.ClientSideID = m.ClientSideID
	fromOperator := message("c1", 3, at(2))
	fromOperator.Kind, fromOperator.ClientSideID = store.MessageOperator, m.ClientSideID
	other := message("c2", 1, at(3))
	other.ClientSideID = m.ClientSideID
	info1, info2 := message("c1", 4, at(4)), message("c1", 5, at(5))
	info1.ClientSideID, info2.ClientSideID = "", ""
	mustApply(t, s, store.Change{Message: m}, store.Change{Message: second}, store.Change{Message: fromOperator},
		store.Change{Message: other}, store.Change{Message: info1}, store.Change{Message: info2})
	equal(t, "c1", mustMessages(t, s, "c1", 0, 0), []store.Message{*m, *second, *fromOperator, *info1, *info2})
	equal(t, "c2", mustMessages(t, s, "c2", 0, 0), []store.Message{*other})
}

func testMessageSeqConflict(t *testing.T, s store.Store) {
	m := message("c1", 1, at(0))
	mustApply(t, s, store.Change{Message: m})
	clash := message("c1", 1, at(1))
	clash.Text, clash.ClientSideID = "another", "another"
	v := visitor("v1", at(0))
	err := s.Apply(ctx(t), []store.Change{{Visitor: v}, {Message: clash}})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Apply(message with a taken seq) = %v, want ErrConflict", err)
	}
	if _, err := s.Visitor(ctx(t), "v1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed batch was partly written: Visitor = %v", err)
	}
	equal(t, "messages", mustMessages(t, s, "c1", 0, 0), []store.Message{*m})
}

// testMessageRuns writes many messages in one batch, as a busy Writer and
// the journal's applier do: new messages beside a retry are all kept, and
// a clash anywhere in the run fails the whole batch.
func testMessageRuns(t *testing.T, s store.Store) {
	const n = 100 // longer than any chunk a store writes with one statement
	var all []store.Message
	run := func(from, to int64) []store.Change {
		var cs []store.Change
		for seq := from; seq <= to; seq++ {
			m := message("c1", seq, at(int(seq)))
			cs = append(cs, store.Change{Message: m})
			all = append(all, *m)
		}
		return cs
	}
	mustApply(t, s, append([]store.Change{{Chat: chat("c1", "v1", "", at(0))}}, run(1, 1)...)...)
	retried := all[0]
	batch := run(2, n)
	batch = append(batch[:n/2], append([]store.Change{{Message: &retried}}, batch[n/2:]...)...)
	mustApply(t, s, batch...)
	equal(t, "after a run with a retry", mustMessages(t, s, "c1", 0, 0), all)

	kept := all
	clash := message("c1", n/2, at(0))
	clash.Text, clash.ClientSideID = "another", "another"
	batch = run(n+1, 2*n)
	batch = append(batch[:n/2], append([]store.Change{{Message: clash}}, batch[n/2:]...)...)
	err := s.Apply(ctx(t), batch)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Apply(run with a taken seq) = %v, want ErrConflict", err)
	}
	equal(t, "after a run with a clash", mustMessages(t, s, "c1", 0, 0), kept)
}

func testSeqOrder(t *testing.T, s store.Store) {
	var changes []store.Change
	var want []store.Message
	for _, seq := range []int64{3, 1, 5, 2, 4} {
		changes = append(changes, store.Change{Message: message("c1", seq, at(int(10-seq)))})
	}
	for seq := int64(1); seq <= 5; seq++ {
		want = append(want, *message("c1", seq, at(int(10-seq))))
	}
	mustApply(t, s, append(changes, store.Change{Chat: chat("c1", "v1", "", at(0))})...)
	equal(t, "Messages", mustMessages(t, s, "c1", 0, 0), want)
	equal(t, "Recover", mustRecover(t, s, time.Time{}).Messages["c1"], want)
}

// testLateMessages writes messages below a chat's highest stored seq, in
// later batches: a free seq is stored in its place, a retry is skipped and
// another message at a taken seq fails its whole batch.
func testLateMessages(t *testing.T, s store.Store) {
	ms := map[int64]*store.Message{}
	for seq := int64(1); seq <= 8; seq++ {
		ms[seq] = message("c1", seq, at(int(seq)))
	}
	pick := func(seqs ...int64) []store.Change {
		var cs []store.Change
		for _, seq := range seqs {
			cs = append(cs, store.Change{Message: ms[seq]})
		}
		return cs
	}
	want := func(seqs ...int64) []store.Message {
		var out []store.Message
		for _, seq := range seqs {
			out = append(out, *ms[seq])
		}
		return out
	}
	mustApply(t, s, append(pick(1, 2, 6), store.Change{Chat: chat("c1", "v1", "", at(0))})...)
	mustApply(t, s, pick(4, 2, 7)...)
	equal(t, "after a late message, a retry and a new one", mustMessages(t, s, "c1", 0, 0), want(1, 2, 4, 6, 7))
	mustApply(t, s, pick(3, 5, 6, 8)...)
	equal(t, "after filling the gaps", mustMessages(t, s, "c1", 0, 0), want(1, 2, 3, 4, 5, 6, 7, 8))
	equal(t, "a page across them", mustMessages(t, s, "c1", 2, 3), want(3, 4, 5))
	equal(t, "Recover", mustRecover(t, s, time.Time{}).Messages["c1"], want(1, 2, 3, 4, 5, 6, 7, 8))

	clash := message("c1", 5, at(50))
	clash.Text = "another"
	err := s.Apply(ctx(t), []store.Change{{Message: message("c1", 9, at(9))}, {Message: clash}})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Apply(a late message at a taken seq) = %v, want ErrConflict", err)
	}
	equal(t, "after the clash", mustMessages(t, s, "c1", 0, 0), want(1, 2, 3, 4, 5, 6, 7, 8))
}

// testMessageText stores texts that need escaping or long lengths in any
// encoding and reads them back unchanged.
func testMessageText(t *testing.T, s store.Store) {
	texts := []string{
		"", `"quoted" and \back\slashed`, "line\nbreak\ttab\x01\x1f", "naïve café — ✓ 日本語 🙂",
		`{"json":[1,2]}`, "'; DROP TABLE chats; --",
		strings.Repeat("a", 11), strings.Repeat("b", 12), strings.Repeat("ü", 128), strings.Repeat("c", 256),
		strings.Repeat("d", 65535), strings.Repeat("é", 40000),
	}
	var cs []store.Change
	var want []store.Message
	for i, text := range texts {
		m := message("c1", int64(i+1), at(i))
		m.Text, m.AuthorName, m.ClientSideID = text, text[:min(len(text), 12)], fmt.Sprintf("c\"%d\\", i)
		cs = append(cs, store.Change{Message: m})
		want = append(want, *m)
	}
	mustApply(t, s, append(cs, store.Change{Chat: chat("c1", "v1", "", at(0))})...)
	equal(t, "Messages", mustMessages(t, s, "c1", 0, 0), want)
	equal(t, "Recover", mustRecover(t, s, time.Time{}).Messages["c1"], want)
	history, err := s.VisitorHistory(ctx(t), "v1", time.Time{}, "", 0)
	if err != nil {
		t.Fatalf("VisitorHistory: %v", err)
	}
	slices.Reverse(want)
	equal(t, "VisitorHistory", history, want)
}

func testRecoverSkipsClosed(t *testing.T, s store.Store) {
	open, gone := chat("open", "v1", "op1", at(0)), closed(chat("gone", "v2", "op1", at(0)), at(5))
	mustApply(t, s,
		store.Change{Visitor: visitor("v1", at(0))}, store.Change{Visitor: visitor("v2", at(0))},
		store.Change{Chat: open}, store.Change{Chat: gone},
		store.Change{Message: message("open", 1, at(1))}, store.Change{Message: message("gone", 1, at(1))},
		store.Change{Read: &store.Read{ChatID: "open", Side: store.SideVisitor, UpToSeq: 1}},
		store.Change{Read: &store.Read{ChatID: "gone", Side: store.SideVisitor, UpToSeq: 1}},
	)
	snap := mustRecover(t, s, at(1)) // both visitors were seen before at(1)
	equal(t, "chats", chatIDs(snap.Chats), []string{"open"})
	equal(t, "messages", snap.Messages, map[string][]store.Message{"open": {*message("open", 1, at(1))}})
	equal(t, "visitors", ids(snap.Visitors, func(v store.Visitor) string { return v.ID }), []string{"v1"})
	equal(t, "reads", snap.Reads, []store.Read{{ChatID: "open", Side: store.SideVisitor, UpToSeq: 1}})

	equal(t, "closed chat", mustChat(t, s, "gone"), gone)
	equal(t, "closed chat's messages", mustMessages(t, s, "gone", 0, 0), []store.Message{*message("gone", 1, at(1))})
}

func testRecoverVisitorsSince(t *testing.T, s store.Store) {
	mustApply(t, s,
		store.Change{Visitor: visitor("old", at(0))},
		store.Change{Visitor: visitor("edge", at(100))},
		store.Change{Visitor: visitor("new", at(200))},
		store.Change{Visitor: visitor("chatting", at(0))},
		store.Change{Chat: chat("c1", "chatting", "", at(0))},
	)
	snap := mustRecover(t, s, at(100))
	equal(t, "visitors", ids(snap.Visitors, func(v store.Visitor) string { return v.ID }), []string{"chatting", "edge", "new"})
}

func testUpsertOverwrites(t *testing.T, s store.Store) {
	c := chat("c1", "v1", "op1", at(0))
	c.Rate = intp(2)
	v := visitor("v1", at(0))
	op := &store.OperatorState{OperatorID: "op1", Status: store.OperatorOnline, LastAssignedAt: at(1), UpdatedAt: at(1)}
	rd := &store.Read{ChatID: "c1", Side: store.SideOperator, UpToSeq: 5}
	mustApply(t, s, store.Change{Chat: c}, store.Change{Visitor: v}, store.Change{Operator: op}, store.Change{Read: rd})

	c2 := closed(chat("c1", "v1", "op2", at(10)), at(10))
	c2.DepartmentKey, c2.QueuedAt, c2.Rate, c2.NextSeq = "", time.Time{}, nil, 9
	v2 := &store.Visitor{ID: "v1", PageID: "p2", AuthToken: "t2", CreatedAt: at(3), SeenAt: at(4)}
	op2 := &store.OperatorState{OperatorID: "op1", Status: store.OperatorInvisible, UpdatedAt: at(2)}
	rd2 := &store.Read{ChatID: "c1", Side: store.SideOperator, UpToSeq: 3}
	mustApply(t, s, store.Change{Chat: c2}, store.Change{Visitor: v2}, store.Change{Operator: op2}, store.Change{Read: rd2})

	equal(t, "chat", mustChat(t, s, "c1"), c2)
	gotV, err := s.Visitor(ctx(t), "v1")
	if err != nil {
		t.Fatalf("Visitor: %v", err)
	}
	equal(t, "visitor", gotV, v2)
	// Reopen the chat to see its read marker and the operator in a snapshot.
	c3 := chat("c1", "v1", "op2", at(20))
	mustApply(t, s, store.Change{Chat: c3})
	snap := mustRecover(t, s, time.Time{})
	equal(t, "operators", snap.Operators, []store.OperatorState{*op2})
	equal(t, "reads", snap.Reads, []store.Read{*rd2})
	equal(t, "reopened chat", snap.Chats, []store.Chat{*c3})
}

func testInvalidChanges(t *testing.T, s store.Store) {
	for name, changes := range map[string][]store.Change{
		"empty change":      {{}},
		"two records":       {{Visitor: visitor("v1", at(0)), Chat: chat("c1", "v1", "", at(0))}},
		"empty visitor id":  {{Visitor: &store.Visitor{}}},
		"empty chat id":     {{Chat: &store.Chat{VisitorID: "v1"}}},
		"message, no chat":  {{Message: &store.Message{ID: "m1", Seq: 1}}},
		"message, seq 0":    {{Message: &store.Message{ID: "c1-0", ChatID: "c1"}}},
		"message, other id": {{Message: &store.Message{ID: "m1", ChatID: "c1", Seq: 1}}},
		"read without side": {{Read: &store.Read{ChatID: "c1"}}},
		"empty operator id": {{Operator: &store.OperatorState{Status: store.OperatorOnline}}},
		"valid then empty":  {{Visitor: visitor("v1", at(0))}, {}},
	} {
		if err := s.Apply(ctx(t), changes); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: Apply = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Visitor(ctx(t), "v1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an invalid batch was partly written: Visitor = %v", err)
	}
	if err := s.Apply(ctx(t), nil); err != nil {
		t.Errorf("Apply(nil) = %v", err)
	}
}
