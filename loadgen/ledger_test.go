package loadgen

import (
	"sync"
	"testing"
	"time"
)

func TestLedgerCountsEachFateOnce(t *testing.T) {
	epoch := time.Now()
	l := newLedger("clT-", epoch)
	at := func(ms int) time.Time { return epoch.Add(time.Duration(ms) * time.Millisecond) }

	// Accepted, then delivered once, then its add frame again.
	s1 := l.issue(at(0), 7, 0)
	id1 := l.id(s1)
	l.accepted(s1, at(1))
	if got := l.deliver(mustLookup(t, l, id1), at(5), 7, false); got != matchFirst {
		t.Fatalf("first delivery: %v", got)
	}
	if got := l.deliver(s1, at(6), 7, false); got != matchDuplicate {
		t.Fatalf("second add frame: %v", got)
	}
	// A snapshot repeating it is history, not a duplicate.
	if got := l.deliver(s1, at(7), 7, true); got != matchNone {
		t.Fatalf("snapshot repeat: %v", got)
	}

	// Delivered before its answer came back.
	s2 := l.issue(at(10), 7, 1)
	l.deliver(s2, at(12), 7, true)
	l.accepted(s2, at(13))

	// Accepted, never delivered.
	s3 := l.issue(at(20), 7, 2)
	l.accepted(s3, at(21))

	// Failed twice over, one of them delivered anyway (a timeout).
	s4 := l.issue(at(30), 7, 3)
	l.failed(s4, "too-many-requests")
	s5 := l.issue(at(40), 7, 4)
	l.failed(s5, "timeout")
	l.deliver(s5, at(45), 7, false)

	// Never answered.
	l.issue(at(50), 7, 5)

	// Reached the wrong operator: not delivered.
	s7 := l.issue(at(60), 7, 6)
	l.accepted(s7, at(61))
	if got := l.deliver(s7, at(62), 8, false); got != matchMisrouted {
		t.Fatalf("wrong receiver: %v", got)
	}

	got := l.count()
	want := tally{Sent: 7, Accepted: 4, Delivered: 3, Failed: 1, Undelivered: 2, Unanswered: 1, LateDelivered: 1,
		FailedBy: map[string]uint64{"too-many-requests": 1}}
	if got.Sent != want.Sent || got.Accepted != want.Accepted || got.Delivered != want.Delivered ||
		got.Failed != want.Failed || got.Undelivered != want.Undelivered || got.Unanswered != want.Unanswered ||
		got.LateDelivered != want.LateDelivered || len(got.FailedBy) != 1 || got.FailedBy["too-many-requests"] != 1 {
		t.Fatalf("tally %+v\nwant  %+v", got, want)
	}
	if d, m, s := l.duplicates.Load(), l.misrouted.Load(), l.inSnapshot.Load(); d != 1 || m != 1 || s != 1 {
		t.Fatalf("duplicates %d misrouted %d in snapshot %d, want 1 1 1", d, m, s)
	}
	// Awaiting: s3 and s7 were accepted and never delivered.
	if a := l.awaiting.Load(); a != 2 {
		t.Fatalf("awaiting %d, want 2", a)
	}
	if n := l.latency.Count(); n != 3 {
		t.Fatalf("latencies recorded %d, want 3", n)
	}
	if s := l.latency.Summary(); s.MinMS != 2 || s.MaxMS != 5 {
		t.Fatalf("latency %+v, want min 2ms max 5ms", s)
	}
}

func TestLedgerLookupTakesOnlyIssuedIDs(t *testing.T) {
	l := newLedger("clAB-", time.Now())
	id := l.id(l.issue(time.Now(), 1, 0))
	for _, bad := range []string{"", "clAB-", "clAB-0", "clAB-2", "clAB-x1", "clAC-1", "clAB-r1", "clAB-1 ", "7355-2"} {
		if _, ok := l.lookup([]byte(bad)); ok {
			t.Errorf("lookup(%q) matched", bad)
		}
	}
	if seq, ok := l.lookup([]byte(id)); !ok || seq != 1 {
		t.Fatalf("lookup(%q) = %d, %v", id, seq, ok)
	}
}

func TestLedgerConcurrentDeliveryCountsOnce(t *testing.T) {
	l := newLedger("c-", time.Now())
	const n = 3 * ledgerChunkSize / 2 // crosses a chunk
	seqs := make([]uint64, n)
	for i := range seqs {
		seqs[i] = l.issue(time.Now(), 1, 0)
	}
	var wg sync.WaitGroup
	for range 4 { // four receivers see every message
		wg.Go(func() {
			for _, s := range seqs {
				l.deliver(s, time.Now(), 1, false)
			}
		})
	}
	for _, s := range seqs {
		l.accepted(s, time.Now())
	}
	wg.Wait()
	if got := l.count().Delivered; got != n {
		t.Fatalf("delivered %d, want %d", got, n)
	}
	if d := l.duplicates.Load(); d != 3*n {
		t.Fatalf("duplicates %d, want %d", d, 3*n)
	}
	if a := l.awaiting.Load(); a != 0 {
		t.Fatalf("awaiting %d after every delivery", a)
	}
}

func mustLookup(t *testing.T, l *ledger, id string) uint64 {
	t.Helper()
	seq, ok := l.lookup([]byte(id))
	if !ok {
		t.Fatalf("lookup(%q) failed", id)
	}
	return seq
}
