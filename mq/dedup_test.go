package mq

import (
	"strconv"
	"testing"
)

func TestDedup(t *testing.T) {
	d := NewDedup(3)
	for _, id := range []string{"a", "b", "c"} {
		if d.Seen(id) {
			t.Fatalf("%s seen before it was recorded", id)
		}
	}
	if !d.Seen("a") || !d.Seen("c") {
		t.Fatal("recorded ids not seen")
	}
	if d.Seen("d") { // evicts a, the oldest
		t.Fatal("d seen")
	}
	if !d.Seen("b") || !d.Seen("d") {
		t.Fatal("recent ids forgotten")
	}
	if d.Seen("a") { // a was evicted; recording it again evicts b
		t.Fatal("evicted id still seen")
	}
	if d.Seen("b") {
		t.Fatal("b should have been evicted")
	}
	if len(d.seen) != 3 {
		t.Fatalf("holds %d ids, want 3", len(d.seen))
	}
}

func TestNewEventID(t *testing.T) {
	d := NewDedup(0)
	for i := range 10000 {
		id := NewEventID()
		if len(id) != 32 {
			t.Fatalf("id %q: %d chars", id, len(id))
		}
		if _, err := strconv.ParseUint(id[:16], 16, 64); err != nil {
			t.Fatalf("id %q not hex", id)
		}
		if d.Seen(id) {
			t.Fatalf("duplicate id after %d", i)
		}
	}
}

func BenchmarkDedupSeen(b *testing.B) {
	d := NewDedup(DefaultDedupSize)
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = NewEventID()
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Seen(ids[i&(len(ids)-1)])
	}
}
