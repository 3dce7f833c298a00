package actors

import (
	"encoding/json"
	"sort"

	"github.com/chatnode/chatnode"
)

// board is the assigner's picture of the queue and the operators. It is a
// plain data structure owned by the AssignerActor, kept apart so that the
// assignment rules can be tested and measured without actors.
//
// Rules: the oldest waiting chat across all queues goes first; an eligible
// operator is online, in the chat's department (or the chat has none) and
// below max_chats; the least loaded eligible operator wins, ties go to the
// one idle longest since their last assignment, then to the smaller id.
type board struct {
	queue   []*queued          // waiting chats, oldest first
	waiting map[string]*queued // by chat id
	ops     map[string]*opSlot // by operator id
	byDept  map[string][]*opSlot
	all     []*opSlot         // every operator, for chats without a department
	held    map[string]string // chat id → operator id, for chats that count as load
	seq     uint64            // enqueue counter, breaks ties between equal times
}

type queued struct {
	chatID   string
	dept     string
	at       int64 // queued time, microseconds
	seq      uint64
	position int32 // last position told to the chat, 0 = never
	entry    *queueEntry
}

// queueEntry is what operators see of a waiting chat.
type queueEntry struct {
	ChatID        string      `json:"chatId"`
	DepartmentKey string      `json:"departmentKey,omitempty"`
	QueuedTs      json.Number `json:"queuedTs"`
	VisitorName   string      `json:"visitorName,omitempty"`
	FirstText     string      `json:"firstText,omitempty"`

	queuedMicros int64 // QueuedTs as kept
}

type opSlot struct {
	id           string
	status       string
	depts        map[string]bool
	max          int
	load         int
	lastAssigned int64 // microseconds; 0 = never
}

// decision is one assignment the board made.
type decision struct {
	chatID, operatorID string
	queued             *queued
}

func newBoard() *board {
	return &board{
		waiting: make(map[string]*queued),
		ops:     make(map[string]*opSlot),
		byDept:  make(map[string][]*opSlot),
		held:    make(map[string]string),
	}
}

// enqueue adds a waiting chat; a chat already waiting keeps its place.
func (b *board) enqueue(chatID, dept string, at int64, entry *queueEntry) bool {
	if _, ok := b.waiting[chatID]; ok {
		return false
	}
	b.seq++
	q := &queued{chatID: chatID, dept: dept, at: at, seq: b.seq, entry: entry}
	b.waiting[chatID] = q
	i := sort.Search(len(b.queue), func(i int) bool { return b.queue[i].after(q) })
	b.queue = append(b.queue, nil)
	copy(b.queue[i+1:], b.queue[i:])
	b.queue[i] = q
	return true
}

func (q *queued) after(o *queued) bool {
	if q.at != o.at {
		return q.at > o.at
	}
	return q.seq > o.seq
}

// dequeue removes a waiting chat and reports whether it was waiting.
func (b *board) dequeue(chatID string) (*queued, bool) {
	q, ok := b.waiting[chatID]
	if !ok {
		return nil, false
	}
	delete(b.waiting, chatID)
	for i, x := range b.queue {
		if x == q {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			break
		}
	}
	return q, true
}

// setOperator records an operator's status, departments and limit.
func (b *board) setOperator(id, status string, depts []string, max int, lastAssigned int64) {
	op, ok := b.ops[id]
	if !ok {
		op = &opSlot{id: id, depts: make(map[string]bool)}
		for _, holder := range b.held { // chats held before the operator was known
			if holder == id {
				op.load++
			}
		}
		b.ops[id] = op
		b.all = append(b.all, op)
	}
	for d := range op.depts {
		b.byDept[d] = removeSlot(b.byDept[d], op)
	}
	op.depts = make(map[string]bool, len(depts))
	for _, d := range depts {
		op.depts[d] = true
		b.byDept[d] = append(b.byDept[d], op)
	}
	op.status, op.max = status, max
	if lastAssigned > op.lastAssigned {
		op.lastAssigned = lastAssigned
	}
}

func removeSlot(s []*opSlot, op *opSlot) []*opSlot {
	for i, x := range s {
		if x == op {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// hold counts chat against operator's load (an assignment or a recovered
// chat). A chat held by another operator moves.
func (b *board) hold(chatID, operatorID string) {
	if prev, ok := b.held[chatID]; ok {
		if prev == operatorID {
			return
		}
		b.release(chatID)
	}
	b.held[chatID] = operatorID
	if op := b.ops[operatorID]; op != nil {
		op.load++
	}
}

// release stops counting chat against its operator and returns that
// operator's id ("" when the chat was not held).
func (b *board) release(chatID string) string {
	opID, ok := b.held[chatID]
	if !ok {
		return ""
	}
	delete(b.held, chatID)
	if op := b.ops[opID]; op != nil && op.load > 0 {
		op.load--
	}
	return opID
}

// canTake reports why operatorID may not take a chat of dept ("" = may).
func (b *board) canTake(operatorID, dept string, manual bool) string {
	op := b.ops[operatorID]
	switch {
	case op == nil:
		return chatnode.EUnknownOperator
	case op.status == chatnode.StatusOffline, !manual && op.status != chatnode.StatusOnline:
		return chatnode.EOperatorOffline
	case dept != "" && !op.depts[dept]:
		return chatnode.EWrongArgument
	case op.load >= op.max:
		return chatnode.EOperatorBusy
	}
	return ""
}

// better reports whether a should get the next chat rather than b.
func better(a, b *opSlot) bool {
	if a.load != b.load {
		return a.load < b.load
	}
	if a.lastAssigned != b.lastAssigned {
		return a.lastAssigned < b.lastAssigned
	}
	return a.id < b.id
}

// settle assigns waiting chats, oldest first, while eligible operators have
// room, and returns the decisions in the order made. now stamps each
// operator's last assignment.
func (b *board) settle(now int64) []decision {
	var out []decision
	room := 0
	for _, op := range b.all {
		if op.status == chatnode.StatusOnline && op.load < op.max {
			room += op.max - op.load
		}
	}
	if room == 0 || len(b.queue) == 0 {
		return nil
	}
	kept := b.queue[:0]
	for i, q := range b.queue {
		if room == 0 {
			kept = append(kept, b.queue[i:]...)
			break
		}
		candidates := b.all
		if q.dept != "" {
			candidates = b.byDept[q.dept]
		}
		var best *opSlot
		for _, op := range candidates {
			if op.status == chatnode.StatusOnline && op.load < op.max && (best == nil || better(op, best)) {
				best = op
			}
		}
		if best == nil {
			kept = append(kept, q)
			continue
		}
		delete(b.waiting, q.chatID)
		b.held[q.chatID] = best.id
		best.load++
		now++ // keep assignment times strictly ordered within one pass
		best.lastAssigned = now
		room--
		out = append(out, decision{chatID: q.chatID, operatorID: best.id, queued: q})
	}
	for i := len(kept); i < len(b.queue); i++ {
		b.queue[i] = nil
	}
	b.queue = kept
	return out
}

// positions returns the waiting chats whose place in their department's
// queue changed since last told, with the new place (1-based), and records
// it as told.
func (b *board) positions() []*queued {
	var changed []*queued
	count := make(map[string]int32)
	for _, q := range b.queue {
		count[q.dept]++
		if q.position != count[q.dept] {
			q.position = count[q.dept]
			changed = append(changed, q)
		}
	}
	return changed
}

// sees reports whether an operator should see a waiting chat of dept in
// their queue view.
func (op *opSlot) sees(dept string) bool {
	return op.status != chatnode.StatusOffline && (dept == "" || op.depts[dept])
}
