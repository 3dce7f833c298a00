package actors

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/chatnode/chatnode"
)

// TestBoardInvariants drives the board through thousands of random event
// sequences and checks the assignment rules after every settle.
func TestBoardInvariants(t *testing.T) {
	depts := []string{"", "sales", "support", "billing"}
	statuses := []string{chatnode.StatusOnline, chatnode.StatusInvisible, chatnode.StatusOffline}
	for run := 0; run < 2000; run++ {
		rng := rand.New(rand.NewSource(int64(run)))
		b := newBoard()
		nOps := 1 + rng.Intn(6)
		for i := 0; i < nOps; i++ {
			var ds []string
			for _, d := range depts[1:] {
				if rng.Intn(2) == 0 {
					ds = append(ds, d)
				}
			}
			b.setOperator(fmt.Sprintf("op%d", i), statuses[rng.Intn(3)], ds, 1+rng.Intn(3), 0)
		}
		assigned := map[string]bool{}
		chatDept := map[string]string{}
		now := int64(0)
		for step := 0; step < 60; step++ {
			now += int64(1 + rng.Intn(5))
			switch rng.Intn(6) {
			case 0, 1: // a new chat
				id := fmt.Sprintf("c%d", step)
				d := depts[rng.Intn(len(depts))]
				chatDept[id] = d
				b.enqueue(id, d, now, nil)
			case 2: // an operator changes status
				op := b.all[rng.Intn(len(b.all))]
				var ds []string
				for d := range op.depts {
					ds = append(ds, d)
				}
				b.setOperator(op.id, statuses[rng.Intn(3)], ds, op.max, 0)
			case 3: // a held chat closes
				for chatID := range b.held {
					b.release(chatID)
					break
				}
			case 4: // a waiting chat is closed by its visitor
				if len(b.queue) > 0 {
					b.dequeue(b.queue[rng.Intn(len(b.queue))].chatID)
				}
			case 5: // transfer of a held chat back to a department queue
				for chatID := range b.held {
					b.release(chatID)
					delete(assigned, chatID)
					b.enqueue(chatID, chatDept[chatID], now, nil)
					break
				}
			}
			before := append([]*queued(nil), b.queue...)
			decisions := b.settle(now)
			for _, d := range decisions {
				if assigned[d.chatID] && b.held[d.chatID] != d.operatorID {
					t.Fatalf("run %d: chat %s assigned twice", run, d.chatID)
				}
				assigned[d.chatID] = true
				op := b.ops[d.operatorID]
				if cd := chatDept[d.chatID]; cd != "" && !op.depts[cd] {
					t.Fatalf("run %d: chat %s of %q went to %s outside the department", run, d.chatID, cd, op.id)
				}
				if op.status != chatnode.StatusOnline {
					t.Fatalf("run %d: chat went to %s operator", run, op.status)
				}
			}
			checkBoard(t, run, b, before, decisions)
		}
	}
}

func checkBoard(t *testing.T, run int, b *board, before []*queued, decisions []decision) {
	t.Helper()
	load := map[string]int{}
	for _, opID := range b.held {
		load[opID]++
	}
	for _, op := range b.all {
		if op.load != load[op.id] {
			t.Fatalf("run %d: %s load %d, holds %d", run, op.id, op.load, load[op.id])
		}
		if op.load > op.max && op.status == chatnode.StatusOnline {
			t.Fatalf("run %d: %s above max_chats: %d > %d", run, op.id, op.load, op.max)
		}
	}
	if !sort.SliceIsSorted(b.queue, func(i, j int) bool { return b.queue[j].after(b.queue[i]) }) {
		t.Fatalf("run %d: queue not oldest first", run)
	}
	for _, q := range b.queue {
		if _, held := b.held[q.chatID]; held {
			t.Fatalf("run %d: chat %s both waiting and held", run, q.chatID)
		}
		for _, op := range b.all {
			if op.status == chatnode.StatusOnline && op.load < op.max && (q.dept == "" || op.depts[q.dept]) {
				t.Fatalf("run %d: chat %s waits while %s has room", run, q.chatID, op.id)
			}
		}
	}
	// Oldest first: no chat that still waits is older than a chat that was
	// just given to an operator who could have taken the older one.
	for _, d := range decisions {
		var chat *queued
		for _, q := range before {
			if q.chatID == d.chatID {
				chat = q
			}
		}
		op := b.ops[d.operatorID]
		for _, q := range b.queue {
			if chat.after(q) && (q.dept == "" || op.depts[q.dept]) {
				t.Fatalf("run %d: %s got younger chat %s while older %s waits", run, op.id, chat.chatID, q.chatID)
			}
		}
	}
}

func TestBoardLeastLoadedThenLongestIdle(t *testing.T) {
	b := newBoard()
	b.setOperator("a", chatnode.StatusOnline, nil, 5, 0)
	b.setOperator("b", chatnode.StatusOnline, nil, 5, 0)
	b.hold("x", "a")
	b.enqueue("c1", "", 10, nil)
	if got := b.settle(100); len(got) != 1 || got[0].operatorID != "b" {
		t.Fatalf("least loaded should win, got %v", got)
	}
	b.enqueue("c2", "", 11, nil)
	b.enqueue("c3", "", 12, nil)
	got := b.settle(200)
	// Equal load (1 each): a was never assigned by the board, so a is idle longest.
	if len(got) != 2 || got[0].operatorID != "a" || got[0].chatID != "c2" || got[1].operatorID != "b" {
		t.Fatalf("ties should go to the longest idle, got %v", got)
	}
}

func TestBoardOldestAcrossQueues(t *testing.T) {
	b := newBoard()
	b.enqueue("young-sales", "sales", 20, nil)
	b.enqueue("old-support", "support", 10, nil)
	b.setOperator("a", chatnode.StatusOnline, []string{"sales", "support"}, 1, 0)
	got := b.settle(100)
	if len(got) != 1 || got[0].chatID != "old-support" {
		t.Fatalf("oldest chat across queues should go first, got %v", got)
	}
	if ps := b.positions(); len(ps) != 1 || ps[0].position != 1 {
		t.Fatalf("the remaining chat should be told position 1, got %v", ps)
	}
}

// BenchmarkAssign10kTo1k assigns 10,000 queued chats to 1,000 operators with
// room for all of them.
func BenchmarkAssign10kTo1k(b *testing.B) {
	depts := []string{"sales", "support", "billing", "vip"}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bd := newBoard()
		for o := 0; o < 1000; o++ {
			bd.setOperator(fmt.Sprintf("op%04d", o), chatnode.StatusOnline, []string{depts[o%4], depts[(o+1)%4]}, 10, 0)
		}
		for c := 0; c < 10000; c++ {
			dept := ""
			if c%2 == 0 {
				dept = depts[c%4]
			}
			bd.enqueue(fmt.Sprintf("chat%05d", c), dept, int64(c), nil)
		}
		b.StartTimer()
		got := bd.settle(1 << 40)
		bd.positions()
		if len(got) != 10000 {
			b.Fatalf("assigned %d of 10000", len(got))
		}
	}
}
