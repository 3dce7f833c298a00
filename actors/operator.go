package actors

import (
	"encoding/json"
	"sort"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/store"
)

// operatorActor is one operator: their status, their replicas of the chats
// they hold, their view of the queue, and their delta stream (shared by all
// of the operator's open sessions). It checks that the operator is in a chat
// before forwarding an action to the chat.
type operatorActor struct {
	h            *Hub
	acct         *config.Operator
	status       string
	lastAssigned int64
	chats        map[string]*messages.Chat
	queue        map[string]*queueEntry
	feed         *feed
	w            writes
	// restarted marks an incarnation made by the supervisor after a panic:
	// it recovers its status and chats from the assigner, which kept them.
	restarted bool
}

func newOperatorActor(h *Hub, acct *config.Operator, st *store.OperatorState) *operatorActor {
	a := &operatorActor{h: h, acct: acct, status: chatnode.StatusOffline,
		chats: make(map[string]*messages.Chat), queue: make(map[string]*queueEntry), w: writes{w: h.writer, t: h.opts.Tracing}}
	if st != nil {
		a.status, a.lastAssigned = st.Status, micros(st.LastAssignedAt)
	}
	return a
}

// Receive implements actor.Actor.
func (a *operatorActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.feed = newFeed(a.h.opts.FeedSize, a.h.now())
		switch {
		case a.restarted && a.h.isMaster():
			a.recall(ctx)
		case a.h.isMaster():
			ctx.Send(a.h.assigner, a.update())
		}
	case *messages.OperatorStatus:
		a.statusChanged(ctx, msg.Status)
	case *actor.Restarting: // this incarnation's stream dies with it
		a.feed.end(ctx, errStreamRestarted)
	case *actor.Stopped:
		a.feed.close(ctx)
	case *persisted:
		a.w.done(msg.err)
	case *issueSession:
		ctx.Respond(mustJSON(a.account()))
	case *setStatus:
		a.setStatus(ctx, msg.status)
	case *operatorCall:
		a.call(ctx, msg.req)
	case *messages.ChatEvent:
		a.apply(ctx, msg)
	case *messages.QueueChange:
		a.queueChange(ctx, msg)
	case *queueSnapshot:
		a.replaceQueue(ctx, msg.entries)
	case *feedPoll:
		a.feed.serve(ctx, msg.since, a.h.pollWait(msg.wait), a.full)
	case *feedSubscribe:
		a.feed.attach(ctx, msg.since, msg.sink, a.full)
	case *pollExpired:
		a.feed.expire(ctx, msg.id)
	case *unsubscribe:
		delete(a.feed.sinks, msg.id)
	case *releasePolls:
		a.feed.release(ctx)
	}
}

// recall restores a restarted operator from the assigner: its status and
// the chats it holds, whose owners then send their snapshots.
func (a *operatorActor) recall(ctx actor.Context) {
	f := ctx.RequestFuture(a.h.assigner, &operatorRecall{id: a.acct.ID}, a.h.opts.RequestTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		r, ok := res.(*operatorRecalled)
		if err != nil || !ok {
			ctx.Logger().Error("recalling a restarted operator failed", "operator", a.acct.ID, "err", err)
			return
		}
		a.status, a.lastAssigned = r.status, r.lastAssigned
		for _, id := range r.chats {
			a.h.tell(ctx, a.h.chats, &route{id: id, msg: &attachReplica{side: chatnode.SideOperator, id: a.acct.ID}}, nil)
		}
		ctx.Logger().Warn("operator restarted and recalled", "operator", a.acct.ID, "status", r.status, "chats", len(r.chats))
	})
}

func (a *operatorActor) update() *messages.OperatorUpdate {
	return &messages.OperatorUpdate{OperatorId: a.acct.ID, Status: a.status, Departments: a.acct.Departments,
		MaxChats: int32(a.acct.MaxChats), LastAssignedMicros: a.lastAssigned}
}

