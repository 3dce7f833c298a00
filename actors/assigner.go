package actors

import (
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
type assignerActor struct {
	h      *Hub
	b      *board
	manual bool
	self   *actor.PID
	ticker *time.Ticker
	done   chan struct{}
}

func newAssignerActor(h *Hub) *assignerActor {
	return &assignerActor{h: h, b: newBoard(), manual: h.opts.ManualAssignment}
}

// Receive implements actor.Actor.
func (a *assignerActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		a.startTicker()
	case *actor.Stopping:
		if a.ticker != nil {
			a.ticker.Stop()
			close(a.done)
		}
	case *tick:
		a.settle(ctx)
	case *messages.OperatorUpdate:
		a.operator(ctx, msg)
	case *messages.ChatQueued:
		e := &queueEntry{ChatID: msg.ChatId, DepartmentKey: msg.DepartmentKey, QueuedTs: seconds(msg.QueuedMicros), VisitorName: msg.VisitorName, FirstText: msg.FirstText}
		if a.b.enqueue(msg.ChatId, msg.DepartmentKey, msg.QueuedMicros, e) {
			a.tellQueue(ctx, true, e)
			a.settle(ctx)
		}
	case *messages.ChatDequeued:
		if q, ok := a.b.dequeue(msg.ChatId); ok {
			a.tellQueue(ctx, false, q.entry)
			a.tellPositions(ctx)
		}
	case *messages.ChatReleased:
		if a.b.held[msg.ChatId] == msg.OperatorId {
			a.b.release(msg.ChatId)
		}
		a.settle(ctx)
	case *messages.ChatHeld:
		a.b.hold(msg.ChatId, msg.OperatorId)
	case *messages.AssignResult:
		if !msg.Applied && a.b.held[msg.ChatId] == msg.OperatorId {
			a.b.release(msg.ChatId)
			a.settle(ctx)
		}
	case *messages.TakeChat:
		a.take(ctx, msg)
	case *messages.TransferChat:
		a.transfer(ctx, msg)
	}
}

func (a *assignerActor) startTicker() {
	d := a.h.opts.AssignTick
	if d <= 0 {
		return
	}
	a.ticker, a.done = time.NewTicker(d), make(chan struct{})
	root, self, t, done := a.h.system.Root, a.self, a.ticker, a.done
	go func() {
		for {
			select {
			case <-t.C:
				root.Send(self, &tick{})
			case <-done:
				return
			}
		}
	}()
}

func (a *assignerActor) operator(ctx actor.Context, msg *messages.OperatorUpdate) {
	old := a.b.ops[msg.OperatorId]
	wasVisible := old != nil && old.status != chatnode.StatusOffline
	a.b.setOperator(msg.OperatorId, msg.Status, msg.Departments, int(msg.MaxChats), msg.LastAssignedMicros)
	op := a.b.ops[msg.OperatorId]
	if op.status != chatnode.StatusOffline && !wasVisible {
		var entries []*queueEntry
		for _, q := range a.b.queue {
			if op.sees(q.dept) {
				entries = append(entries, q.entry)
			}
		}
		snap := &queueSnapshot{entries: entries}
		ctx.Send(a.h.operators, &route{id: op.id, msg: snap})
		a.h.shareTo(ctx, targetOperators, op.id, snap)
	}
	a.h.presence.update(a.b)
	a.settle(ctx)
}

// settle runs the assignment (automatic mode) and tells chats their places.
func (a *assignerActor) settle(ctx actor.Context) {
	if !a.manual {
		for _, d := range a.b.settle(a.h.now().UnixMicro()) {
			ctx.Request(a.h.chats, &route{id: d.chatID, msg: &messages.AssignChat{ChatId: d.chatID, OperatorId: d.operatorID}})
			if q := d.queued; q != nil {
				a.tellQueue(ctx, false, q.entry)
			}
		}
	}
	a.tellPositions(ctx)
	a.h.presence.update(a.b)
}

func (a *assignerActor) tellPositions(ctx actor.Context) {
	for _, q := range a.b.positions() {
		ctx.Send(a.h.chats, &route{id: q.chatID, msg: &messages.QueuePosition{Position: q.position}})
	}
}

// tellQueue tells every operator who sees the chat's department that it
// joined or left the queue.
func (a *assignerActor) tellQueue(ctx actor.Context, added bool, e *queueEntry) {
	if e == nil {
		return
	}
	pe := &messages.QueueEntry{ChatId: e.ChatID, DepartmentKey: e.DepartmentKey, QueuedMicros: int64(e.QueuedTs * 1e6), VisitorName: e.VisitorName, FirstText: e.FirstText}
	for _, op := range a.b.all {
		if op.sees(e.DepartmentKey) {
			qc := &messages.QueueChange{OperatorId: op.id, Added: added, Entry: pe}
			ctx.Send(a.h.operators, &route{id: op.id, msg: qc})
			a.h.shareTo(ctx, targetOperators, op.id, qc)
		}
	}
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
	a.tellQueue(ctx, false, q.entry)
	sender := ctx.Sender()
	f := ctx.RequestFuture(a.h.chats, &route{id: msg.ChatId, msg: &messages.AssignChat{ChatId: msg.ChatId, OperatorId: msg.OperatorId, Manual: true}}, a.h.opts.RequestTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		r, _ := res.(*messages.AssignResult)
		if err == nil && (r == nil || !r.Applied) {
			err = chatnode.Errorf(chatnode.EChatTaken, "chat %q left the queue", msg.ChatId)
		}
		if err != nil {
			if a.b.held[msg.ChatId] == msg.OperatorId {
				a.b.release(msg.ChatId)
			}
			ctx.Send(sender, &reply{err: err})
			return
		}
		a.tellPositions(ctx)
		ctx.Send(sender, &reply{})
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
	a.settle(ctx)
}
