package actors

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/store"
)

// visitorActor is one visit session: it authenticates the visitor's
// requests, starts chats, forwards actions to the current chat, keeps the
// visitor's replica of that chat and the visitor's delta stream. An idle
// visitor actor stops (passivation) and is restored from the store on the
// next request.
type visitorActor struct {
	h        *Hub
	id       string
	self     *actor.PID
	rec      *store.Visitor // nil: no such session
	name     string
	chatID   string // the current or last chat
	creating bool   // a chat.start is being made durable
	// finding: the chats directory has not yet said which chat is open.
	// openElsewhere: chatID is open (the chats directory said so) and its
	// snapshot has not arrived yet.
	finding, openElsewhere bool
	// deferred holds requests for the visitor's state that came before the
	// open chat's snapshot; they are served when it arrives.
	deferred []deferredRequest
	waitOver *time.Timer
	view     *messages.Chat
	feed     *feed
	w        writes
	lastSeen time.Time
	timer    *time.Timer
	retiring retiring
	route    *visitorRoute // the route published for the visitor's messages, or nil
	stopped  bool
}

func newVisitorActor(h *Hub, id string) *visitorActor {
	return &visitorActor{h: h, id: id, w: writes{w: h.writer, t: h.opts.Tracing}, retiring: retiring{dir: h.visitors, spawn: true}}
}

// Receive implements actor.Actor.
func (a *visitorActor) Receive(ctx actor.Context) {
	a.receive(ctx)
	a.publishRoute()
}

func (a *visitorActor) receive(ctx actor.Context) {
	if a.retiring.reroute(ctx, a.id) {
		return
	}
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		a.feed = newFeed(a.h.opts.FeedSize, a.h.now())
		a.lastSeen = a.h.now()
		a.load(ctx)
		a.armIdle()
	case *actor.Restarting: // this incarnation's stream and route die with it
		a.stopped = true
		a.feed.end(ctx, errStreamRestarted)
	case *actor.Stopped:
		a.stopped = true
		if a.timer != nil {
			a.timer.Stop()
		}
		a.feed.close(ctx)
	case *persisted:
		a.w.done(msg.err)
	case *foundChat:
		a.found(ctx, msg.chatID)
	case *snapshotWaitOver:
		a.finding = false
		a.replayDeferred(ctx)
	case *visitorInit:
		if a.deferUntilSnapshot(ctx) {
			return
		}
		a.init(ctx, msg)
	case *messages.ChatEvent:
		a.apply(ctx, msg)
	case *pollExpired:
		a.feed.expire(ctx, msg.id)
	case *unsubscribe:
		delete(a.feed.sinks, msg.id)
	case *releasePolls:
		a.feed.release(ctx)
	case *idleCheck:
		a.checkIdle(ctx)
	default:
		a.authenticated(ctx, msg)
	}
}

// authenticated handles the messages that need the visitor's auth.
func (a *visitorActor) authenticated(ctx actor.Context, msg any) {
	var auth VisitorAuth
	switch m := msg.(type) {
	case *visitorCall:
		auth = m.req.Auth
	case *feedPoll:
		auth = m.auth
	case *feedSubscribe:
		auth = m.auth
	case *authCheck:
		auth = m.auth
	default:
		return
	}
	if !a.owns(auth) {
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EReinitRequired, "unknown page or token")})
		if a.rec == nil {
			a.retiring.retire(ctx, a.id)
		}
		return
	}
	a.lastSeen = a.h.now()
	switch m := msg.(type) {
	case *visitorCall:
		if a.finding { // which chat is open decides what a message does
			a.hold(ctx)
			return
		}
		a.call(ctx, m.req)
	case *feedPoll:
		if a.deferUntilSnapshot(ctx) {
			return
		}
		a.feed.serve(ctx, m.since, a.h.pollWait(m.wait), func() json.RawMessage { return a.full(auth.PageID) })
	case *feedSubscribe:
		if a.deferUntilSnapshot(ctx) {
			return
		}
		a.feed.attach(ctx, m.since, m.sink, func() json.RawMessage { return a.full(auth.PageID) })
	case *authCheck:
		ctx.Respond(replyOK)
	}
}

func (a *visitorActor) owns(auth VisitorAuth) bool {
	return a.rec != nil && strings.HasPrefix(auth.PageID, a.id+"-") &&
		subtle.ConstantTimeCompare([]byte(auth.AuthToken), []byte(a.rec.AuthToken)) == 1
}

