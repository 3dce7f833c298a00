package loadgen

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ledger records every message a run sends, one slot per message, under
// a sequence number that its client-side id carries
// ("<prefix><seq>"). A message counts as delivered only when a frame that
// carries its client-side id is matched to its slot; a second match is a
// duplicate. All methods are safe for concurrent use and take no lock on
// the message path.
type ledger struct {
	prefix      string
	prefixBytes []byte
	epoch       time.Time
	next        atomic.Uint64
	chunks      [ledgerChunks]atomic.Pointer[[ledgerChunkSize]slot]

	awaiting   atomic.Int64 // accepted, not yet delivered
	failedN    atomic.Uint64
	duplicates atomic.Uint64
	misrouted  atomic.Uint64
	inSnapshot atomic.Uint64 // first seen inside a chat snapshot
	lastDeliv  atomic.Int64  // nanoseconds since epoch of the last first delivery
	latency    Histogram     // send start → frame received
	ack        Histogram     // send start → answer received

	reasonsMu sync.Mutex
	reasons   []string // failure reasons by code; 0 is unused
	reasonIDs map[string]uint32
}

const (
	ledgerChunkBits = 16
	ledgerChunkSize = 1 << ledgerChunkBits
	ledgerChunks    = 1 << 14 // 2^30 messages at most
)

// slot is one message. Fields other than state are written before the
// message is sent and read only after a match or at the end.
type slot struct {
	start  int64 // nanoseconds since the ledger's epoch
	peer   int64 // who must receive it: an operator id, or a visitor index
	from   int32 // the visitor who sent it (messages only)
	state  atomic.Uint32
	reason atomic.Uint32 // failure reason code
}

// Slot states (bits).
const (
	stIssued uint32 = 1 << iota
	stAccepted
	stFailed
	stDelivered
)

func newLedger(prefix string, epoch time.Time) *ledger {
	return &ledger{prefix: prefix, prefixBytes: []byte(prefix), epoch: epoch, reasons: []string{""}, reasonIDs: map[string]uint32{}}
}

// issue takes the next sequence number for a message from visitor from
// that peer must receive, started now. The message's client-side id is
// appendID's.
func (l *ledger) issue(now time.Time, peer int64, from int) uint64 {
	seq := l.next.Add(1)
	s := l.slot(seq, true)
	s.start = int64(now.Sub(l.epoch))
	s.peer = peer
	s.from = int32(from)
	s.state.Store(stIssued)
	return seq
}

// appendID appends the client-side id of message seq to dst.
func (l *ledger) appendID(dst []byte, seq uint64) []byte {
	return strconv.AppendUint(append(dst, l.prefix...), seq, 10)
}

// id returns the client-side id of message seq.
func (l *ledger) id(seq uint64) string { return string(l.appendID(nil, seq)) }

// sender returns the visitor who sent message seq.
func (l *ledger) sender(seq uint64) int { return int(l.slot(seq, false).from) }

// slot returns the slot of seq; grow allocates its chunk when missing.
func (l *ledger) slot(seq uint64, grow bool) *slot {
	ci := seq >> ledgerChunkBits
	if ci >= ledgerChunks {
		panic("loadgen: ledger full")
	}
	c := l.chunks[ci].Load()
	if c == nil {
		if !grow {
			return nil
		}
		l.chunks[ci].CompareAndSwap(nil, new([ledgerChunkSize]slot))
		c = l.chunks[ci].Load()
	}
	return &c[seq&(ledgerChunkSize-1)]
}

// lookup returns the sequence number that a client-side id carries, when
// the id is one of this ledger's issued ids.
func (l *ledger) lookup(clientSideID []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(clientSideID, l.prefixBytes)
	if !ok || len(rest) == 0 || len(rest) > 19 || rest[0] == '0' {
		return 0, false
	}
	var seq uint64
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	if seq > l.next.Load() {
		return 0, false
	}
	if s := l.slot(seq, false); s == nil || s.state.Load()&stIssued == 0 {
		return 0, false
	}
	return seq, true
}

