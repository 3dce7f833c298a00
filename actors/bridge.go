package actors

import (
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
)

// bridgeActor joins a node's actors to the cluster. Outbound, it turns
// messages for entities owned elsewhere, and events every node must see,
// into Envelopes for the transport; it remembers who waits for an answer.
// Inbound, it turns deliveries into messages to the local directories and
// the assigner, and answers back to the node that asked. It also sends a
// heartbeat every second and records which peers are alive.
type bridgeActor struct {
	h         *Hub
	calls     map[string]*call
	nextID    uint64
	stopTicks func()
}

// call is a request sent to another node, waiting for its Answer.
type call struct {
	to         *actor.PID
	wantResult bool // the requester expects *messages.Result, not *reply
	deadline   time.Time
}

// remote sends msg to target on node (a directory child when id is set).
// The sender, if any, gets the answer.
type remote struct {
	node, target, id string
	msg              any
}

// broadcast sends an encoded Envelope to every other node.
type broadcast struct{ body []byte }

// Inbound is a delivery from another node, decoded.
type inbound struct{ env *messages.Envelope }

// Targets on the receiving node.
const (
	targetVisitors  = "visitors"
	targetChats     = "chats"
	targetOperators = "operators"
	targetAssigner  = "assigner"
	targetNode      = "node"
)

// Receive implements actor.Actor.
func (b *bridgeActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		b.calls = make(map[string]*call)
		b.stopTicks = tickEvery(ctx, time.Second)
		b.heartbeat(ctx)
	case *actor.Stopping:
		b.stopTicks()
	case *tick:
		b.heartbeat(ctx)
		b.expireCalls(ctx)
	case *remote:
		b.send(ctx, msg)
	case *broadcast:
		b.publishBytes(ctx, RoutePeers(b.h.opts.Cluster.Self), msg.body)
	case *inbound:
		b.receive(ctx, msg.env)
	}
}

func (b *bridgeActor) heartbeat(ctx actor.Context) {
	role := "slave"
	if b.h.isMaster() {
		role = "master"
	}
	peers := RoutePeers(b.h.opts.Cluster.Self)
	b.publish(ctx, peers, &messages.Envelope{Target: targetNode, Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{Role: role, SentMicros: b.h.now().UnixMicro()}}})
	if b.h.isMaster() {
		if m := b.h.presence.v.Load(); m != nil {
			b.publish(ctx, peers, &messages.Envelope{Target: targetNode, Body: &messages.Envelope_Presence{Presence: &messages.Presence{Status: *m}}})
		}
	}
}

func (b *bridgeActor) publish(ctx actor.Context, routingKey string, env *messages.Envelope) {
	c := b.h.opts.Cluster
	env.Origin = c.Self
	body, err := proto.Marshal(env)
	if err != nil {
		panic(err) // our own messages always encode
	}
	b.publishBytes(ctx, routingKey, body)
}

// publishBytes publishes an encoded Envelope under a new event id, with
// the trace context of the message being handled.
func (b *bridgeActor) publishBytes(ctx actor.Context, routingKey string, body []byte) {
	c := b.h.opts.Cluster
	b.nextID++
	var headers map[string]string
	if t := b.h.opts.Tracing; t != nil && t.Enabled() {
		headers = t.Inject(t.ContextOf(ctx))
	}
	c.Publish(routingKey, c.Self+"-"+b.h.runID+"-"+strconv.FormatUint(b.nextID, 36), headers, body)
}

// send forwards a message to its owner on another node.
func (b *bridgeActor) send(ctx actor.Context, r *remote) {
	env := &messages.Envelope{Target: r.target, EntityId: r.id}
	if !setBody(env, r.msg) {
		ctx.Logger().Error("cannot forward message to another node", "type", typeName(r.msg))
		return
	}
	sender := ctx.Sender()
	if sender != nil {
		if !b.h.up(r.node) {
			err := chatnode.Errorf(chatnode.EUnavailable, "node %s is unreachable", r.node)
			if r.node == b.h.opts.Cluster.Master {
				err = errNoMaster
			}
			b.answerLocal(ctx, sender, wantsResult(r.msg), r.msg, errResult(err), nil)
			return
		}
		b.nextID++
		env.CallId = strconv.FormatUint(b.nextID, 36)
		b.calls[env.CallId] = &call{to: sender, wantResult: wantsResult(r.msg), deadline: b.h.now().Add(b.h.opts.RequestTimeout)}
	}
	b.publish(ctx, RouteNode(r.node), env)
}

// wantsResult reports whether the requester of msg waits for a
// *messages.Result rather than a *reply.
func wantsResult(msg any) bool {
	_, ok := msg.(*messages.TransferChat)
	return ok
}

// answerLocal gives a local requester the answer to its remote call.
func (b *bridgeActor) answerLocal(ctx actor.Context, to *actor.PID, wantResult bool, req any, res *messages.Result, ar *messages.AssignResult) {
	switch {
	case ar != nil:
		ctx.Send(to, ar)
	case isAssign(req):
		a := req.(*messages.AssignChat)
		ctx.Send(to, &messages.AssignResult{ChatId: a.ChatId, OperatorId: a.OperatorId, Error: res.GetError()})
	case wantResult:
		ctx.Send(to, res)
	default:
		ctx.Send(to, &reply{err: resultErr(res)})
	}
}

