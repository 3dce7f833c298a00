package actors

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/store"
)

// chatActor is the one writer of a chat. It orders the chat's messages,
// keeps client-side ids idempotent, applies the assigner's decisions, makes
// every accepted change durable before it answers, and then tells the
// chat's replicas (the visitor's and the operator's views) by ChatEvents.
//
// Rule: emit events first, answer second. A client that got its answer and
// acts again finds the replicas already changed.
type chatActor struct {
	h        *Hub
	id       string
	self     *actor.PID
	c        *messages.Chat
	seq      int64                          // the last seq given to a message
	byClient map[messageKey]*pendingMessage // by clientKey(kind, client-side id); nil once durable
	w        writes
	lastSeen time.Time
	timer    *time.Timer
	// restarted marks an incarnation made by the supervisor after a panic;
	// it reloads the chat from the store before anything else.
	restarted bool
	retiring  retiring
}

// pendingMessage holds the requests waiting for a message to become
// durable. A durable message's entry in byClient is nil: a chat keeps an
// entry for every message it holds, and nil ones cost the collector
// nothing to scan.
type pendingMessage struct {
	waiters []*actor.PID
	first   [1]*actor.PID // waiters' storage while there is one
}

func newChatActor(h *Hub, id string) *chatActor {
	return &chatActor{h: h, id: id, byClient: make(map[messageKey]*pendingMessage), w: writes{w: h.writer, t: h.opts.Tracing},
		retiring: retiring{dir: h.chats}}
}

// chatRecover restores a chat from the store when a node starts.
type chatRecover struct{ chat *messages.Chat }

// Receive implements actor.Actor.
func (a *chatActor) Receive(ctx actor.Context) {
	if a.retiring.reroute(ctx, a.id) {
		return
	}
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		a.lastSeen = a.h.now()
		if a.restarted {
			a.reload(ctx)
		}
	case *actor.Stopped:
		if a.timer != nil {
			a.timer.Stop()
		}
	case *persisted:
		a.w.done(msg.err)
	case *chatRecover:
		a.restore(msg.chat)
	case *chatCreate:
		a.create(ctx, msg)
	case *visitorChatCall:
		if msg.viaRoute && (a.c == nil || msg.visitorID != a.c.VisitorId || !chatnode.ChatOpen(a.c.State)) {
			ctx.Respond(&reply{err: errRouteRefused})
			return
		}
		if a.c == nil || msg.visitorID != a.c.VisitorId {
			ctx.Respond(&reply{err: chatnode.Errorf(chatnode.ENoChat, "no such chat for this visitor")})
			return
		}
		a.visitorCall(ctx, msg.req)
	case *operatorChatCall:
		if a.c == nil || msg.operatorID != a.c.OperatorId {
			ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EOperatorNotInChat, "chat %s is not yours", a.id)})
			return
		}
		a.operatorCall(ctx, msg.operatorID, msg.req)
	case *messages.AssignChat:
		a.assign(ctx, msg)
	case *messages.QueuePosition:
		if a.c != nil && a.c.State == chatnode.ChatQueue && a.c.QueuePosition != msg.Position {
			a.c.QueuePosition = msg.Position
			a.emit(ctx, &messages.ChatEvent{Change: &messages.ChatEvent_Position{Position: msg}}, true, false)
		}
	case *attachReplica:
		// An operator's view holds only open chats that are theirs.
		if a.c != nil && (msg.side == chatnode.SideVisitor || (chatnode.ChatOpen(a.c.State) && a.c.OperatorId == msg.id)) {
			a.sendSnapshot(ctx, msg.side, msg.id)
		}
	case *inactivityCheck:
		a.checkInactivity(ctx)
	}
}

// reload restores the chat from the store after a restart. Writes that
// were in flight when the actor failed are lost to it; their requests time
// out and clients retry (resends are idempotent by client-side id).
func (a *chatActor) reload(ctx actor.Context) {
	if a.h.store == nil {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), a.h.opts.RequestTimeout)
	defer cancel()
	sc, err := a.h.store.Chat(c, a.id)
	if err != nil {
		ctx.Logger().Error("reloading chat failed", "chat", a.id, "err", err)
		return
	}
	msgs, err := a.h.store.Messages(c, a.id, 0, 0)
	if err != nil {
		ctx.Logger().Error("reloading chat messages failed", "chat", a.id, "err", err)
		return
	}
	a.restore(chatFromStore(sc, msgs, nil))
	a.sendSnapshot(ctx, chatnode.SideVisitor, a.c.VisitorId)
	if a.c.OperatorId != "" {
		a.sendSnapshot(ctx, chatnode.SideOperator, a.c.OperatorId)
	}
	ctx.Logger().Warn("chat restarted and reloaded", "chat", a.id, "messages", len(msgs))
}

