package actors

import (
	"encoding/json"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
)

// apply updates the operator's replica of a chat and publishes deltas.
func (a *operatorActor) apply(ctx actor.Context, ev *messages.ChatEvent) {
	if snap, ok := ev.Change.(*messages.ChatEvent_Snapshot); ok {
		if v, ok := a.chats[ev.ChatId]; ok && ev.Version < v.Version {
			return
		}
		if snap.Snapshot.OperatorId != a.acct.ID || !chatnode.ChatOpen(snap.Snapshot.State) {
			return
		}
		a.chats[ev.ChatId] = snap.Snapshot
		if snap.Snapshot.State == chatnode.ChatChatting {
			a.lastAssigned = a.h.now().UnixMicro()
		}
		a.feed.publish(ctx, []json.RawMessage{delta(objChat, "upd", ev.ChatId, a.h.chatJSON(snap.Snapshot, true))})
		return
	}
	v, ok := a.chats[ev.ChatId]
	if !ok {
		if ev.OperatorId == a.acct.ID {
			a.h.tell(ctx, a.h.chats, &route{id: ev.ChatId, msg: &attachReplica{side: chatnode.SideOperator, id: a.acct.ID}}, nil)
		}
		return
	}
	if ev.Version <= v.Version {
		return
	}
	v.Version = ev.Version
	var out []json.RawMessage
	switch c := ev.Change.(type) {
	case *messages.ChatEvent_Message:
		v.Messages = append(v.Messages, c.Message)
		out = append(out, messageAdd(c.Message, v))
	case *messages.ChatEvent_State:
		v.State, v.OperatorId, v.DepartmentKey, v.ModifiedMicros = c.State.State, c.State.OperatorId, c.State.DepartmentKey, c.State.ModifiedMicros
		out = append(out, delta(objState, "upd", v.Id, v.State))
		if !chatnode.ChatOpen(v.State) || v.OperatorId != a.acct.ID {
			delete(a.chats, v.Id)
			out = append(out, delta(objChat, "del", v.Id, nil))
		}
	case *messages.ChatEvent_Typing:
		if c.Typing.Side == chatnode.SideVisitor {
			v.VisitorTyping, v.VisitorDraft = c.Typing.Typing, c.Typing.Draft
			out = append(out, delta(objVisitorTyping, "upd", v.Id, wireTyping{Draft: c.Typing.Draft, Typing: c.Typing.Typing}))
		}
	case *messages.ChatEvent_Read:
		if c.Read.Side == chatnode.SideVisitor {
			old := v.ReadByVisitorSeq
			v.ReadByVisitorSeq = c.Read.UpToSeq
			for _, m := range v.Messages {
				if m.Kind == chatnode.KindOperator && m.Seq > old && m.Seq <= c.Read.UpToSeq {
					out = append(out, delta(objMessageRead, "upd", m.Id, true))
				}
			}
			out = append(out, delta(objReadByVisitor, "upd", v.Id, true))
		} else {
			v.ReadByOperatorSeq = c.Read.UpToSeq
			out = append(out, delta(objUnreadByOp, "upd", v.Id, nil))
		}
	case *messages.ChatEvent_Rating:
		v.Rated, v.Rate, v.RatedOperatorId = true, c.Rating.Rate, c.Rating.OperatorId
		out = append(out, delta(objRate, "upd", v.Id, wireRate{OperatorID: numericID(c.Rating.OperatorId), Rating: c.Rating.Rate}))
	case *messages.ChatEvent_Released:
		delete(a.chats, v.Id)
		out = append(out, delta(objChat, "del", v.Id, nil))
	}
	a.feed.publish(ctx, out)
}

func entryFromProto(e *messages.QueueEntry) *queueEntry {
	return &queueEntry{ChatID: e.ChatId, DepartmentKey: e.DepartmentKey, QueuedTs: seconds(e.QueuedMicros), queuedMicros: e.QueuedMicros, VisitorName: e.VisitorName, FirstText: e.FirstText}
}

func (a *operatorActor) queueChange(ctx actor.Context, qc *messages.QueueChange) {
	if a.status == chatnode.StatusOffline {
		return
	}
	var out []json.RawMessage
	for _, pe := range qc.Added {
		e := entryFromProto(pe)
		a.queue[e.ChatID] = e
		out = append(out, delta(objQueue, "add", e.ChatID, e))
	}
	for _, id := range qc.Removed {
		if _, ok := a.queue[id]; ok {
			delete(a.queue, id)
			out = append(out, delta(objQueue, "del", id, nil))
		}
	}
	a.feed.publish(ctx, out)
}

func (a *operatorActor) replaceQueue(ctx actor.Context, entries []*queueEntry) {
	next := make(map[string]*queueEntry, len(entries))
	var out []json.RawMessage
	for _, e := range entries {
		next[e.ChatID] = e
		if _, ok := a.queue[e.ChatID]; !ok {
			out = append(out, delta(objQueue, "add", e.ChatID, e))
		}
	}
	for id := range a.queue {
		if _, ok := next[id]; !ok {
			out = append(out, delta(objQueue, "del", id, nil))
		}
	}
	a.queue = next
	a.feed.publish(ctx, out)
}
