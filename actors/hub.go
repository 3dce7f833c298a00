package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/store"
	"github.com/chatnode/chatnode/telemetry"
)

// Options configures a Hub. Zero values get the documented defaults.
type Options struct {
	Logger   *slog.Logger     // nil: discard
	Accounts *config.Accounts // departments and operators; nil: config.DefaultAccounts()
	// Store keeps everything durable; Writer batches its writes. Both nil:
	// nothing is kept (tests of the domain alone).
	Store  store.Store
	Writer Submitter
	// ManualAssignment: operators take chats from the queue by hand.
	ManualAssignment      bool
	AssignTick            time.Duration // periodic assignment; default 1s
	ChatInactivityTimeout time.Duration // default 30m; negative disables
	ClosedChatLinger      time.Duration // a closed chat stays in memory for rating; default 5m
	VisitorIdleTimeout    time.Duration // visitor actor passivation; default 10m
	MaxMessageLength      int           // runes; default 8192
	FeedSize              int           // batches kept per stream; default 1024
	QueueViewSize         int           // waiting chats shown in an operator's queue view; default 100
	RequestTimeout        time.Duration // how long a request waits for an actor; default 10s
	AuthSecret            []byte        // signs operator tokens; nil: random per process
	TokenTTL              time.Duration // operator token lifetime; default 24h
	NodeID                int           // 0..15, distinguishes chat ids made by cluster nodes
	Now                   func() time.Time
	// Cluster, when set, makes the node one of a cluster; nil is standalone.
	Cluster *ClusterOptions
	// Tracing follows messages through actors and nodes; nil or disabled:
	// no tracing. Metrics records assignment latency and queue lengths,
	// and with ActorSystemMetrics protoactor's own metrics; nil: none.
	Tracing            *telemetry.Tracing
	Metrics            *telemetry.Metrics
	ActorSystemMetrics bool
	// PropsOptions adds options (middleware, mailboxes) to the props of
	// every actor of a kind: "visitor", "chat", "operator", "assigner",
	// and "directory" for the three directories.
	PropsOptions func(kind string) []actor.PropsOption
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Accounts == nil {
		o.Accounts = config.DefaultAccounts()
	}
	if o.AssignTick == 0 {
		o.AssignTick = time.Second
	}
	if o.ChatInactivityTimeout == 0 {
		o.ChatInactivityTimeout = 30 * time.Minute
	}
	if o.ClosedChatLinger == 0 {
		o.ClosedChatLinger = 5 * time.Minute
	}
	if o.VisitorIdleTimeout == 0 {
		o.VisitorIdleTimeout = 10 * time.Minute
	}
	if o.MaxMessageLength == 0 {
		o.MaxMessageLength = 8192
	}
	if o.FeedSize == 0 {
		o.FeedSize = 1024
	}
	if o.QueueViewSize == 0 {
		o.QueueViewSize = 100
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.AuthSecret == nil {
		o.AuthSecret = []byte(randomToken(32))
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PropsOptions == nil {
		o.PropsOptions = func(string) []actor.PropsOption { return nil }
	}
}

// props builds the props of an actor of kind.
func (h *Hub) props(kind string, producer actor.Producer, extra ...actor.PropsOption) *actor.Props {
	opts := append([]actor.PropsOption{actor.WithDispatcher(h.dispatch)}, extra...)
	return actor.PropsFromProducer(producer, append(opts, h.opts.PropsOptions(kind)...)...)
}

// Hub runs the chat domain on one actor system: the visitors, chats and
// operators directories and the assigner. Its methods are what the server
// calls; each turns a request into an actor message and waits for the
// answer. A Hub is safe for concurrent use.
type Hub struct {
	opts     Options
	system   *actor.ActorSystem
	accounts *accountBook
	store    store.Store
	writer   Submitter
	presence presence
	dispatch *workers // runs every mailbox of the hub's actors
	replies  *replies // where requests wait for their answers

	visitors, chats, operators, assigner, bridge *actor.PID
	// The running children of the three directories (see liveChildren).
	liveVisitors, liveChats, liveOperators *liveChildren
	// visitorRoutes holds, by visitor id, the routes running visitor
	// actors publish for their messages (*visitorRoute).
	visitorRoutes sync.Map

	peers peers  // cluster: when each peer was last heard from
	runID string // distinguishes this process's event ids from earlier runs

	lastChatID atomic.Int64
	stopping   atomic.Bool // Release was called: long polls are not held
	stopOnce   sync.Once
	recovered  []*messages.Chat // open chats read at Start, until spawned
}

// New builds a Hub; Start brings it up.
func New(opts Options) *Hub {
	opts.defaults()
	h := &Hub{opts: opts, accounts: newAccountBook(opts.Accounts), store: opts.Store, writer: opts.Writer, runID: randomToken(4),
		dispatch:     newWorkers(300),
		liveVisitors: newLiveChildren(), liveChats: newLiveChildren(), liveOperators: newLiveChildren()}
	if c := opts.Cluster; c != nil {
		for i, n := range c.Nodes {
			if n == c.Self {
				h.opts.NodeID = i
			}
		}
	}
	if h.store == nil || h.writer == nil {
		h.store, h.writer = nil, nil
	}
	// protoactor logs routine events (dead letters, start-up) at INFO; only
	// its warnings and errors reach the node's log.
	actorLog := slog.New(&levelFloor{Handler: opts.Logger.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
	sysOpts := []actor.ConfigOption{actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog })}
	if opts.Metrics != nil && opts.ActorSystemMetrics {
		sysOpts = append(sysOpts, actor.WithMetricProviders(opts.Metrics.MeterProvider()))
	}
	h.system = actor.NewActorSystem(sysOpts...)
	h.replies = newReplies(h.system)
	return h
}

func (h *Hub) now() time.Time { return h.opts.Now() }

// Start spawns the actors and restores open chats, queues, assignments and
// operator statuses from the store.
func (h *Hub) Start(ctx context.Context) error {
	var snap *store.Snapshot
	if h.store != nil {
		var err error
		snap, err = h.store.Recover(ctx, h.now().Add(-h.opts.VisitorIdleTimeout))
		if err != nil {
			return fmt.Errorf("recover state from the store: %w", err)
		}
	}
	root := h.system.Root
	strategy := actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider)
	spawn := func(name, kind string, p func() actor.Actor) *actor.PID {
		pid, err := root.SpawnNamed(h.props(kind, p, actor.WithSupervisor(strategy)), name)
		if err != nil {
			panic(fmt.Sprintf("spawn %s: %v", name, err)) // names are ours and unique
		}
		return pid
	}
	states := map[string]*store.OperatorState{}
	var initial []any // what the assigner learns before anything else
	if snap != nil {
		for i := range snap.Operators {
			states[snap.Operators[i].OperatorID] = &snap.Operators[i]
		}
		initial = h.recoverChats(snap)
	}
	// Every directory exists before any actor runs, so actors can address
	// each other from their first message.
	if h.clustered() {
		h.bridge = spawn("bridge", "bridge", func() actor.Actor { return &bridgeActor{h: h} })
	}
	h.visitors = spawn("visitors", "directory", func() actor.Actor {
		return newDirectory(kindVisitor, h.liveVisitors, func(id string) *actor.Props {
			return h.props(kindVisitor, func() actor.Actor { return newVisitorActor(h, id) })
		})
	})
	h.chats = spawn("chats", "directory", func() actor.Actor { return newChatsDirectory(h) })
	h.operators = spawn("operators", "directory", func() actor.Actor {
		return newDirectory(kindOperator, h.liveOperators, func(id string) *actor.Props {
			incarnation := 0
			return h.props(kindOperator, func() actor.Actor {
				incarnation++ // again after a panic: that incarnation recalls its state
				a := newOperatorActor(h, h.accounts.operator(id), states[id])
				a.restarted = incarnation > 1
				return a
			})
		})
	})
	// The assigner learns held and waiting chats before operators report
	// in, or it would hand out chats an operator already has.
	if h.isMaster() {
		h.assigner = spawn(kindAssigner, kindAssigner, func() actor.Actor { return newAssignerActor(h) })
		for _, m := range initial {
			root.Send(h.assigner, m)
		}
	} else {
		h.assigner = spawn(kindAssigner, "directory", func() actor.Actor { return &assignerProxy{h: h} })
	}
	for _, c := range h.recovered {
		if h.chatOwner(c.Id) == "" {
			h.tell(root, h.chats, &route{id: c.Id, msg: &chatRecover{chat: c}, spawn: true}, nil)
		} else {
			root.Send(h.chats, &chatIndexNote{chatID: c.Id, visitorID: c.VisitorId, open: true})
		}
	}
	for _, op := range h.opts.Accounts.Operators {
		h.tell(root, h.operators, &route{id: op.ID, msg: &wake{}, spawn: true}, nil)
	}
	for _, c := range h.recovered {
		if c.State == chatnode.ChatChatting {
			h.tell(root, h.chats, &route{id: c.Id, msg: &attachReplica{side: chatnode.SideOperator, id: c.OperatorId}}, nil)
		}
	}
	h.recovered = nil
	return nil
}

// recoverChats rebuilds open chats from the snapshot into h.recovered and
// returns what the assigner must learn first: held chats, then waiting ones.
func (h *Hub) recoverChats(snap *store.Snapshot) []any {
	names := make(map[string]string, len(snap.Visitors))
	for _, v := range snap.Visitors {
		names[v.ID] = visitorName(v.Fields)
	}
	var holds, queued []any
	for i := range snap.Chats {
		sc := &snap.Chats[i]
		c := chatFromStore(sc, snap.Messages[sc.ID], snap.Reads)
		if n, ok := names[c.VisitorId]; ok {
			c.VisitorName = n
		}
		if n := numericID(c.Id); n > h.lastChatID.Load() {
			h.lastChatID.Store(n)
		}
		h.recovered = append(h.recovered, c)
		switch c.State {
		case chatnode.ChatQueue:
			var first string
			for _, m := range c.Messages {
				if m.Kind == chatnode.KindVisitor {
					first = m.Text
					break
				}
			}
			queued = append(queued, &messages.ChatQueued{ChatId: c.Id, DepartmentKey: c.DepartmentKey, QueuedMicros: c.QueuedMicros, VisitorName: c.VisitorName, FirstText: first})
		case chatnode.ChatChatting:
			holds = append(holds, &messages.ChatHeld{ChatId: c.Id, OperatorId: c.OperatorId})
		}
	}
	return append(holds, queued...)
}

// Release answers every held long poll now and holds no new ones: call it
// when the node starts stopping, before the server waits for its requests.
func (h *Hub) Release() {
	h.stopping.Store(true)
	h.system.Root.Send(h.visitors, &toAll{msg: &releasePolls{}})
	h.system.Root.Send(h.operators, &toAll{msg: &releasePolls{}})
}

// pollWait is how long a long poll may be held: not at all once stopping.
func (h *Hub) pollWait(wait time.Duration) time.Duration {
	if h.stopping.Load() {
		return 0
	}
	return wait
}

// Stop ends every actor: held long polls are answered empty.
func (h *Hub) Stop() {
	h.stopOnce.Do(func() {
		h.system.Shutdown()
		h.replies.close()
	})
}

// newChatID returns a new numeric chat id (Webim's chat ids are numbers):
// milliseconds since the epoch shifted left by 12 bits, the node id in four
// bits and a sequence in the last eight, kept strictly increasing. It stays
// below 2^53 so that JavaScript clients read it exactly.
func (h *Hub) newChatID() string {
	for {
		last := h.lastChatID.Load()
		next := h.now().UnixMilli()<<12 | int64(h.opts.NodeID&15)<<8
		if next <= last {
			next = last + 1
		}
		if h.lastChatID.CompareAndSwap(last, next) {
			return fmt.Sprint(next)
		}
	}
}

// randomToken returns n random bytes in hex.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func typeName(v any) string { return reflect.TypeOf(v).String() }

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (l *levelFloor) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= l.min && l.Handler.Enabled(ctx, level)
}