// load restores the session from the store and asks for its open chat.
func (a *visitorActor) load(ctx actor.Context) {
	if a.h.store == nil {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), a.h.opts.RequestTimeout)
	defer cancel()
	rec, err := a.h.store.Visitor(c, a.id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			ctx.Logger().Error("visitor load failed", "visitor", a.id, "err", err)
		}
		return
	}
	a.rec = rec
	a.name = visitorName(rec.Fields)
	// Ask for the open chat; until the answer comes, requests that depend
	// on it wait (a message could otherwise start a second chat).
	a.finding = true
	ctx.Request(a.h.chats, &findVisitorChat{visitorID: a.id})
}

// found records the chats directory's answer about the open chat.
func (a *visitorActor) found(ctx actor.Context, chatID string) {
	a.finding = false
	if chatID != "" && (a.view == nil || a.view.Id != chatID) {
		a.chatID, a.openElsewhere = chatID, true
	}
	if !a.stateUnknown() && len(a.deferred) > 0 {
		a.replayDeferred(ctx)
	}
}

func (a *visitorActor) init(ctx actor.Context, msg *visitorInit) {
	now := a.h.now()
	if a.rec == nil {
		if !msg.create {
			ctx.Respond(&visitorInitDone{err: errUnknownSession})
			a.retiring.retire(ctx, a.id)
			return
		}
		a.rec = &store.Visitor{ID: a.id, AuthToken: randomToken(16), CreatedAt: now}
	}
	a.lastSeen = now
	rec := *a.rec
	rec.PageID = a.id + "-" + randomToken(6)
	rec.DeviceID, rec.SeenAt = msg.req.DeviceID, now
	if len(msg.req.Visitor) > 0 {
		rec.Fields = msg.req.Visitor
	}
	if rec.Fields == nil {
		rec.Fields = mustJSON(map[string]any{"id": a.id, "fields": map[string]string{"name": "Visitor"}})
	}
	sender := ctx.Sender()
	a.w.submit(ctx, []store.Change{{Visitor: &rec}}, func(err error) {
		if err != nil {
			answer(ctx, sender, &visitorInitDone{err: err})
			return
		}
		a.rec = &rec
		a.name = visitorName(rec.Fields)
		answer(ctx, sender, &visitorInitDone{update: &Update{Revision: a.feed.rev, Full: a.full(rec.PageID)}})
	})
}

var errUnknownSession = chatnode.Errorf(chatnode.EReinitRequired, "unknown visit session")

// visitorName reads fields.name from the visitor JSON.
func visitorName(fields []byte) string {
	var v struct {
		Fields struct {
			Name string `json:"name"`
		} `json:"fields"`
	}
	if json.Unmarshal(fields, &v) == nil && v.Fields.Name != "" {
		return v.Fields.Name
	}
	return "Visitor"
}

// chatOpen reports whether the visitor has a chat that takes messages.
func (a *visitorActor) chatOpen() bool {
	if a.creating || (a.openElsewhere && (a.view == nil || a.view.Id != a.chatID)) {
		return true
	}
	return a.view != nil && a.view.Id == a.chatID && chatnode.ChatOpen(a.view.State)
}

func (a *visitorActor) call(ctx actor.Context, req *VisitorRequest) {
	switch req.Action {
	case ActStart:
		if a.chatOpen() {
			ctx.Respond(replyOK)
			return
		}
		a.startChat(ctx, req, req.FirstQuestion, "")
	case ActMessage:
		if !a.chatOpen() {
			if err := a.h.checkText(req.Message); err != nil {
				ctx.Respond(&reply{err: err})
				return
			}
			a.startChat(ctx, req, req.Message, req.ClientSideID)
			return
		}
		a.forward(ctx, req)
	case ActVisitorTyping, ActReadByVisitor, ActClose, ActRate:
		if a.chatID == "" {
			ctx.Respond(&reply{err: chatnode.Errorf(chatnode.ENoChat, "the visitor has no chat")})
			return
		}
		a.forward(ctx, req)
	default:
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EUnknownAction, "%q", req.Action)})
	}
}

func (a *visitorActor) forward(ctx actor.Context, req *VisitorRequest) {
	a.h.tell(ctx, a.h.chats, &route{id: a.chatID, msg: &visitorChatCall{visitorID: a.id, chatID: a.chatID, req: req}}, ctx.Sender())
}

