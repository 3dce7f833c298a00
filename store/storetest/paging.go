package storetest

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chatnode/chatnode/store"
)

func testMessagesPaging(t *testing.T, s store.Store) {
	var changes []store.Change
	var all []store.Message
	for seq := int64(1); seq <= 10; seq++ {
		m := message("c1", seq, at(int(seq)))
		changes = append(changes, store.Change{Message: m})
		all = append(all, *m)
	}
	mustApply(t, s, changes...)
	equal(t, "first page", mustMessages(t, s, "c1", 0, 4), all[0:4])
	equal(t, "second page", mustMessages(t, s, "c1", 4, 4), all[4:8])
	equal(t, "last page", mustMessages(t, s, "c1", 8, 4), all[8:10])
	if ms := mustMessages(t, s, "c1", 10, 4); len(ms) != 0 {
		t.Fatalf("after the last: %v", messageIDs(ms))
	}
	equal(t, "no limit", mustMessages(t, s, "c1", 0, 0), all)
}

func testVisitorHistoryPaging(t *testing.T, s store.Store) {
	var changes []store.Change
	var want []store.Message
	add := func(chatID string, seq int64, ms int, mine bool) {
		m := message(chatID, seq, at(ms))
		changes = append(changes, store.Change{Message: m})
		if mine {
			want = append(want, *m)
		}
	}
	changes = append(changes,
		store.Change{Chat: closed(chat("a", "v1", "op1", at(0)), at(9))},
		store.Change{Chat: chat("b", "v1", "op1", at(10))},
		store.Change{Chat: chat("x", "v2", "op1", at(10))},
	)
	for seq := int64(1); seq <= 5; seq++ {
		add("a", seq, int(seq), true)
		add("b", seq, 10+int(seq), true)
		add("x", seq, 10+int(seq), false)
	}
	// Messages of the same millisecond are ordered by id.
	add("b", 6, 15, true)
	add("a", 6, 15, true)
	mustApply(t, s, changes...)
	sort.Slice(want, func(i, j int) bool {
		if !want[i].CreatedAt.Equal(want[j].CreatedAt) {
			return want[i].CreatedAt.After(want[j].CreatedAt)
		}
		return want[i].ID > want[j].ID
	})

	var got []store.Message
	before, beforeID := time.Time{}, ""
	for page := 0; ; page++ {
		ms, err := s.VisitorHistory(ctx(t), "v1", before, beforeID, 3)
		if err != nil {
			t.Fatalf("VisitorHistory: %v", err)
		}
		if len(ms) == 0 {
			break
		}
		if len(ms) > 3 || page > len(want) {
			t.Fatalf("page %d has %d messages, limit 3", page, len(ms))
		}
		got = append(got, ms...)
		last := ms[len(ms)-1]
		before, beforeID = last.CreatedAt, last.ID
	}
	equal(t, "history, paged", messageIDs(got), messageIDs(want))
	equal(t, "history contents", got, want)

	all, err := s.VisitorHistory(ctx(t), "v1", time.Time{}, "", 0)
	if err != nil {
		t.Fatalf("VisitorHistory: %v", err)
	}
	equal(t, "history, no limit", messageIDs(all), messageIDs(want))
	none, err := s.VisitorHistory(ctx(t), "nobody", time.Time{}, "", 10)
	if err != nil || len(none) != 0 {
		t.Fatalf("VisitorHistory(unknown) = %v, %v", messageIDs(none), err)
	}
}

func testOperatorChatsPaging(t *testing.T, s store.Store) {
	var changes []store.Change
	var want []store.Chat
	for i, ms := range []int{5, 1, 3, 3, 3, 9, 7} {
		c := chat(fmt.Sprintf("c%d", i), "v1", "op1", at(ms))
		if i%2 == 0 {
			c = closed(c, at(ms))
		}
		changes = append(changes, store.Change{Chat: c})
		want = append(want, *c)
	}
	changes = append(changes, store.Change{Chat: chat("other", "v1", "op2", at(4))})
	mustApply(t, s, changes...)
	sort.Slice(want, func(i, j int) bool {
		if !want[i].ModifiedAt.Equal(want[j].ModifiedAt) {
			return want[i].ModifiedAt.After(want[j].ModifiedAt)
		}
		return want[i].ID > want[j].ID
	})

	var got []store.Chat
	before, beforeID := time.Time{}, ""
	for page := 0; ; page++ {
		cs, err := s.OperatorChats(ctx(t), "op1", before, beforeID, 2)
		if err != nil {
			t.Fatalf("OperatorChats: %v", err)
		}
		if len(cs) == 0 {
			break
		}
		if len(cs) > 2 || page > len(want) {
			t.Fatalf("page %d has %d chats, limit 2", page, len(cs))
		}
		got = append(got, cs...)
		last := cs[len(cs)-1]
		before, beforeID = last.ModifiedAt, last.ID
	}
	equal(t, "operator's chats, paged", chatIDs(got), chatIDs(want))
	equal(t, "operator's chats", got, want)
}