func (l *levelFloor) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelFloor{Handler: l.Handler.WithAttrs(attrs), min: l.min}
}

func (l *levelFloor) WithGroup(name string) slog.Handler {
	return &levelFloor{Handler: l.Handler.WithGroup(name), min: l.min}
}

// tell sends r to dir's child r.id from ctx: straight to the child when it
// runs, else through dir, which creates it, answers that it is unknown or
// passes r to the node that owns it. sender gets the answer; nil sends
// without one.
func (h *Hub) tell(ctx actor.SenderContext, dir *actor.PID, r *route, sender *actor.PID) {
	h.deliver(ctx, dir, r.id, r.msg, r, sender)
}

// deliver sends straight to dir's running child id, or else viaDir to dir,
// with sender as the sender (nil: none). The two differ only in what wraps
// the message: the child gets it bare, the directory in its route.
func (h *Hub) deliver(ctx actor.SenderContext, dir *actor.PID, id string, straight, viaDir any, sender *actor.PID) {
	if live := h.live(dir); live != nil && live.send(ctx, id, straight, sender) {
		return
	}
	if sender == nil {
		ctx.Send(dir, viaDir)
	} else {
		ctx.RequestWithCustomSender(dir, viaDir, sender)
	}
}

// tellFuture is tell with a future for the answer.
func (h *Hub) tellFuture(ctx actor.SenderContext, dir *actor.PID, r *route, timeout time.Duration) *actor.Future {
	f := actor.NewFuture(ctx.ActorSystem(), timeout)
	h.tell(ctx, dir, r, f.PID())
	return f
}

