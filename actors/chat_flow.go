package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/store"
)

// emit versions an event and sends it to the chat's visitor and/or current
// operator. Events are the only way replicas learn of a change.
func (a *chatActor) emit(ctx actor.Context, ev *messages.ChatEvent, toVisitor, toOperator bool) {
	a.c.Version++
	ev.ChatId, ev.Version, ev.VisitorId, ev.OperatorId = a.id, a.c.Version, a.c.VisitorId, a.c.OperatorId
	if toVisitor {
		a.h.tell(ctx, a.h.visitors, &route{id: a.c.VisitorId, msg: ev}, nil)
	}
	if toOperator && a.c.OperatorId != "" {
		a.h.tell(ctx, a.h.operators, &route{id: a.c.OperatorId, msg: ev}, nil)
	}
	a.h.share(ctx, ev)
}

// sendSnapshot gives one replica the whole chat, in a copy the replica
// owns while the chat goes on changing its own (see snapshotOf).
func (a *chatActor) sendSnapshot(ctx actor.Context, side, id string) {
	snap := snapshotOf(a.c)
	ev := &messages.ChatEvent{ChatId: a.id, Version: a.c.Version, VisitorId: a.c.VisitorId, OperatorId: a.c.OperatorId,
		Change: &messages.ChatEvent_Snapshot{Snapshot: snap}}
	if side == chatnode.SideVisitor {
		a.h.tell(ctx, a.h.visitors, &route{id: id, msg: ev}, nil)
	} else {
		a.h.tell(ctx, a.h.operators, &route{id: id, msg: ev}, nil)
	}
	a.h.share(ctx, ev)
}

// snapshotOf copies c for its replicas, which go on changing their copy.
// The copy has its own list of messages but shares the messages, which
// nobody changes once they are in a chat (every event that adds one shares
// it the same way). proto.Clone copied each message through reflection and
// grew the goroutine's stack doing it: a large part of what assigning a
// chat cost.
func snapshotOf(c *messages.Chat) *messages.Chat {
	return &messages.Chat{
		Id:                c.Id,
		VisitorId:         c.VisitorId,
		ClientSideId:      c.ClientSideId,
		DepartmentKey:     c.DepartmentKey,
		State:             c.State,
		OperatorId:        c.OperatorId,
		CreatedMicros:     c.CreatedMicros,
		ModifiedMicros:    c.ModifiedMicros,
		QueuedMicros:      c.QueuedMicros,
		ClosedMicros:      c.ClosedMicros,
		Messages:          slices.Clone(c.Messages),
		OperatorTyping:    c.OperatorTyping,
		VisitorTyping:     c.VisitorTyping,
		VisitorDraft:      c.VisitorDraft,
		ReadByVisitorSeq:  c.ReadByVisitorSeq,
		ReadByOperatorSeq: c.ReadByOperatorSeq,
		Rated:             c.Rated,
		Rate:              c.Rate,
		RatedOperatorId:   c.RatedOperatorId,
		QueuePosition:     c.QueuePosition,
		Version:           c.Version,
		VisitorName:       c.VisitorName,
	}
}

// stateEvent tells both sides that state and operator changed; prev is the
// operator the chat leaves, who is told it is released.
func (a *chatActor) stateEvent(ctx actor.Context, prev, reason string) {
	a.emit(ctx, &messages.ChatEvent{Change: &messages.ChatEvent_State{State: &messages.StateChange{
		State: a.c.State, OperatorId: a.c.OperatorId, PreviousOperatorId: prev,
		DepartmentKey: a.c.DepartmentKey, ModifiedMicros: a.c.ModifiedMicros,
	}}}, true, true)
	if prev != "" && prev != a.c.OperatorId {
		a.c.Version++
		ev := &messages.ChatEvent{ChatId: a.id, Version: a.c.Version, VisitorId: a.c.VisitorId, OperatorId: a.c.OperatorId,
			Change: &messages.ChatEvent_Released{Released: &messages.Released{OperatorId: prev, Reason: reason}}}
		a.h.tell(ctx, a.h.operators, &route{id: prev, msg: ev}, nil)
		a.h.share(ctx, ev)
	}
}

// change applies a state change with an info message, makes both durable,
// then tells the replicas and runs then.
func (a *chatActor) change(ctx actor.Context, info string, mutate func(), then func(err error, prev string)) {
	prev := a.c.OperatorId
	mutate()
	now := a.h.now().UnixMicro()
	a.c.ModifiedMicros = now
	a.c.OperatorTyping, a.c.VisitorTyping = false, false
	var m *messages.Message
	changes := []store.Change{}
	if info != "" {
		m = a.newMessage(chatnode.KindInfo, "", "", info, "")
		changes = append(changes, store.Change{Message: storeMessage(m)})
	}
	changes = append(changes, store.Change{Chat: storeChat(a.c, a.seq+1)})
	a.w.submit(ctx, changes, func(err error) {
		if err == nil {
			if m != nil {
				a.c.Messages = append(a.c.Messages, m)
			}
			a.stateEvent(ctx, prev, "")
			if m != nil {
				a.emit(ctx, &messages.ChatEvent{Change: &messages.ChatEvent_Message{Message: m}}, true, true)
			}
		}
		then(err, prev)
	})
}