func testPurgeClosed(t *testing.T, s store.Store) {
	const old = 1100 // more than one purge chunk
	cut := at(1000)
	var changes []store.Change
	for i := range old {
		id := fmt.Sprintf("old%d", i)
		changes = append(changes,
			store.Change{Chat: closed(chat(id, "v1", "op1", at(0)), at(i%900))},
			store.Change{Message: message(id, 1, at(0))},
			store.Change{Read: &store.Read{ChatID: id, Side: store.SideVisitor, UpToSeq: 1}},
		)
	}
	changes = append(changes,
		store.Change{Chat: closed(chat("recent", "v1", "op1", at(0)), cut)},
		store.Change{Message: message("recent", 1, at(0))},
		store.Change{Chat: chat("open", "v1", "op1", at(0))},
		store.Change{Message: message("open", 1, at(0))},
		store.Change{Read: &store.Read{ChatID: "open", Side: store.SideOperator, UpToSeq: 1}},
	)
	mustApply(t, s, changes...)

	n, err := s.PurgeClosed(ctx(t), cut)
	if err != nil || n != old {
		t.Fatalf("PurgeClosed = %d, %v; want %d", n, err, old)
	}
	for _, id := range []string{"old0", "old555", fmt.Sprint("old", old-1)} {
		if _, err := s.Chat(ctx(t), id); err == nil {
			t.Errorf("chat %s survived the purge", id)
		}
		if ms := mustMessages(t, s, id, 0, 0); len(ms) != 0 {
			t.Errorf("messages of chat %s survived the purge", id)
		}
	}
	mustChat(t, s, "recent")
	mustChat(t, s, "open")
	if ms := mustMessages(t, s, "recent", 0, 0); len(ms) != 1 {
		t.Errorf("messages of a chat closed at the cut = %d, want 1", len(ms))
	}
	snap := mustRecover(t, s, time.Time{})
	equal(t, "reads", snap.Reads, []store.Read{{ChatID: "open", Side: store.SideOperator, UpToSeq: 1}})
	equal(t, "open chats", chatIDs(snap.Chats), []string{"open"})

	// Reopening a purged chat id starts from nothing: no stale read markers.
	mustApply(t, s, store.Change{Chat: chat("old0", "v1", "op1", at(2000))})
	if snap := mustRecover(t, s, time.Time{}); len(snap.Reads) != 1 {
		t.Errorf("reads after reopening a purged chat: %+v", snap.Reads)
	}
	if n, err := s.PurgeClosed(ctx(t), cut); err != nil || n != 0 {
		t.Fatalf("second PurgeClosed = %d, %v; want 0", n, err)
	}
}

func testConcurrentApply(t *testing.T, s store.Store) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			id := fmt.Sprintf("c%d", w)
			for seq := int64(1); seq <= each; seq++ {
				c := chat(id, "v1", "", at(int(seq)))
				c.NextSeq = seq + 1
				errs <- s.Apply(ctx(t), []store.Change{{Chat: c}, {Message: message(id, seq, at(int(seq)))}})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Apply: %v", err)
		}
	}
	for w := range workers {
		id := fmt.Sprintf("c%d", w)
		if ms := mustMessages(t, s, id, 0, 0); len(ms) != each {
			t.Errorf("chat %s has %d messages, want %d", id, len(ms), each)
		}
		if c := mustChat(t, s, id); c.NextSeq != each+1 {
			t.Errorf("chat %s NextSeq = %d, want %d", id, c.NextSeq, each+1)
		}
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