// live is the table of dir's running children, nil for other actors.
func (h *Hub) live(dir *actor.PID) *liveChildren {
	switch dir {
	case h.visitors:
		return h.liveVisitors
	case h.chats:
		return h.liveChats
	case h.operators:
		return h.liveOperators
	}
	return nil
}

// ask sends r to dir's child (see tell) and waits for the answer, turning
// a *reply's error and a timeout into errors.
func (h *Hub) ask(ctx context.Context, dir *actor.PID, r *route, timeout time.Duration) (any, error) {
	q := h.replies.start(timeout)
	straight, sender := h.addressed(ctx, r.msg, q)
	viaDir, _ := h.addressed(ctx, r, q)
	h.deliver(h.system.Root, dir, r.id, straight, viaDir, sender)
	return answerOf(q.wait())
}

// addressed is msg as sent for request q, with its sender: when tracing is
// on, an envelope that carries the trace and the reply address, with no
// sender of its own; otherwise msg itself, from the reply address.
func (h *Hub) addressed(ctx context.Context, msg any, q request) (any, *actor.PID) {
	if t := h.opts.Tracing; t != nil && t.Enabled() {
		return t.Envelope(ctx, msg, q.pid), nil
	}
	return msg, q.pid
}

// answerOf turns a request's answer into a result: a *reply's error, a
// timeout and a dead letter become errors.
func answerOf(res any, err error) (any, error) {
	switch {
	case errors.Is(err, actor.ErrTimeout):
		return nil, chatnode.Errorf(chatnode.EUnavailable, "the request timed out")
	case errors.Is(err, actor.ErrDeadLetter):
		// The actor stopped before it answered, or the node is stopping.
		return nil, chatnode.Errorf(chatnode.EUnavailable, "the request was not answered; retry")
	case err != nil:
		return nil, fmt.Errorf("actor request: %w", err)
	}
	if r, ok := res.(*reply); ok && r.err != nil {
		return nil, r.err
	}
	return res, nil
}