// Outcomes of a match.
type matchResult int

const (
	matchNone      matchResult = iota // not one of ours, or seen before in a snapshot
	matchFirst                        // delivered now
	matchDuplicate                    // a second add frame for it
	matchMisrouted                    // reached someone it was not for
)

// deliver matches a received frame carrying the id of message seq, read at
// now by receiver: a message add frame, or a chat snapshot holding the
// message when snapshot is set. Only the first match to the right receiver
// counts as delivery, and its latency is recorded. A second add frame is a
// duplicate; a snapshot repeating a delivered message is not, since
// snapshots hold the chat's whole history.
func (l *ledger) deliver(seq uint64, now time.Time, receiver int64, snapshot bool) matchResult {
	s := l.slot(seq, false)
	if s == nil {
		return matchNone
	}
	if s.peer != receiver {
		if !snapshot {
			l.misrouted.Add(1)
		}
		return matchMisrouted
	}
	old := s.state.Or(stDelivered)
	if old&stDelivered != 0 {
		if snapshot {
			return matchNone
		}
		l.duplicates.Add(1)
		return matchDuplicate
	}
	if old&stAccepted != 0 {
		l.awaiting.Add(-1)
	}
	if snapshot {
		l.inSnapshot.Add(1)
	}
	at := int64(now.Sub(l.epoch))
	l.latency.Record(time.Duration(at - s.start))
	for {
		last := l.lastDeliv.Load()
		if last >= at || l.lastDeliv.CompareAndSwap(last, at) {
			break
		}
	}
	return matchFirst
}

// accepted records the server's ok for message seq at now.
func (l *ledger) accepted(seq uint64, now time.Time) {
	s := l.slot(seq, false)
	old := s.state.Or(stAccepted)
	if old&stDelivered == 0 {
		l.awaiting.Add(1)
	}
	l.ack.Record(time.Duration(int64(now.Sub(l.epoch)) - s.start))
}

// failed records that sending message seq failed for reason.
func (l *ledger) failed(seq uint64, reason string) {
	s := l.slot(seq, false)
	s.reason.Store(l.reasonCode(reason))
	s.state.Or(stFailed)
	l.failedN.Add(1)
}

func (l *ledger) reasonCode(reason string) uint32 {
	l.reasonsMu.Lock()
	defer l.reasonsMu.Unlock()
	if id, ok := l.reasonIDs[reason]; ok {
		return id
	}
	id := uint32(len(l.reasons))
	l.reasons = append(l.reasons, reason)
	l.reasonIDs[reason] = id
	return id
}

// tally is what became of a ledger's messages.
type tally struct {
	Sent          uint64            // issued
	Accepted      uint64            // answered ok
	Delivered     uint64            // matched on the receiver's stream
	Failed        uint64            // the send failed and the message never arrived
	FailedBy      map[string]uint64 // Failed by reason
	Undelivered   uint64            // accepted, never matched
	Unanswered    uint64            // neither answered nor failed nor delivered (cut off)
	LateDelivered uint64            // delivered although its send failed
}

// count walks every slot; call it once the run has stopped.
func (l *ledger) count() tally {
	t := tally{FailedBy: map[string]uint64{}}
	n := l.next.Load()
	l.reasonsMu.Lock()
	reasons := append([]string(nil), l.reasons...)
	l.reasonsMu.Unlock()
	for seq := uint64(1); seq <= n; seq++ {
		s := l.slot(seq, false)
		if s == nil {
			continue
		}
		st := s.state.Load()
		if st&stIssued == 0 {
			continue
		}
		t.Sent++
		if st&stAccepted != 0 {
			t.Accepted++
		}
		switch {
		case st&stDelivered != 0:
			t.Delivered++
			if st&stFailed != 0 {
				t.LateDelivered++
			}
		case st&stFailed != 0:
			t.Failed++
			t.FailedBy[reasons[s.reason.Load()]]++
		case st&stAccepted != 0:
			t.Undelivered++
		default:
			t.Unanswered++
		}
	}
	return t
}
