package actors

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode/messages"
)

// Messages that stay inside one node: they carry Go values (sinks, requests
// with pointers) and never cross the wire. Cluster-wide messages are the
// protobuf ones in package messages.

// route sends msg to the child of a directory named id. spawn says the
// child may be created for it; otherwise a missing child answers
// notFound (to a request) or drops the message (to a send).
type route struct {
	id    string
	msg   any
	spawn bool
}

// reply answers an action: nil err means done. Replies are never changed
// once sent, so every success shares replyOK.
type reply struct{ err error }

var replyOK = &reply{}

// visitorInit is a visitor's init.
type visitorInit struct {
	req    *InitRequest
	create bool // make a new session; else the session must exist
}

// visitorInitDone answers visitorInit.
type visitorInitDone struct {
	update *Update
	err    error
}

// visitorCall is a visitor action, authenticated by the visitor actor.
type visitorCall struct{ req *VisitorRequest }

// feedPoll is a long poll or a one-shot read of a stream.
type feedPoll struct {
	auth  VisitorAuth // visitors only
	since int64
	wait  time.Duration
}

// feedSubscribe attaches a WebSocket sink to a stream.
type feedSubscribe struct {
	auth  VisitorAuth // visitors only
	since int64
	sink  Sink
}

// authCheck asks a visitor actor whether auth is its own.
type authCheck struct{ auth VisitorAuth }

// chatCreate creates a chat for a visitor; it is the first message a new
// ChatActor gets.
type chatCreate struct {
	chat  *messages.Chat
	first *messages.Message // the first question, or nil
}

// visitorChatCall is a visitor action forwarded to the chat by the visitor
// actor, which has checked the visitor's auth, or a message sent to the
// chat along the visitor's published route (see visitorRoute).
type visitorChatCall struct {
	visitorID string
	chatID    string // for telemetry; the route names the chat
	req       *VisitorRequest
	viaRoute  bool // sent along a visitorRoute: the chat refuses what it would not take now
}

// errRouteRefused is a chat's answer to a message sent along a visitor's
// route that it does not take as it is (the chat is closed, or not the visitor's): the message
// goes through the visitor actor instead, which decides what it means.
var errRouteRefused = errors.New("actors: the chat refuses a message sent along the visitor's route")

// operatorChatCall is an operator action forwarded to the chat.
type operatorChatCall struct {
	operatorID string
	req        *OperatorRequest
}

// attachReplica asks a chat to send its snapshot to the visitor or the
// operator (a replica that lost or never had it).
type attachReplica struct {
	side string // chatnode.SideVisitor or chatnode.SideOperator
	id   string
}

// findVisitorChat asks the chats directory for the open chat of a visitor:
// it answers with foundChat and makes that chat send the visitor its
// snapshot. The visitor actor asks with Request and goes on.
type findVisitorChat struct{ visitorID string }

// foundChat answers findVisitorChat ("" when the visitor has no open chat).
type foundChat struct{ chatID string }

// persisted tells an actor that its oldest pending write finished.
type persisted struct{ err error }

// idleCheck makes a visitor actor consider passivation.
type idleCheck struct{}

// inactivityCheck makes a chat consider closing for inactivity.
type inactivityCheck struct{}

// passivate asks a directory to stop an idle child after its queued
// messages. pid is the incarnation asking: a passivate that comes after the
// directory has already replaced it stops nothing.
type passivate struct {
	id  string
	pid *actor.PID
}

// setStatus changes an operator's status.
type setStatus struct{ status string }

// operatorCall is an authenticated operator action.
type operatorCall struct{ req *OperatorRequest }

// issueSession asks an operator actor for its account JSON on login.
type issueSession struct{}

// tick makes the assigner settle the queue.
type tick struct{}

// queueSnapshot gives an operator the whole queue they see.
type queueSnapshot struct{ entries []*queueEntry }

// chatClosedNote tells the chats directory that a chat closed, so it drops
// the visitor index entry.
type chatClosedNote struct{ chatID, visitorID string }

// wake creates an actor through its directory and does nothing else.
type wake struct{}

// queueLen asks the assigner how many chats wait (answered with an int).
type queueLen struct{}

// WrappedMessage lets telemetry name a routed message by what it carries.
func (r *route) WrappedMessage() any { return r.msg }

// EntityIDs lets telemetry label spans of visitor actions.
func (c *visitorChatCall) EntityIDs() (chatID, operatorID, visitorID string) {
	return c.chatID, "", c.visitorID
}

// EntityIDs lets telemetry label spans of visitor requests.
func (c *visitorCall) EntityIDs() (chat, operator, visitor string) {
	id, _ := visitorID(c.req.Auth.PageID)
	return "", "", id
}

// EntityIDs lets telemetry label spans of operator actions.
func (c *operatorChatCall) EntityIDs() (chatID, operatorID, visitorID string) {
	return c.req.ChatID, c.operatorID, ""
}

// EntityIDs lets telemetry label spans of chat creation.
func (c *chatCreate) EntityIDs() (chatID, operatorID, visitorID string) {
	return c.chat.Id, "", c.chat.VisitorId
}

// EntityIDs lets telemetry label spans of operator actions.
func (c *operatorCall) EntityIDs() (chatID, operatorID, visitorID string) {
	return c.req.ChatID, "", ""
}

// toAll asks a directory to send msg to every child it has.
type toAll struct{ msg any }

// releasePolls makes a stream answer its held long polls now (the node is
// stopping).
type releasePolls struct{}

// operatorRecall asks the assigner what it knows of an operator whose actor
// restarted: answered with operatorRecalled.
type operatorRecall struct{ id string }

// operatorRecalled is the operator's status and held chats as the
// assigner has them.
type operatorRecalled struct {
	status       string
	lastAssigned int64
	chats        []string
}

// tickEvery sends a *tick to the actor of ctx every d from a goroutine of
// its own, until the returned stop is called (from the actor's Stopping).
// Timers never touch actor state: they only send messages.
func tickEvery(ctx actor.Context, d time.Duration) (stop func()) {
	t, done := time.NewTicker(d), make(chan struct{})
	root, self := ctx.ActorSystem().Root, ctx.Self()
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
	return func() { t.Stop(); close(done) }
}
