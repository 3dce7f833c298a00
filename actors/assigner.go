package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
)

// assignerActor is the singleton that decides which operator gets which
// chat. It runs where assignment is decided (the standalone node or the
// master) and speaks only in messages that carry ids, so that its inputs
// and decisions can cross nodes. It decides; the chat's owner applies and
// answers with AssignResult, and a refused decision is rolled back.
//
// Inputs only mark the board dirty; one settle runs after the messages
// already waiting in the mailbox, so a burst of inputs (operators coming
// online, many chats arriving) costs one pass, one round of queue-position
// notices and one queue notice per operator.
type assignerActor struct {
	h         *Hub
	b         *board
	manual    bool
	stopTicks func()        // nil without a periodic tick
	scheduled bool          // a settleNow is in the mailbox
	added     []*queueEntry // queue changes not yet told to operators
	removed   []*queueEntry
	// windows holds, per operator who is not offline, the chats shown in
	// their queue view: the oldest waiting chats of their departments, at
	// most QueueViewSize of them.
	windows map[string]map[string]bool
}

// settleNow runs the pass scheduled by earlier inputs.
type settleNow struct{}

func newAssignerActor(h *Hub) *assignerActor {
	return &assignerActor{h: h, b: newBoard(), manual: h.opts.ManualAssignment, windows: make(map[string]map[string]bool)}
}

// Receive implements actor.Actor.
func (a *assignerActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		if d := a.h.opts.AssignTick; d > 0 {
			a.stopTicks = tickEvery(ctx, d)
		}
	case *actor.Stopping:
		if a.stopTicks != nil {
			a.stopTicks()
		}
	case *tick:
		a.schedule(ctx)
	case *settleNow:
		a.scheduled = false
		a.settle(ctx)
	case *messages.OperatorUpdate:
		a.operator(ctx, msg)
	case *messages.ChatQueued:
		e := &queueEntry{ChatID: msg.ChatId, DepartmentKey: msg.DepartmentKey, QueuedTs: seconds(msg.QueuedMicros), queuedMicros: msg.QueuedMicros, VisitorName: msg.VisitorName, FirstText: msg.FirstText}
		if a.b.enqueue(msg.ChatId, msg.DepartmentKey, msg.QueuedMicros, e) {
			a.added = append(a.added, e)
			a.schedule(ctx)
		}
	case *messages.ChatDequeued:
		if q, ok := a.b.dequeue(msg.ChatId); ok {
			a.removed = append(a.removed, q.entry)
			a.schedule(ctx)
		}
	case *messages.ChatReleased:
		if a.b.held[msg.ChatId] == msg.OperatorId {
			a.b.release(msg.ChatId)
		}
		a.schedule(ctx)
	case *messages.ChatHeld:
		a.b.hold(msg.ChatId, msg.OperatorId)
	case *messages.AssignResult:
		if !msg.Applied && a.b.held[msg.ChatId] == msg.OperatorId {
			a.b.release(msg.ChatId)
			a.schedule(ctx)
		}
	case *messages.TakeChat:
		a.take(ctx, msg)
	case *messages.TransferChat:
		a.transfer(ctx, msg)
	case *queueLen:
		ctx.Respond(len(a.b.queue))
	case *operatorRecall:
		r := &operatorRecalled{status: chatnode.StatusOffline}
		if op := a.b.ops[msg.id]; op != nil {
			r.status, r.lastAssigned = op.status, op.lastAssigned
		}
		for chatID, opID := range a.b.held {
			if opID == msg.id {
				r.chats = append(r.chats, chatID)
			}
		}
		ctx.Respond(r)
	}
}

// schedule arranges one settle after the messages already waiting.
func (a *assignerActor) schedule(ctx actor.Context) {
	if !a.scheduled {
		a.scheduled = true
		ctx.Send(ctx.Self(), &settleNow{})
	}
}

func (a *assignerActor) operator(ctx actor.Context, msg *messages.OperatorUpdate) {
	old := a.b.ops[msg.OperatorId]
	wasVisible := old != nil && old.status != chatnode.StatusOffline
	a.b.setOperator(msg.OperatorId, msg.Status, msg.Departments, int(msg.MaxChats), msg.LastAssignedMicros)
	op := a.b.ops[msg.OperatorId]
	switch {
	case op.status == chatnode.StatusOffline:
		delete(a.windows, op.id)
	case !wasVisible:
		win := make(map[string]bool)
		a.windows[op.id] = win
		snap := &queueSnapshot{entries: a.fill(op, win)}
		a.h.tell(ctx, a.h.operators, &route{id: op.id, msg: snap}, nil)
		a.h.shareTo(ctx, targetOperators, op.id, snap)
	}
	a.schedule(ctx)
}

// settle runs the assignment (automatic mode), sends the decisions to the
// chats, and tells chats their places and operators their queue changes.
func (a *assignerActor) settle(ctx actor.Context) {
	now := a.h.now().UnixMicro()
	if !a.manual {
		for _, d := range a.b.settle(now) {
			a.h.tell(ctx, a.h.chats, &route{id: d.chatID, msg: &messages.AssignChat{ChatId: d.chatID, OperatorId: d.operatorID}}, ctx.Self())
			if q := d.queued; q != nil {
				a.removed = append(a.removed, q.entry)
				if m := a.h.opts.Metrics; m != nil {
					m.AssignmentLatency(q.dept, time.Duration(now-q.at)*time.Microsecond)
				}
			}
		}
	}
	a.tellQueue(ctx)
	a.tellPositions(ctx)
	a.h.presence.update(a.b)
	if m := a.h.opts.Metrics; m != nil {
		lengths := map[string]int{"": 0}
		for _, d := range a.h.accounts.order {
			lengths[d.Key] = 0
		}
		for _, q := range a.b.queue {
			lengths[q.dept]++
		}
		for dept, n := range lengths {
			m.SetQueueLength(dept, n)
		}
	}
}