func isAssign(msg any) bool { _, ok := msg.(*messages.AssignChat); return ok }

// expireCalls forgets calls whose requesters have given up.
func (b *bridgeActor) expireCalls(ctx actor.Context) {
	now := b.h.now()
	for id, c := range b.calls {
		if now.After(c.deadline) {
			delete(b.calls, id)
		}
	}
}

// receive handles an envelope from another node.
func (b *bridgeActor) receive(ctx actor.Context, env *messages.Envelope) {
	h := b.h
	if env.Origin == h.opts.Cluster.Self {
		return
	}
	h.peers.saw(env.Origin, h.now())
	if a, ok := env.Body.(*messages.Envelope_Answer); ok {
		c, ok := b.calls[env.CallId]
		if !ok {
			return
		}
		delete(b.calls, env.CallId)
		b.answerLocal(ctx, c.to, c.wantResult, nil, a.Answer.GetResult(), a.Answer.GetAssignResult())
		return
	}
	msg := getBody(env)
	switch m := msg.(type) {
	case nil:
		return
	case *messages.Heartbeat:
		return
	case *messages.Presence:
		st := m.Status
		h.presence.v.Store(&st)
		return
	case *messages.ChatEvent:
		b.deliverEvent(ctx, m)
		return
	}
	var dir *actor.PID
	switch env.Target {
	case targetChats:
		dir = h.chats
	case targetOperators:
		dir = h.operators
	case targetAssigner:
		if !h.isMaster() {
			return
		}
	default:
		return
	}
	// send hands msg to its actor; sender gets the answer (nil: none).
	send := func(sender *actor.PID) {
		if dir != nil {
			h.tell(ctx, dir, &route{id: env.EntityId, msg: msg}, sender)
		} else {
			ctx.RequestWithCustomSender(h.assigner, msg, sender)
		}
	}
	if env.CallId == "" {
		send(nil)
		return
	}
	f := actor.NewFuture(ctx.ActorSystem(), h.opts.RequestTimeout)
	send(f.PID())
	origin, callID := env.Origin, env.CallId
	ctx.ReenterAfter(f, func(res any, err error) {
		ans := &messages.Answer{}
		switch r := res.(type) {
		case *messages.AssignResult:
			ans.Body = &messages.Answer_AssignResult{AssignResult: r}
		case *messages.Result:
			ans.Body = &messages.Answer_Result{Result: r}
		case *reply:
			ans.Body = &messages.Answer_Result{Result: errResult(r.err)}
		default:
			if err == nil {
				err = chatnode.Errorf(chatnode.EInternal, "unexpected answer %T", res)
			}
			ans.Body = &messages.Answer_Result{Result: errResult(err)}
		}
		b.publish(ctx, RouteNode(origin), &messages.Envelope{CallId: callID, Body: &messages.Envelope_Answer{Answer: ans}})
	})
}

// deliverEvent hands an owner's chat event to this node's replicas.
func (b *bridgeActor) deliverEvent(ctx actor.Context, ev *messages.ChatEvent) {
	h := b.h
	// A replica takes ownership of a snapshot: each gets its own copy.
	own := func() *messages.ChatEvent {
		if _, ok := ev.Change.(*messages.ChatEvent_Snapshot); ok {
			return proto.Clone(ev).(*messages.ChatEvent)
		}
		return ev
	}
	h.tell(ctx, h.visitors, &route{id: ev.VisitorId, msg: own()}, nil)
	if ev.OperatorId != "" {
		h.tell(ctx, h.operators, &route{id: ev.OperatorId, msg: own()}, nil)
	}
	if r, ok := ev.Change.(*messages.ChatEvent_Released); ok {
		h.tell(ctx, h.operators, &route{id: r.Released.OperatorId, msg: ev}, nil)
	}
	switch c := ev.Change.(type) {
	case *messages.ChatEvent_Snapshot:
		ctx.Send(h.chats, &chatIndexNote{chatID: ev.ChatId, visitorID: ev.VisitorId, open: chatnode.ChatOpen(c.Snapshot.State)})
	case *messages.ChatEvent_State:
		ctx.Send(h.chats, &chatIndexNote{chatID: ev.ChatId, visitorID: ev.VisitorId, open: chatnode.ChatOpen(c.State.State)})
	}
}

// chatIndexNote tells the chats directory that a chat owned elsewhere is
// open or closed, for finding a visitor's open chat.
type chatIndexNote struct {
	chatID, visitorID string
	open              bool
}

// assignerProxy stands for the assigner on a node that is not the master:
// it forwards everything to the master's assigner.
type assignerProxy struct{ h *Hub }

// Receive implements actor.Actor.
func (p *assignerProxy) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case actor.SystemMessage, actor.AutoReceiveMessage, *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
		return
	}
	ctx.RequestWithCustomSender(p.h.bridge, &remote{node: p.h.opts.Cluster.Master, target: targetAssigner, msg: ctx.Message()}, ctx.Sender())
}