func (a *chatActor) restore(c *messages.Chat) {
	a.c = c
	// A restored chat continues its event versions from the clock, above
	// anything an earlier incarnation sent, so replicas accept its events.
	c.Version = uint64(a.h.now().UnixMicro())
	for _, m := range c.Messages {
		if m.Seq > a.seq {
			a.seq = m.Seq
		}
		if m.ClientSideId != "" {
			a.byClient[clientKey(m.Kind, m.ClientSideId)] = nil
		}
	}
	a.armTimer()
}

func (a *chatActor) create(ctx actor.Context, msg *chatCreate) {
	if a.c != nil { // the same start again: answer like the first time
		ctx.Respond(replyOK)
		return
	}
	a.c = msg.chat
	changes := []store.Change{{Chat: storeChat(a.c, 2)}}
	if msg.first != nil {
		a.seq = 1
		msg.first.Seq = 1
		a.c.Messages = append(a.c.Messages, msg.first)
		changes = append(changes, store.Change{Message: storeMessage(msg.first)})
		if msg.first.ClientSideId != "" {
			a.byClient[clientKey(msg.first.Kind, msg.first.ClientSideId)] = nil
		}
	}
	sender := ctx.Sender()
	a.w.submit(ctx, changes, func(err error) {
		if err != nil {
			answer(ctx, sender, &reply{err: err})
			a.retiring.retire(ctx, a.id)
			return
		}
		a.armTimer()
		a.sendSnapshot(ctx, chatnode.SideVisitor, a.c.VisitorId)
		answer(ctx, sender, replyOK)
		ctx.Send(a.h.assigner, a.queuedNote())
	})
}

func (a *chatActor) queuedNote() *messages.ChatQueued {
	q := &messages.ChatQueued{ChatId: a.id, DepartmentKey: a.c.DepartmentKey, QueuedMicros: a.c.QueuedMicros, VisitorName: a.c.VisitorName}
	for _, m := range a.c.Messages {
		if m.Kind == chatnode.KindVisitor {
			q.FirstText = m.Text
			break
		}
	}
	return q
}

func (a *chatActor) visitorCall(ctx actor.Context, req *VisitorRequest) {
	a.lastSeen = a.h.now()
	switch req.Action {
	case ActStart:
		ctx.Respond(replyOK)
	case ActMessage:
		a.addMessage(ctx, chatnode.KindVisitor, a.c.VisitorId, a.c.VisitorName, req.Message, req.ClientSideID)
	case ActVisitorTyping:
		a.typing(ctx, chatnode.SideVisitor, req.Typing, req.Draft)
	case ActReadByVisitor:
		a.markRead(ctx, chatnode.SideVisitor)
	case ActClose:
		a.close(ctx, chatnode.ChatClosedByVisitor, "The visitor closed the chat")
	case ActRate:
		a.rate(ctx, req)
	default:
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EUnknownAction, "%q", req.Action)})
	}
}

func (a *chatActor) operatorCall(ctx actor.Context, opID string, req *OperatorRequest) {
	a.lastSeen = a.h.now()
	switch req.Action {
	case ActMessage:
		a.addMessage(ctx, chatnode.KindOperator, opID, a.h.accounts.name(opID), req.Message, req.ClientSideID)
	case ActOperatorTyping:
		a.typing(ctx, chatnode.SideOperator, req.Typing, req.Draft)
	case ActReadByOperator:
		a.markRead(ctx, chatnode.SideOperator)
	case ActClose:
		a.close(ctx, chatnode.ChatClosedByOperator, a.h.accounts.name(opID)+" closed the chat")
	case ActTransfer:
		a.transfer(ctx, opID, req)
	default:
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EUnknownAction, "%q", req.Action)})
	}
}

// clientKey indexes a message by its client-side id. Client ids belong to a
// client, so a visitor's and an operator's messages never collide.
func clientKey(kind, clientID string) messageKey { return messageKey{kind, clientID} }

// messageKey is a message's kind and client-side id.
type messageKey struct{ kind, clientID string }

// answer sends msg to a requester that may be absent (a plain send).
func answer(ctx actor.Context, to *actor.PID, msg any) {
	if to != nil {
		ctx.Send(to, msg)
	}
}

// checkText validates a message text against the configured limit.
func (h *Hub) checkText(text string) error {
	switch {
	case text == "":
		return chatnode.Errorf(chatnode.EWrongArgument, "message is empty")
	case !utf8.ValidString(text):
		return chatnode.Errorf(chatnode.EWrongArgument, "message is not valid UTF-8")
	case utf8.RuneCountInString(text) > h.opts.MaxMessageLength:
		return chatnode.Errorf(chatnode.EMessageTooLong, "message longer than %d characters", h.opts.MaxMessageLength)
	}
	return nil
}

