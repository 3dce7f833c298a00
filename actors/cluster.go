package actors

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/messages"
)

// ClusterOptions connect a Hub to the other nodes of its cluster.
//
// Ownership (one writer per entity): a chat is owned by the node that
// created it, whose index in Nodes is encoded in the chat id; operators'
// statuses and the assigner are owned by the master. Visit sessions are
// served by whichever node a request reaches, from the shared store. Every
// node keeps replicas (visitor and operator views and feeds) fed by the
// owners' events, so any endpoint works on any node.
type ClusterOptions struct {
	Self   string   // this node's name
	Master string   // the master's name
	Nodes  []string // every node's name, in configuration order (at most 16)
	// Publish hands one encoded Envelope to the transport for routingKey
	// ("node.<name>" or "peers.<name>"). It must not block for long and must keep
	// the order of calls.
	Publish func(routingKey, eventID string, headers map[string]string, body []byte)
}

// RouteNode and RoutePeers name the transport's routing keys. RouteNode is
// the routing key of one node.
func RouteNode(name string) string { return "node." + name }

// RoutePeers is the routing key of every node but the named one: what a
// node broadcasts, so that it does not receive its own broadcasts back.
func RoutePeers(name string) string { return "peers." + name }

// peerTimeout is how long a node may stay silent before it counts as lost.
const peerTimeout = 3 * time.Second

// peers records when each node was last heard from. The bridge writes it;
// health checks read it.
type peers struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (p *peers) saw(node string, t time.Time) {
	p.mu.Lock()
	if p.seen == nil {
		p.seen = make(map[string]time.Time)
	}
	p.seen[node] = t
	p.mu.Unlock()
}

func (p *peers) lastSeen(node string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[node]
}

// clustered reports whether the hub runs in a cluster.
func (h *Hub) clustered() bool { return h.opts.Cluster != nil }

// isMaster reports whether this node decides assignments and owns
// operators: the master, or a standalone node.
func (h *Hub) isMaster() bool {
	return h.opts.Cluster == nil || h.opts.Cluster.Self == h.opts.Cluster.Master
}

// chatOwner returns the node that owns chatID, or "" when it is this node.
func (h *Hub) chatOwner(chatID string) string {
	c := h.opts.Cluster
	if c == nil {
		return ""
	}
	n, err := strconv.ParseInt(chatID, 10, 64)
	if err != nil {
		return ""
	}
	idx := int(n>>8) & 15
	if idx >= len(c.Nodes) || c.Nodes[idx] == c.Self {
		return ""
	}
	return c.Nodes[idx]
}

// up reports whether node has been heard from recently (always true for
// this node).
func (h *Hub) up(node string) bool {
	if c := h.opts.Cluster; c == nil || node == c.Self {
		return true
	}
	return h.now().Sub(h.peers.lastSeen(node)) < peerTimeout
}

// ClusterHealth describes this node's view of its cluster.
type ClusterHealth struct {
	Peers    map[string]bool // node name → heard from recently
	MasterUp bool
}

// ClusterHealth returns which peers are up; nil in standalone.
func (h *Hub) ClusterHealth() *ClusterHealth {
	c := h.opts.Cluster
	if c == nil {
		return nil
	}
	ch := &ClusterHealth{Peers: map[string]bool{}, MasterUp: h.up(c.Master)}
	for _, n := range c.Nodes {
		if n != c.Self {
			ch.Peers[n] = h.up(n)
		}
	}
	return ch
}

// errNoMaster answers requests that need the master while it is lost.
var errNoMaster = chatnode.Errorf(chatnode.ENotMaster, "the master node is unreachable: no new assignments")

// resultErr turns a Result into an error (nil when it has none).
func resultErr(r *messages.Result) error {
	if r == nil || r.Error == "" {
		return nil
	}
	return &chatnode.Error{Code: r.Error, Message: r.Message}
}

// errResult turns an error into a Result.
func errResult(err error) *messages.Result {
	if err == nil {
		return &messages.Result{}
	}
	return &messages.Result{Error: chatnode.ErrorCode(err), Message: chatnode.ErrorMessage(err)}
}

// share sends msg to target (id) on every other node of the cluster; in
// standalone it does nothing. Owners share their events this way so that
// replicas everywhere follow them.
func (h *Hub) share(ctx actor.Context, msg any) { h.shareTo(ctx, "", "", msg) }

// shareTo is share with a target and entity id. The message is encoded at
// once, in the caller, so that the caller (or a local replica) may go on
// changing it.
func (h *Hub) shareTo(ctx actor.Context, target, id string, msg any) {
	if h.bridge == nil {
		return
	}
	env := &messages.Envelope{Origin: h.opts.Cluster.Self, Target: target, EntityId: id}
	if !setBody(env, msg) {
		return
	}
	body, err := proto.Marshal(env)
	if err != nil {
		panic(err) // our own messages always encode
	}
	ctx.Send(h.bridge, &broadcast{body: body})
}

// Deliver hands a message from another node to this node's bridge. The
// transport calls it for each delivery, in order, once Start has returned;
// body is an encoded Envelope. A body that does not decode is reported and
// dropped.
// headers carry the sender's trace context.
func (h *Hub) Deliver(body []byte, headers map[string]string) error {
	if h.bridge == nil {
		return nil
	}
	env := &messages.Envelope{}
	if err := proto.Unmarshal(body, env); err != nil {
		return fmt.Errorf("decode cluster envelope: %w", err)
	}
	var msg any = &inbound{env: env}
	if t := h.opts.Tracing; t != nil && t.Enabled() && len(headers) > 0 {
		msg = t.Envelope(t.Extract(headers), msg, nil)
	}
	h.system.Root.Send(h.bridge, msg)
	return nil
}