func (a *assignerActor) tellPositions(ctx actor.Context) {
	for _, q := range a.b.positions() {
		a.h.tell(ctx, a.h.chats, &route{id: q.chatID, msg: &messages.QueuePosition{Position: q.position}}, nil)
	}
}

// tellQueue tells every operator who is not offline how their queue view
// changed since the last time, in one message each. A view shows the
// oldest waiting chats of the operator's departments, at most
// QueueViewSize: a chat that leaves it makes room for the next one.
func (a *assignerActor) tellQueue(ctx actor.Context) {
	if len(a.added) == 0 && len(a.removed) == 0 {
		return
	}
	added, removed := a.added, a.removed
	a.added, a.removed = nil, nil
	// A pass that assigns thousands of chats removes far more than a view
	// holds: then each view is checked against the removed chats' places
	// instead of each removed chat against every view.
	var place map[string]int
	if len(removed) > a.h.opts.QueueViewSize {
		place = make(map[string]int, len(removed))
		for i, e := range removed {
			if _, seen := place[e.ChatID]; !seen {
				place[e.ChatID] = i
			}
		}
	}
	var gone []int
	for _, op := range a.b.all {
		win, ok := a.windows[op.id]
		if !ok {
			continue
		}
		qc := &messages.QueueChange{OperatorId: op.id}
		if place != nil {
			gone = gone[:0]
			for id := range win {
				if i, ok := place[id]; ok {
					gone = append(gone, i)
				}
			}
			slices.Sort(gone) // in the order they were removed, as below
			for _, i := range gone {
				delete(win, removed[i].ChatID)
				qc.Removed = append(qc.Removed, removed[i].ChatID)
			}
		} else {
			for _, e := range removed {
				if win[e.ChatID] {
					delete(win, e.ChatID)
					qc.Removed = append(qc.Removed, e.ChatID)
				}
			}
		}
		for _, e := range added {
			if len(win) < a.h.opts.QueueViewSize && op.sees(e.DepartmentKey) && !win[e.ChatID] {
				if _, waiting := a.b.waiting[e.ChatID]; waiting {
					win[e.ChatID] = true
					qc.Added = append(qc.Added, e.proto())
				}
			}
		}
		if len(qc.Removed) > 0 {
			for _, e := range a.fill(op, win) {
				qc.Added = append(qc.Added, e.proto())
			}
		}
		if len(qc.Added)+len(qc.Removed) > 0 {
			a.h.tell(ctx, a.h.operators, &route{id: op.id, msg: qc}, nil)
			a.h.shareTo(ctx, targetOperators, op.id, qc)
		}
	}
}

// fill adds to win the oldest waiting chats op sees that it lacks, up to
// QueueViewSize, and returns them.
func (a *assignerActor) fill(op *opSlot, win map[string]bool) []*queueEntry {
	var out []*queueEntry
	for _, q := range a.b.queue {
		if len(win) >= a.h.opts.QueueViewSize {
			break
		}
		if op.sees(q.dept) && !win[q.chatID] {
			win[q.chatID] = true
			out = append(out, q.entry)
		}
	}
	return out
}

// take gives a waiting chat to the operator who asked for it. The assigner
// handles one take at a time, so of two operators racing for a chat
// exactly one gets it.
func (a *assignerActor) take(ctx actor.Context, msg *messages.TakeChat) {
	q, waiting := a.b.waiting[msg.ChatId]
	if !waiting {
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EChatTaken, "chat %q is not waiting", msg.ChatId)})
		return
	}
	if why := a.b.canTake(msg.OperatorId, q.dept, true); why != "" {
		ctx.Respond(&reply{err: chatnode.Errorf(why, "operator %s cannot take chat %s", msg.OperatorId, msg.ChatId)})
		return
	}
	a.b.dequeue(msg.ChatId)
	a.b.hold(msg.ChatId, msg.OperatorId)
	a.removed = append(a.removed, q.entry)
	a.tellQueue(ctx) // the taken chat leaves every operator's queue at once
	sender := ctx.Sender()
	f := a.h.tellFuture(ctx, a.h.chats, &route{id: msg.ChatId, msg: &messages.AssignChat{ChatId: msg.ChatId, OperatorId: msg.OperatorId, Manual: true}}, a.h.opts.RequestTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		r, _ := res.(*messages.AssignResult)
		if err == nil && (r == nil || !r.Applied) {
			err = chatnode.Errorf(chatnode.EChatTaken, "chat %q left the queue", msg.ChatId)
		}
		if err != nil {
			if a.b.held[msg.ChatId] == msg.OperatorId {
				a.b.release(msg.ChatId)
			}
			answer(ctx, sender, &reply{err: err})
			return
		}
		a.schedule(ctx)
		answer(ctx, sender, replyOK)
	})
}

// transfer moves a held chat to another operator when they may take it.
func (a *assignerActor) transfer(ctx actor.Context, msg *messages.TransferChat) {
	if why := a.b.canTake(msg.ToOperatorId, "", true); why != "" {
		ctx.Respond(&messages.Result{Error: why})
		return
	}
	a.b.hold(msg.ChatId, msg.ToOperatorId)
	ctx.Respond(&messages.Result{})
	a.schedule(ctx)
}