type wireAccount struct {
	ID          int64    `json:"id"`
	Login       string   `json:"login"`
	Name        string   `json:"name"`
	Departments []string `json:"departments"`
	MaxChats    int      `json:"maxChats"`
}

func (a *operatorActor) account() wireAccount {
	return wireAccount{ID: numericID(a.acct.ID), Login: a.acct.Login, Name: a.acct.Name, Departments: a.acct.Departments, MaxChats: a.acct.MaxChats}
}

func (a *operatorActor) setStatus(ctx actor.Context, status string) {
	if !chatnode.ValidStatus(status) {
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EStatusUnknown, "status %q is not online, invisible or offline", status)})
		return
	}
	if !a.h.isMaster() { // the master owns operators' statuses
		ctx.RequestWithCustomSender(a.h.bridge, &remote{node: a.h.opts.Cluster.Master, target: targetOperators, id: a.acct.ID, msg: &setStatus{status: status}}, ctx.Sender())
		return
	}
	if status == a.status {
		ctx.Respond(replyOK)
		return
	}
	sender, now := ctx.Sender(), a.h.now()
	st := &store.OperatorState{OperatorID: a.acct.ID, Status: status, LastAssignedAt: fromMicros(a.lastAssigned), UpdatedAt: now}
	a.w.submit(ctx, []store.Change{{Operator: st}}, func(err error) {
		if err != nil {
			answer(ctx, sender, &reply{err: err})
			return
		}
		a.statusChanged(ctx, status)
		a.h.shareTo(ctx, targetOperators, a.acct.ID, &messages.OperatorStatus{OperatorId: a.acct.ID, Status: status})
		ctx.Send(a.h.assigner, a.update())
		answer(ctx, sender, replyOK)
	})
}

// statusChanged applies a new status to the operator's view and stream.
func (a *operatorActor) statusChanged(ctx actor.Context, status string) {
	if status == a.status {
		return
	}
	a.status = status
	deltas := []json.RawMessage{delta(objOperatorStatus, "upd", a.acct.ID, status)}
	if status == chatnode.StatusOffline {
		for id := range a.queue {
			deltas = append(deltas, delta(objQueue, "del", id, nil))
		}
		a.queue = make(map[string]*queueEntry)
	}
	a.feed.publish(ctx, deltas)
}

func (a *operatorActor) call(ctx actor.Context, req *OperatorRequest) {
	if req.Action == ActTake {
		if a.status == chatnode.StatusOffline {
			ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EOperatorOffline, "go online or invisible to take chats")})
			return
		}
		ctx.RequestWithCustomSender(a.h.assigner, &messages.TakeChat{ChatId: req.ChatID, OperatorId: a.acct.ID}, ctx.Sender())
		return
	}
	if _, ok := a.chats[req.ChatID]; !ok {
		ctx.Respond(&reply{err: chatnode.Errorf(chatnode.EOperatorNotInChat, "chat %q is not yours", req.ChatID)})
		return
	}
	a.h.tell(ctx, a.h.chats, &route{id: req.ChatID, msg: &operatorChatCall{operatorID: a.acct.ID, req: req}}, ctx.Sender())
}

// wireOperatorFull is the operator stream's full update.
type wireOperatorFull struct {
	Operator wireAccount   `json:"operator"`
	Status   string        `json:"status"`
	Chats    []*wireChat   `json:"chats"`
	Queue    []*queueEntry `json:"queue"`
}

func (a *operatorActor) full() json.RawMessage {
	f := wireOperatorFull{Operator: a.account(), Status: a.status, Chats: []*wireChat{}, Queue: []*queueEntry{}}
	for _, c := range a.chats {
		f.Chats = append(f.Chats, a.h.chatJSON(c, true))
	}
	sort.Slice(f.Chats, func(i, j int) bool { return f.Chats[i].CreationTs < f.Chats[j].CreationTs })
	for _, e := range a.queue {
		f.Queue = append(f.Queue, e)
	}
	sort.Slice(f.Queue, func(i, j int) bool { return f.Queue[i].QueuedTs < f.Queue[j].QueuedTs })
	return mustJSON(f)
}