func (a *chatActor) close(ctx actor.Context, state, info string) {
	if !chatnode.ChatOpen(a.c.State) {
		ctx.Respond(replyOK)
		return
	}
	wasQueued := a.c.State == chatnode.ChatQueue
	sender := ctx.Sender()
	a.change(ctx, info, func() {
		a.c.State = state
		a.c.ClosedMicros = a.h.now().UnixMicro()
		a.c.QueuePosition = 0
	}, func(err error, prev string) {
		if err != nil {
			answer(ctx, sender, &reply{err: err})
			return
		}
		if wasQueued {
			ctx.Send(a.h.assigner, &messages.ChatDequeued{ChatId: a.id})
		} else if prev != "" {
			ctx.Send(a.h.assigner, &messages.ChatReleased{ChatId: a.id, OperatorId: prev})
		}
		ctx.Send(a.h.chats, &chatClosedNote{chatID: a.id, visitorID: a.c.VisitorId})
		if sender != nil {
			answer(ctx, sender, replyOK)
		}
		a.armTimer()
	})
}

// assign applies the assigner's decision if the chat still waits.
func (a *chatActor) assign(ctx actor.Context, msg *messages.AssignChat) {
	if a.c == nil || a.c.State != chatnode.ChatQueue {
		ctx.Respond(&messages.AssignResult{ChatId: msg.ChatId, OperatorId: msg.OperatorId, Error: chatnode.EChatTaken})
		return
	}
	sender, op := ctx.Sender(), msg.OperatorId
	a.change(ctx, a.h.accounts.name(op)+" joined the chat", func() {
		a.c.State, a.c.OperatorId, a.c.QueuePosition = chatnode.ChatChatting, op, 0
	}, func(err error, _ string) {
		res := &messages.AssignResult{ChatId: a.id, OperatorId: op, Applied: err == nil}
		if err != nil {
			res.Error = chatnode.EInternal
			a.c.State, a.c.OperatorId = chatnode.ChatQueue, ""
		} else {
			a.sendSnapshot(ctx, chatnode.SideOperator, op)
		}
		answer(ctx, sender, res)
	})
}

// transfer moves the chat to a department's queue or, once the assigner
// agrees, to another operator.
func (a *chatActor) transfer(ctx actor.Context, opID string, req *OperatorRequest) {
	sender := ctx.Sender()
	if dept := req.ToDepartmentKey; dept != "" {
		d := a.h.accounts.department(dept)
		if d == nil {
			ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EUnknownDepartment, "no department %q", dept)})
			return
		}
		a.change(ctx, "The chat was transferred to "+d.Name, func() {
			a.c.State, a.c.OperatorId, a.c.DepartmentKey = chatnode.ChatQueue, "", dept
			a.c.QueuedMicros = a.h.now().UnixMicro()
		}, func(err error, prev string) {
			if err == nil {
				ctx.Send(a.h.assigner, &messages.ChatReleased{ChatId: a.id, OperatorId: prev})
				ctx.Send(a.h.assigner, a.queuedNote())
			}
			answer(ctx, sender, &reply{err: err})
		})
		return
	}
	to := req.ToOperatorID
	switch {
	case to == "":
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EWrongArgument, "transfer needs operator-id or department-key")})
		return
	case a.h.accounts.operator(to) == nil:
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EUnknownOperator, "no operator %q", to)})
		return
	case to == opID:
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EWrongArgument, "the chat is already yours")})
		return
	}
	f := ctx.RequestFuture(a.h.assigner, &messages.TransferChat{ChatId: a.id, FromOperatorId: opID, ToOperatorId: to}, a.h.opts.RequestTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		if err == nil {
			if r, ok := res.(*messages.Result); ok && r.Error != "" {
				err = chatnode.Errorf(r.Error, "operator %s cannot take the chat", to)
			}
		}
		if err != nil {
			answer(ctx, sender, &reply{err: err})
			return
		}
		if a.c.State != chatnode.ChatChatting || a.c.OperatorId != opID { // closed or moved meanwhile
			ctx.Send(a.h.assigner, &messages.ChatReleased{ChatId: a.id, OperatorId: to})
			answer(ctx, sender, &reply{err: chatnode.Errorf(chatnode.EChatClosed, "the chat changed during the transfer")})
			return
		}
		a.change(ctx, "The chat was transferred to "+a.h.accounts.name(to), func() {
			a.c.OperatorId = to
		}, func(err error, _ string) {
			if err == nil {
				a.sendSnapshot(ctx, chatnode.SideOperator, to)
			}
			answer(ctx, sender, &reply{err: err})
		})
	})
}

// armTimer schedules the next look at the chat: the inactivity check while
// it is open, the end of its linger time once closed.
func (a *chatActor) armTimer() {
	if a.timer != nil {
		a.timer.Stop()
	}
	d := a.h.opts.ChatInactivityTimeout
	if !chatnode.ChatOpen(a.c.State) {
		d = a.h.opts.ClosedChatLinger
	}
	if d <= 0 {
		return
	}
	self, root := a.self, a.h.system.Root
	a.timer = time.AfterFunc(d, func() { root.Send(self, &inactivityCheck{}) })
}

func (a *chatActor) checkInactivity(ctx actor.Context) {
	if !chatnode.ChatOpen(a.c.State) {
		if len(a.w.pending) == 0 {
			a.retiring.retire(ctx, a.id)
		}
		return
	}
	idle := a.h.now().Sub(a.lastSeen)
	if idle < a.h.opts.ChatInactivityTimeout {
		a.timer = time.AfterFunc(a.h.opts.ChatInactivityTimeout-idle, func() { a.h.system.Root.Send(a.self, &inactivityCheck{}) })
		return
	}
	a.close(ctx, chatnode.ChatClosed, "The chat was closed after inactivity")
}
