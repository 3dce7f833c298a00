package mq

import (
	"crypto/rand"
	"encoding/hex"
)

// DefaultDedupSize is the capacity NewDedup uses for n <= 0.
const DefaultDedupSize = 100_000

// Dedup remembers the most recent event ids, up to a fixed count, forgetting
// the oldest first. It is not safe for concurrent use: keep one per
// consuming goroutine, or guard it.
type Dedup struct {
	seen map[string]struct{}
	ring []string // ids in arrival order, oldest at next once full
	next int
}

// NewDedup returns a Dedup that remembers the last n ids (DefaultDedupSize
// when n <= 0).
func NewDedup(n int) *Dedup {
	if n <= 0 {
		n = DefaultDedupSize
	}
	return &Dedup{seen: make(map[string]struct{}, n), ring: make([]string, 0, n)}
}

// Seen reports whether id was seen among the remembered ids, and remembers
// it.
func (d *Dedup) Seen(id string) bool {
	if _, ok := d.seen[id]; ok {
		return true
	}
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, id)
	} else {
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = id
		d.next = (d.next + 1) % len(d.ring)
	}
	d.seen[id] = struct{}{}
	return false
}

// NewEventID returns a new random 128-bit event id as 32 hex digits.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails; see crypto/rand.Read
	return hex.EncodeToString(b[:])
}