// startChat opens a new chat, with text as its first message when given.
func (a *visitorActor) startChat(ctx actor.Context, req *VisitorRequest, text, messageClientID string) {
	if req.DepartmentKey != "" && a.h.accounts.department(req.DepartmentKey) == nil {
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EUnknownDepartment, "no department %q", req.DepartmentKey)})
		return
	}
	if text != "" {
		if err := a.h.checkText(text); err != nil {
			ctx.Respond(&reply{err: err})
			return
		}
	}
	now := a.h.now().UnixMicro()
	id := a.h.newChatID()
	chat := &messages.Chat{
		Id: id, VisitorId: a.id, DepartmentKey: req.DepartmentKey, State: chatnode.ChatQueue,
		CreatedMicros: now, ModifiedMicros: now, QueuedMicros: now, VisitorName: a.name,
	}
	if req.Action == ActStart {
		chat.ClientSideId = req.ClientSideID
	}
	create := &chatCreate{chat: chat}
	if text != "" {
		create.first = &messages.Message{Id: id + "-1", ChatId: id, Kind: chatnode.KindVisitor, AuthorId: a.id,
			AuthorName: a.name, Text: text, ClientSideId: messageClientID, TsMicros: now}
	}
	previous := a.chatID
	a.chatID, a.creating = id, true
	sender := ctx.Sender()
	f := a.h.tellFuture(ctx, a.h.chats, &route{id: id, msg: create, spawn: true}, a.h.opts.RequestTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		if a.chatID == id {
			a.creating = false
		}
		if err == nil {
			if r, ok := res.(*reply); ok {
				err = r.err
			}
		}
		if err != nil && a.chatID == id {
			a.chatID = previous
		}
		answer(ctx, sender, &reply{err: err})
	})
}

func (a *visitorActor) armIdle() {
	d := a.h.opts.VisitorIdleTimeout
	if d <= 0 {
		return
	}
	self, root := a.self, a.h.system.Root
	a.timer = time.AfterFunc(d, func() { root.Send(self, &idleCheck{}) })
}

// checkIdle stops the actor when nobody has used it for the idle timeout
// and nothing waits on it (a poll, a write, a chat being created, or a
// request held until the chat's state is known); a session that does not
// exist stops at once.
func (a *visitorActor) checkIdle(ctx actor.Context) {
	idle := time.Duration(a.h.now().UnixNano() - a.lastActive())
	busy := !a.feed.idle() || len(a.w.pending) > 0 || a.creating || a.finding || len(a.deferred) > 0
	if a.rec == nil || (idle >= a.h.opts.VisitorIdleTimeout && !busy) {
		a.retiring.retire(ctx, a.id)
		return
	}
	a.armIdle()
}

// deferredRequest is a request held until the chat's snapshot arrives.
type deferredRequest struct {
	msg    any
	sender *actor.PID
}

// snapshotWaitOver ends the wait for a snapshot that did not come.
type snapshotWaitOver struct{}

// snapshotWait bounds how long state requests wait for the open chat's
// snapshot (it comes from another node in a cluster).
const snapshotWait = 2 * time.Second

// stateUnknown reports whether the visitor's chat is not known yet: the
// chats directory has not answered, or the open chat's snapshot has not
// arrived.
func (a *visitorActor) stateUnknown() bool {
	return a.finding || (a.openElsewhere && (a.view == nil || a.view.Id != a.chatID))
}

// deferUntilSnapshot holds the current message while the visitor's chat is
// not known, so that a full update never leaves the chat out. It reports
// whether it held the message.
func (a *visitorActor) deferUntilSnapshot(ctx actor.Context) bool {
	if !a.stateUnknown() {
		return false
	}
	a.hold(ctx)
	return true
}

// hold keeps the current message to be served again when the visitor's
// chat is known, or at the latest after snapshotWait.
func (a *visitorActor) hold(ctx actor.Context) {
	a.deferred = append(a.deferred, deferredRequest{msg: ctx.Message(), sender: ctx.Sender()})
	if a.waitOver == nil {
		self, root := a.self, a.h.system.Root
		a.waitOver = time.AfterFunc(snapshotWait, func() { root.Send(self, &snapshotWaitOver{}) })
	}
}

// replayDeferred serves the held requests again, with their senders.
func (a *visitorActor) replayDeferred(ctx actor.Context) {
	if a.waitOver != nil {
		a.waitOver.Stop()
		a.waitOver = nil
	}
	a.openElsewhere = false
	held := a.deferred
	a.deferred = nil
	for _, d := range held {
		ctx.RequestWithCustomSender(a.self, d.msg, d.sender)
	}
}
