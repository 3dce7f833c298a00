package actors

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync/atomic"

	"github.com/chatnode/chatnode"
)

// A visitor's message normally takes two actor hops: the visitor actor
// checks the session and which chat is open, then forwards it to the chat.
// While the visitor's chat is open and nothing about it is in doubt, the
// visitor actor publishes a visitorRoute, and the Hub sends the visitor's
// messages along it to the chat, past the visitor actor. The chat takes
// such a message only while it is open and the visitor's; anything else it
// refuses, and the message then goes through the visitor actor after all,
// which decides what it means (a message to a closed chat starts a new
// one). Order is kept for a client that waits for each answer: a message is
// answered only once the chat holds it, so the next one, on whichever path,
// comes after it.

// visitorRoute is what a visitor actor publishes for its messages.
type visitorRoute struct {
	token  string       // the session's auth token
	chatID string       // the open chat
	seen   atomic.Int64 // Unix nanoseconds of the last message sent along the route
}

// publishRoute brings the visitor's published route up to date. It runs
// after every message the actor handles.
func (a *visitorActor) publishRoute() {
	chatID := ""
	if a.rec != nil && !a.stopped && !a.retiring.on && !a.creating && !a.stateUnknown() && len(a.deferred) == 0 &&
		a.view != nil && a.view.Id == a.chatID && chatnode.ChatOpen(a.view.State) {
		chatID = a.chatID
	}
	old := a.route
	if old != nil && old.chatID == chatID && old.token == a.rec.AuthToken { // a route names a chat: a.rec is set
		return
	}
	if chatID == "" {
		if old != nil {
			a.h.visitorRoutes.CompareAndDelete(a.id, old)
			a.route = nil
		}
		return
	}
	r := &visitorRoute{token: a.rec.AuthToken, chatID: chatID}
	if old != nil {
		r.seen.Store(old.seen.Load())
	}
	a.h.visitorRoutes.Store(a.id, r)
	a.route = r
}

// lastActive is when the visitor was last seen: by the actor or along its
// route.
func (a *visitorActor) lastActive() int64 {
	t := a.lastSeen.UnixNano()
	if a.route != nil {
		t = max(t, a.route.seen.Load())
	}
	return t
}

// messageViaRoute sends a visitor's message to its open chat when
// the visitor's actor has published a route, the token matches it and the
// chat runs on this node. It reports false when the message must go through
// the visitor actor instead; then nothing was done.
func (h *Hub) messageViaRoute(ctx context.Context, visitorID string, req *VisitorRequest) (bool, error) {
	v, ok := h.visitorRoutes.Load(visitorID)
	if !ok {
		return false, nil
	}
	r := v.(*visitorRoute)
	if subtle.ConstantTimeCompare([]byte(req.Auth.AuthToken), []byte(r.token)) != 1 {
		return false, nil // the visitor actor answers with the right error
	}
	q := h.replies.start(h.opts.RequestTimeout)
	msg, sender := h.addressed(ctx, &visitorChatCall{visitorID: visitorID, chatID: r.chatID, req: req, viaRoute: true}, q)
	if !h.liveChats.send(h.system.Root, r.chatID, msg, sender) {
		h.replies.cancel(q)
		return false, nil
	}
	r.seen.Store(h.now().UnixNano())
	_, err := answerOf(q.wait())
	if errors.Is(err, errRouteRefused) {
		return false, nil
	}
	return true, err
}