func (a *chatActor) addMessage(ctx actor.Context, kind, authorID, authorName, text, clientID string) {
	key := clientKey(kind, clientID)
	if p, ok := a.byClient[key]; ok && clientID != "" {
		if p == nil { // durable already
			ctx.Respond(replyOK)
		} else {
			p.waiters = append(p.waiters, ctx.Sender())
		}
		return
	}
	if err := a.h.checkText(text); err != nil {
		ctx.Respond(&reply{err: err})
		return
	}
	if !chatnode.ChatOpen(a.c.State) {
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EChatClosed, "chat %s is %s", a.id, a.c.State)})
		return
	}
	m := a.newMessage(kind, authorID, authorName, text, clientID)
	p := &pendingMessage{}
	p.waiters = append(p.first[:0], ctx.Sender())
	if clientID != "" {
		a.byClient[key] = p
	}
	a.w.submit(ctx, []store.Change{{Message: storeMessage(m)}}, func(err error) {
		if err != nil {
			delete(a.byClient, key)
			for _, w := range p.waiters {
				ctx.Send(w, &reply{err: err})
			}
			return
		}
		if clientID != "" {
			a.byClient[key] = nil
		}
		a.c.Messages = append(a.c.Messages, m)
		a.emit(ctx, &messages.ChatEvent{Change: &messages.ChatEvent_Message{Message: m}}, true, true)
		for _, w := range p.waiters {
			ctx.Send(w, replyOK)
		}
	})
}

func (a *chatActor) newMessage(kind, authorID, authorName, text, clientID string) *messages.Message {
	a.seq++
	return &messages.Message{
		Id:           store.MessageID(a.id, a.seq),
		ChatId:       a.id,
		Seq:          a.seq,
		Kind:         kind,
		AuthorId:     authorID,
		AuthorName:   authorName,
		Text:         text,
		ClientSideId: clientID,
		TsMicros:     a.h.now().UnixMicro(),
	}
}

func (a *chatActor) typing(ctx actor.Context, side string, typing bool, draft string) {
	if side == chatnode.SideVisitor {
		a.c.VisitorTyping, a.c.VisitorDraft = typing, draft
	} else {
		a.c.OperatorTyping = typing
	}
	a.emit(ctx, &messages.ChatEvent{Change: &messages.ChatEvent_Typing{Typing: &messages.Typing{Side: side, Typing: typing, Draft: draft}}}, side == chatnode.SideOperator, side == chatnode.SideVisitor)
	ctx.Respond(replyOK)
}

func (a *chatActor) markRead(ctx actor.Context, side string) {
	mark := &a.c.ReadByVisitorSeq
	if side == chatnode.SideOperator {
		mark = &a.c.ReadByOperatorSeq
	}
	if *mark >= a.seq {
		ctx.Respond(replyOK)
		return
	}
	*mark = a.seq
	upTo, sender := a.seq, ctx.Sender()
	a.w.submit(ctx, []store.Change{{Read: &store.Read{ChatID: a.id, Side: side, UpToSeq: upTo}}}, func(err error) {
		if err == nil {
			a.emit(ctx, &messages.ChatEvent{Change: &messages.ChatEvent_Read{Read: &messages.ReadMark{Side: side, UpToSeq: upTo}}}, true, true)
		}
		answer(ctx, sender, &reply{err: err})
	})
}

func (a *chatActor) rate(ctx actor.Context, req *VisitorRequest) {
	switch {
	case req.Rate < chatnode.MinRate || req.Rate > chatnode.MaxRate:
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.ERateIncorrect, "rate %d is outside -2..2", req.Rate)})
		return
	case a.c.OperatorId == "" || (req.OperatorID != "" && req.OperatorID != a.c.OperatorId):
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EOperatorNotInChat, "operator %q is not in the chat", req.OperatorID)})
		return
	}
	a.c.Rated, a.c.Rate, a.c.RatedOperatorId = true, int32(req.Rate), a.c.OperatorId
	a.c.ModifiedMicros = a.h.now().UnixMicro()
	sender := ctx.Sender()
	a.w.submit(ctx, []store.Change{{Chat: storeChat(a.c, a.seq+1)}}, func(err error) {
		if err == nil {
			a.emit(ctx, &messages.ChatEvent{Change: &messages.ChatEvent_Rating{Rating: &messages.Rating{OperatorId: a.c.RatedOperatorId, Rate: a.c.Rate}}}, true, true)
		}
		answer(ctx, sender, &reply{err: err})
	})
}
