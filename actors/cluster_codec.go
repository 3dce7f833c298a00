package actors

import (
	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
)

// setBody puts msg into env as its protobuf body, translating the
// node-local messages that may cross nodes. It reports false for a message
// that cannot.
func setBody(env *messages.Envelope, msg any) bool {
	switch m := msg.(type) {
	case *messages.ChatEvent:
		env.Body = &messages.Envelope_ChatEvent{ChatEvent: m}
	case *messages.ChatQueued:
		env.Body = &messages.Envelope_ChatQueued{ChatQueued: m}
	case *messages.ChatDequeued:
		env.Body = &messages.Envelope_ChatDequeued{ChatDequeued: m}
	case *messages.ChatReleased:
		env.Body = &messages.Envelope_ChatReleased{ChatReleased: m}
	case *messages.ChatHeld:
		env.Body = &messages.Envelope_ChatHeld{ChatHeld: m}
	case *messages.OperatorUpdate:
		env.Body = &messages.Envelope_OperatorUpdate{OperatorUpdate: m}
	case *messages.AssignChat:
		env.Body = &messages.Envelope_AssignChat{AssignChat: m}
	case *messages.AssignResult:
		env.Body = &messages.Envelope_AssignResult{AssignResult: m}
	case *messages.TakeChat:
		env.Body = &messages.Envelope_TakeChat{TakeChat: m}
	case *messages.TransferChat:
		env.Body = &messages.Envelope_TransferChat{TransferChat: m}
	case *messages.QueuePosition:
		env.Body = &messages.Envelope_QueuePosition{QueuePosition: m}
	case *messages.QueueChange:
		env.Body = &messages.Envelope_QueueChange{QueueChange: m}
	case *messages.OperatorStatus:
		env.Body = &messages.Envelope_OperatorStatus{OperatorStatus: m}
	case *queueSnapshot:
		qs := &messages.QueueSnapshot{}
		for _, e := range m.entries {
			qs.Entries = append(qs.Entries, e.proto())
		}
		env.Body = &messages.Envelope_QueueSnapshot{QueueSnapshot: qs}
	case *visitorChatCall:
		r := m.req
		env.Body = &messages.Envelope_ChatCall{ChatCall: &messages.ChatCall{
			Side: chatnode.SideVisitor, ActorId: m.visitorID, Action: r.Action, ClientSideId: r.ClientSideID,
			Message: r.Message, Typing: r.Typing, Draft: r.Draft, OperatorId: r.OperatorID, Rate: int32(r.Rate),
			DepartmentKey: r.DepartmentKey, FirstQuestion: r.FirstQuestion,
		}}
	case *operatorChatCall:
		r := m.req
		env.Body = &messages.Envelope_ChatCall{ChatCall: &messages.ChatCall{
			Side: chatnode.SideOperator, ActorId: m.operatorID, Action: r.Action, ClientSideId: r.ClientSideID,
			Message: r.Message, Typing: r.Typing, Draft: r.Draft, ToOperatorId: r.ToOperatorID, ToDepartmentKey: r.ToDepartmentKey,
		}}
	case *attachReplica:
		env.Body = &messages.Envelope_Attach{Attach: &messages.Attach{Side: m.side, Id: m.id}}
	case *setStatus:
		env.Body = &messages.Envelope_SetStatus{SetStatus: &messages.SetStatus{Status: m.status}}
	default:
		return false
	}
	return true
}

// getBody returns the local message an envelope's body stands for, or nil.
func getBody(env *messages.Envelope) any {
	switch b := env.Body.(type) {
	case *messages.Envelope_ChatEvent:
		return b.ChatEvent
	case *messages.Envelope_ChatQueued:
		return b.ChatQueued
	case *messages.Envelope_ChatDequeued:
		return b.ChatDequeued
	case *messages.Envelope_ChatReleased:
		return b.ChatReleased
	case *messages.Envelope_ChatHeld:
		return b.ChatHeld
	case *messages.Envelope_OperatorUpdate:
		return b.OperatorUpdate
	case *messages.Envelope_AssignChat:
		return b.AssignChat
	case *messages.Envelope_AssignResult:
		return b.AssignResult
	case *messages.Envelope_TakeChat:
		return b.TakeChat
	case *messages.Envelope_TransferChat:
		return b.TransferChat
	case *messages.Envelope_QueuePosition:
		return b.QueuePosition
	case *messages.Envelope_QueueChange:
		return b.QueueChange
	case *messages.Envelope_OperatorStatus:
		return b.OperatorStatus
	case *messages.Envelope_Heartbeat:
		return b.Heartbeat
	case *messages.Envelope_Presence:
		return b.Presence
	case *messages.Envelope_QueueSnapshot:
		qs := &queueSnapshot{}
		for _, e := range b.QueueSnapshot.Entries {
			qs.entries = append(qs.entries, entryFromProto(e))
		}
		return qs
	case *messages.Envelope_ChatCall:
		c := b.ChatCall
		if c.Side == chatnode.SideVisitor {
			return &visitorChatCall{visitorID: c.ActorId, req: &VisitorRequest{
				Action: c.Action, ClientSideID: c.ClientSideId, Message: c.Message, Typing: c.Typing, Draft: c.Draft,
				OperatorID: c.OperatorId, Rate: int(c.Rate), DepartmentKey: c.DepartmentKey, FirstQuestion: c.FirstQuestion,
			}}
		}
		return &operatorChatCall{operatorID: c.ActorId, req: &OperatorRequest{
			Action: c.Action, ChatID: env.EntityId, ClientSideID: c.ClientSideId, Message: c.Message, Typing: c.Typing,
			Draft: c.Draft, ToOperatorID: c.ToOperatorId, ToDepartmentKey: c.ToDepartmentKey,
		}}
	case *messages.Envelope_Attach:
		return &attachReplica{side: b.Attach.Side, id: b.Attach.Id}
	case *messages.Envelope_SetStatus:
		return &setStatus{status: b.SetStatus.Status}
	}
	return nil
}

func (e *queueEntry) proto() *messages.QueueEntry {
	return &messages.QueueEntry{ChatId: e.ChatID, DepartmentKey: e.DepartmentKey, QueuedMicros: e.queuedMicros, VisitorName: e.VisitorName, FirstText: e.FirstText}
}
