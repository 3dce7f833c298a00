package actors

import (
	"strconv"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
)

// directory is the parent of one kind of actor (visitors, chats or
// operators). It finds a child by id, creates it when allowed, forwards
// messages to it with the original sender, and supervises it: a child that
// panics is restarted alone (one-for-one) and its siblings go on.
//
// A message for a child that runs goes to it straight from the sender
// (Hub.tell, through the directory's liveChildren); any other passes
// through the directory. Either way messages from one sender reach the
// child in the order sent (see liveChildren).
type directory struct {
	kind     string
	live     *liveChildren
	children map[string]*actor.PID
	names    map[string]string // child process id → entity id
	spawned  uint64
	props    func(id string) *actor.Props
	// owner, when set, names the node that owns an id ("" for this node);
	// messages for ids owned elsewhere go to the bridge.
	owner  func(id string) string
	bridge func() *actor.PID
	// hook handles directory-level messages of a kind (the chats directory's
	// visitor index); it reports whether it took the message.
	hook func(ctx actor.Context, msg any) bool
}

func newDirectory(kind string, live *liveChildren, props func(id string) *actor.Props) *directory {
	return &directory{kind: kind, live: live, children: make(map[string]*actor.PID), names: make(map[string]string), props: props}
}

// Receive implements actor.Actor.
func (d *directory) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		// A restarted directory has lost its children; none may be
		// reached through the table either.
		d.live.clear()
	case *route:
		if d.owner != nil {
			if node := d.owner(msg.id); node != "" {
				ctx.RequestWithCustomSender(d.bridge(), &remote{node: node, target: d.kind + "s", id: msg.id, msg: msg.msg}, ctx.Sender())
				return
			}
		}
		pid, running := d.children[msg.id]
		if !running {
			if !msg.spawn {
				if ctx.Sender() != nil {
					ctx.Respond(&reply{err: notFound(d.kind, msg.id)})
				}
				return
			}
			// Each incarnation gets its own name: a passivated child may still
			// be stopping when the entity is needed again.
			d.spawned++
			var err error
			pid, err = ctx.SpawnNamed(d.props(msg.id), msg.id+"#"+strconv.FormatUint(d.spawned, 36))
			if err != nil {
				ctx.Logger().Error("spawn failed", "kind", d.kind, "id", msg.id, "err", err)
				if ctx.Sender() != nil {
					ctx.Respond(&reply{err: err})
				}
				return
			}
			d.children[msg.id] = pid
			d.names[pid.Id] = msg.id
		}
		if d.hook != nil {
			d.hook(ctx, msg.msg)
		}
		ctx.RequestWithCustomSender(pid, msg.msg, ctx.Sender())
		if !running {
			// Only now may senders reach the child straight: what they
			// send next queues behind the message just forwarded.
			d.live.put(msg.id, pid)
		}
	case *toAll:
		for _, pid := range d.children {
			ctx.Send(pid, msg.msg)
		}
	case *passivate:
		if pid, ok := d.children[msg.id]; ok && pid.Equal(msg.pid) {
			delete(d.children, msg.id)
			d.live.remove(msg.id, pid, func() { ctx.Poison(pid) })
		}
	case *actor.Terminated:
		id, ok := d.names[msg.Who.Id]
		if !ok {
			return
		}
		delete(d.names, msg.Who.Id)
		if pid, ok := d.children[id]; ok && pid.Equal(msg.Who) {
			delete(d.children, id)
			d.live.remove(id, pid, nil)
		}
	default:
		if d.hook == nil || !d.hook(ctx, msg) {
			if _, system := msg.(actor.SystemMessage); !system {
				if _, auto := msg.(actor.AutoReceiveMessage); !auto {
					ctx.Logger().Warn("directory got an unknown message", "kind", d.kind, "type", typeName(msg))
				}
			}
		}
	}
}

// liveChildren is a directory's table of the children that run, shared
// with every sender so that a message for a running child skips the hop
// through the directory. Only the directory changes it.
//
// Order is kept because a sender finds a child in the table only after the
// directory has forwarded to it every message that created it or waited
// for it (put comes after the forward), and a child leaves the table in the
// same critical section that queues its poison pill (remove): a message
// sent straight is either queued before the pill, and handled, or finds no
// child and goes through the directory, which starts a new incarnation.
type liveChildren struct {
	mu sync.RWMutex
	m  map[string]*actor.PID
}

func newLiveChildren() *liveChildren { return &liveChildren{m: make(map[string]*actor.PID)} }

// send delivers msg from ctx to the running child id, with sender as the
// sender (nil: none), and reports whether there was one.
func (l *liveChildren) send(ctx actor.SenderContext, id string, msg any, sender *actor.PID) bool {
	l.mu.RLock()
	pid := l.m[id]
	if pid != nil {
		if sender == nil {
			ctx.Send(pid, msg)
		} else {
			ctx.RequestWithCustomSender(pid, msg, sender)
		}
	}
	l.mu.RUnlock()
	return pid != nil
}

func (l *liveChildren) put(id string, pid *actor.PID) {
	l.mu.Lock()
	l.m[id] = pid
	l.mu.Unlock()
}

// remove takes pid out of the table if it is there under id, then runs
// then (if not nil) before any sender can look again.
func (l *liveChildren) remove(id string, pid *actor.PID, then func()) {
	l.mu.Lock()
	if cur, ok := l.m[id]; ok && cur.Equal(pid) {
		delete(l.m, id)
	}
	if then != nil {
		then()
	}
	l.mu.Unlock()
}

func (l *liveChildren) clear() {
	l.mu.Lock()
	clear(l.m)
	l.mu.Unlock()
}

// retiring is what an actor that asked its directory to passivate it does
// with the messages that still reach it before its poison pill: a request
// (a message with a sender) goes back to the directory, which has removed
// the actor by the time it handles it and gives it to a new incarnation or
// answers that the entity is unknown; anything else is handled as usual.
// Without this, a request that reached the actor after it asked to stop
// could start work, a store write or a chat lookup, that the poison pill
// cut short, and the request was never answered.
type retiring struct {
	dir   *actor.PID
	on    bool
	spawn bool // the requests may create the entity again
}

// retire asks the directory to stop the actor ctx runs, identified by id.
func (r *retiring) retire(ctx actor.Context, id string) {
	if r.on {
		return
	}
	r.on = true
	ctx.Send(r.dir, &passivate{id: id, pid: ctx.Self()})
}

// reroute sends the current message back to the directory if the actor is
// retiring and the message is a request, and reports whether it did.
func (r *retiring) reroute(ctx actor.Context, id string) bool {
	if !r.on || ctx.Sender() == nil {
		return false
	}
	switch ctx.Message().(type) {
	case actor.SystemMessage, actor.AutoReceiveMessage:
		return false
	}
	// Straight to the directory, not through its table: the table may still
	// name this actor.
	ctx.RequestWithCustomSender(r.dir, &route{id: id, msg: ctx.Message(), spawn: r.spawn}, ctx.Sender())
	return true
}

func notFound(kind, id string) error {
	switch kind {
	case kindVisitor:
		return chatnode.Errorf(chatnode.EReinitRequired, "unknown visit session")
	case kindChat:
		return chatnode.Errorf(chatnode.EUnknownChat, "no chat %s", id)
	default:
		return chatnode.Errorf(chatnode.EUnknownOperator, "no operator %s", id)
	}
}

// Actor kinds, used in names, logs and metrics.
const (
	kindVisitor  = "visitor"
	kindChat     = "chat"
	kindOperator = "operator"
	kindAssigner = "assigner"
)
