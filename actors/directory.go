package actors

import (
	"strconv"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
)

// directory is the parent of one kind of actor (visitors, chats or
// operators). It finds a child by id, creates it when allowed, forwards
// messages to it with the original sender, and supervises it: a child that
// panics is restarted alone (one-for-one) and its siblings go on.
//
// Every message to a child passes through its directory, so messages from
// one sender reach the child in the order sent.
type directory struct {
	kind     string
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

func newDirectory(kind string, props func(id string) *actor.Props) *directory {
	return &directory{kind: kind, children: make(map[string]*actor.PID), names: make(map[string]string), props: props}
}

// Receive implements actor.Actor.
func (d *directory) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *route:
		if d.owner != nil {
			if node := d.owner(msg.id); node != "" {
				ctx.RequestWithCustomSender(d.bridge(), &remote{node: node, target: d.kind + "s", id: msg.id, msg: msg.msg}, ctx.Sender())
				return
			}
		}
		pid, ok := d.children[msg.id]
		if !ok {
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
	case *toAll:
		for _, pid := range d.children {
			ctx.Send(pid, msg.msg)
		}
	case *passivate:
		if pid, ok := d.children[msg.id]; ok {
			delete(d.children, msg.id)
			ctx.Poison(pid)
		}
	case *actor.Terminated:
		id, ok := d.names[msg.Who.Id]
		if !ok {
			return
		}
		delete(d.names, msg.Who.Id)
		if pid, ok := d.children[id]; ok && pid.Equal(msg.Who) {
			delete(d.children, id)
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
