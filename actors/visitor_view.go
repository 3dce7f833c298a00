package actors

import (
	"encoding/json"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
)

// apply updates the visitor's replica of its chat with an event from the
// chat's owner and publishes the matching Webim deltas. Events older than
// the replica are dropped (redeliveries); a snapshot replaces the replica.
func (a *visitorActor) apply(ctx actor.Context, ev *messages.ChatEvent) {
	if snap, ok := ev.Change.(*messages.ChatEvent_Snapshot); ok {
		if a.view != nil && a.view.Id == ev.ChatId && ev.Version < a.view.Version {
			return
		}
		if a.chatID != "" && a.chatID != ev.ChatId && a.view != nil && a.view.Id == a.chatID && snap.Snapshot.CreatedMicros < a.view.CreatedMicros {
			return // a late snapshot of an older chat
		}
		a.view, a.chatID = snap.Snapshot, ev.ChatId
		a.feed.publish(ctx, []json.RawMessage{
			delta(objChat, "upd", ev.ChatId, a.h.chatJSON(a.view, false)),
			delta(objSessionState, "upd", a.id, a.sessionState()),
		})
		if !a.stateUnknown() && (len(a.deferred) > 0 || a.waitOver != nil) {
			a.replayDeferred(ctx)
		}
		return
	}
	v := a.view
	if v == nil || v.Id != ev.ChatId {
		if ev.ChatId == a.chatID {
			a.h.tell(ctx, a.h.chats, &route{id: ev.ChatId, msg: &attachReplica{side: chatnode.SideVisitor, id: a.id}}, nil)
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
		v.ModifiedMicros = c.Message.TsMicros
		out = append(out, messageAdd(c.Message, v))
	case *messages.ChatEvent_State:
		v.State, v.OperatorId, v.DepartmentKey, v.ModifiedMicros = c.State.State, c.State.OperatorId, c.State.DepartmentKey, c.State.ModifiedMicros
		v.OperatorTyping, v.VisitorTyping = false, false
		if v.State != chatnode.ChatQueue {
			v.QueuePosition = 0
		}
		var op any = a.h.operatorJSON(v.OperatorId)
		if v.OperatorId == "" {
			op = nil
		}
		out = append(out,
			delta(objState, "upd", v.Id, v.State),
			delta(objOperator, "upd", v.Id, op),
			delta(objSessionState, "upd", a.id, a.sessionState()))
	case *messages.ChatEvent_Typing:
		if c.Typing.Side == chatnode.SideOperator {
			v.OperatorTyping = c.Typing.Typing
			out = append(out, delta(objOperatorTyping, "upd", v.Id, c.Typing.Typing))
		} else {
			v.VisitorTyping, v.VisitorDraft = c.Typing.Typing, c.Typing.Draft
		}
	case *messages.ChatEvent_Read:
		out = a.applyRead(v, c.Read)
	case *messages.ChatEvent_Rating:
		v.Rated, v.Rate, v.RatedOperatorId = true, c.Rating.Rate, c.Rating.OperatorId
		out = append(out, delta(objRate, "upd", v.Id, wireRate{OperatorID: numericID(c.Rating.OperatorId), Rating: c.Rating.Rate}))
	case *messages.ChatEvent_Position:
		v.QueuePosition = c.Position.Position
		out = append(out, delta(objQueuePosition, "upd", v.Id, c.Position.Position))
	}
	a.feed.publish(ctx, out)
}

func (a *visitorActor) applyRead(v *messages.Chat, r *messages.ReadMark) []json.RawMessage {
	var out []json.RawMessage
	if r.Side == chatnode.SideVisitor {
		v.ReadByVisitorSeq = r.UpToSeq
		return append(out, delta(objReadByVisitor, "upd", v.Id, true))
	}
	old := v.ReadByOperatorSeq
	v.ReadByOperatorSeq = r.UpToSeq
	for _, m := range v.Messages {
		if m.Kind == chatnode.KindVisitor && m.Seq > old && m.Seq <= r.UpToSeq {
			out = append(out, delta(objMessageRead, "upd", m.Id, true))
		}
	}
	return append(out, delta(objUnreadByOp, "upd", v.Id, nil))
}

// sessionState is the Webim visit-session state: "chat" while a chat is
// open, "idle" otherwise.
func (a *visitorActor) sessionState() string {
	if a.view != nil && chatnode.ChatOpen(a.view.State) {
		return "chat"
	}
	if a.view != nil {
		return "idle-after-chat"
	}
	return "idle"
}

// wireFullUpdate is Webim's fullUpdate object.
type wireFullUpdate struct {
	PageID         string           `json:"pageId"`
	AuthToken      string           `json:"authToken"`
	VisitSessionID string           `json:"visitSessionId"`
	Visitor        json.RawMessage  `json:"visitor"`
	State          string           `json:"state"`
	OnlineStatus   string           `json:"onlineStatus"`
	Chat           *wireChat        `json:"chat,omitempty"`
	Departments    []wireDepartment `json:"departments"`
	HintsEnabled   bool             `json:"hintsEnabled"`
}

// full renders the visitor's whole state for page pageID.
func (a *visitorActor) full(pageID string) json.RawMessage {
	f := wireFullUpdate{
		PageID:         pageID,
		AuthToken:      a.rec.AuthToken,
		VisitSessionID: a.id,
		Visitor:        a.rec.Fields,
		State:          a.sessionState(),
		OnlineStatus:   a.h.presence.status(""),
		Departments:    a.h.departmentsJSON(),
	}
	if a.view != nil {
		f.Chat = a.h.chatJSON(a.view, false)
	}
	return mustJSON(f)
}
