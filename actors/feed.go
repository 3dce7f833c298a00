package actors

import (
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
)

// feed is one subscriber stream: the changes a visitor or an operator has
// been told, each batch under a revision one above the last. It keeps the
// newest batches so that a client can ask for everything after a revision;
// a revision older than what is kept, or not yet issued, gets the full
// state instead. A feed is owned by one actor and never shared.
type feed struct {
	base    int64   // revision before the oldest kept batch
	rev     int64   // newest revision
	size    int     // batches kept
	batches []batch // a ring once it holds size batches; oldest at head
	head    int
	polls   map[int64]*poll
	nextID  int64
	sinks   map[int64]Sink
}

type batch struct {
	rev    int64
	deltas []json.RawMessage
}

// poll is a held long-poll request waiting for news.
type poll struct {
	to    *actor.PID
	since int64
	timer *time.Timer
}

// newFeed starts a stream. Revisions start from the clock in microseconds so
// that a stream restarted after passivation or a node restart never reissues
// a revision a client may still hold: such a client gets a full update.
func newFeed(size int, now time.Time) *feed {
	if size < 1 {
		size = 1
	}
	r := now.UnixMicro()
	return &feed{base: r, rev: r, size: size, polls: make(map[int64]*poll), sinks: make(map[int64]Sink)}
}

// after returns the deltas after since and whether since is served by what
// the feed keeps (false: the caller must send the full state).
func (f *feed) after(since int64) ([]json.RawMessage, bool) {
	if since < f.base || since > f.rev {
		return nil, false
	}
	n := len(f.batches)
	i := n
	for i > 0 && f.at(i-1).rev > since {
		i--
	}
	if i == n-1 {
		return f.at(i).deltas, true
	}
	var out []json.RawMessage
	for ; i < n; i++ {
		out = append(out, f.at(i).deltas...)
	}
	return out, true
}

// at is the i-th kept batch, oldest first.
func (f *feed) at(i int) *batch { return &f.batches[(f.head+i)%len(f.batches)] }

// idle reports whether nobody waits on or listens to the feed.
func (f *feed) idle() bool { return len(f.polls) == 0 && len(f.sinks) == 0 }

// publish appends one batch and hands it to every held poll and sink.
// ctx answers the polls. full builds the full state for a poll whose since
// has fallen out of the kept window.
func (f *feed) publish(ctx actor.Context, deltas []json.RawMessage) {
	if len(deltas) == 0 {
		return
	}
	f.rev++
	b := batch{rev: f.rev, deltas: deltas}
	if len(f.batches) < f.size {
		f.batches = append(f.batches, b)
	} else { // full: the newest takes the oldest's place
		f.base = f.batches[f.head].rev
		f.batches[f.head] = b
		f.head = (f.head + 1) % len(f.batches)
	}
	for id, p := range f.polls {
		if got, ok := f.after(p.since); ok && len(got) > 0 {
			p.timer.Stop()
			delete(f.polls, id)
			ctx.Send(p.to, &Update{Revision: f.rev, Deltas: got})
		}
	}
	if len(f.sinks) > 0 {
		u := &Update{Revision: f.rev, Deltas: deltas}
		for id, s := range f.sinks {
			if !s.Push(u) {
				delete(f.sinks, id)
			}
		}
	}
}

// hold parks a long poll until news or the wait elapses; expire is sent to
// self when it does.
func (f *feed) hold(ctx actor.Context, since int64, wait time.Duration) {
	f.nextID++
	id, self, to := f.nextID, ctx.Self(), ctx.Sender()
	root := ctx.ActorSystem().Root
	t := time.AfterFunc(wait, func() { root.Send(self, &pollExpired{id: id}) })
	f.polls[id] = &poll{to: to, since: since, timer: t}
}

// expire answers a held poll that timed out with an empty update.
func (f *feed) expire(ctx actor.Context, id int64) {
	if p, ok := f.polls[id]; ok {
		delete(f.polls, id)
		ctx.Send(p.to, &Update{})
	}
}

// subscribe adds a sink and returns its id.
func (f *feed) subscribe(s Sink) int64 {
	f.nextID++
	f.sinks[f.nextID] = s
	return f.nextID
}

// close answers every held poll with an empty update and forgets sinks.
func (f *feed) close(ctx actor.Context) {
	f.release(ctx)
	f.sinks = make(map[int64]Sink)
}

// end answers every held poll and closes every sink with err, for sinks
// that can be told (the server's WebSockets close with err's code); the
// stream is gone and its clients must come back with a since.
func (f *feed) end(ctx actor.Context, err error) {
	f.release(ctx)
	for id, s := range f.sinks {
		if e, ok := s.(interface{ End(error) }); ok {
			e.End(err)
		}
		delete(f.sinks, id)
	}
}

// errStreamRestarted ends the subscribers of a stream whose actor
// restarted after a failure: they reconnect and resume or get a full
// update.
var errStreamRestarted = chatnode.Errorf(chatnode.EUnavailable, "the stream restarted; reconnect")

// release answers every held poll with an empty update.
func (f *feed) release(ctx actor.Context) {
	for id, p := range f.polls {
		p.timer.Stop()
		ctx.Send(p.to, &Update{})
		delete(f.polls, id)
	}
}

// pollExpired is sent by a held poll's timer.
type pollExpired struct{ id int64 }

// unsubscribe drops a sink.
type unsubscribe struct{ id int64 }

// serve answers a poll or subscription request against the feed: at once
// with deltas (or the full state) when there is news, else by holding it.
// full is called only when the full state is needed.
func (f *feed) serve(ctx actor.Context, since int64, wait time.Duration, full func() json.RawMessage) {
	deltas, ok := f.after(since)
	switch {
	case !ok:
		ctx.Respond(&Update{Revision: f.rev, Full: full()})
	case len(deltas) > 0:
		ctx.Respond(&Update{Revision: f.rev, Deltas: deltas})
	case wait <= 0:
		ctx.Respond(&Update{})
	default:
		f.hold(ctx, since, wait)
	}
}

// attach answers a subscription: the sink first gets the full state (since
// out of the window, or 0) or the deltas after since, then every batch.
func (f *feed) attach(ctx actor.Context, since int64, s Sink, full func() json.RawMessage) int64 {
	deltas, ok := f.after(since)
	first := &Update{Revision: f.rev, Deltas: deltas}
	if !ok || since == 0 {
		first = &Update{Revision: f.rev, Full: full()}
	}
	if !first.Empty() && !s.Push(first) {
		ctx.Respond(&subscribed{})
		return 0
	}
	id := f.subscribe(s)
	ctx.Respond(&subscribed{id: id})
	return id
}

// subscribed answers a subscription with the sink's id in the stream.
type subscribed struct{ id int64 }
