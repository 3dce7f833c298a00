package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/store"
	"github.com/chatnode/chatnode/telemetry"
)

// Submitter is the write side of the store as actors use it: the group
// commit writer. done runs on the writer's goroutine once the changes are
// durable (nil) or failed, in submission order.
type Submitter interface {
	Submit(changes []store.Change, done func(error))
}

// writes keeps an actor's pending durable writes. The actor goes on
// handling messages while its writes commit; each write's continuation runs
// inside the actor, in submission order, when the writer reports back with
// a *persisted message.
type writes struct {
	w       Submitter
	t       *telemetry.Tracing // carries the writing message's trace to the continuation
	pending []func(error)
}

// submit writes changes and runs then inside the actor when they are durable
// or failed. Without a writer (a node that keeps nothing) then runs at once.
func (p *writes) submit(ctx actor.Context, changes []store.Change, then func(error)) {
	if p.w == nil {
		then(nil)
		return
	}
	p.pending = append(p.pending, then)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	if t := p.t; t != nil && t.Enabled() {
		tc := t.ContextOf(ctx)
		p.w.Submit(changes, func(err error) { root.Send(self, t.Envelope(tc, &persisted{err: err}, nil)) })
		return
	}
	p.w.Submit(changes, func(err error) { root.Send(self, &persisted{err: err}) })
}

// done runs the oldest pending continuation.
func (p *writes) done(err error) {
	if len(p.pending) == 0 {
		return
	}
	then := p.pending[0]
	p.pending[0] = nil
	p.pending = p.pending[1:]
	then(err)
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// storeChat is the record of c, without its messages.
func storeChat(c *messages.Chat, nextSeq int64) *store.Chat {
	s := &store.Chat{
		ID:              c.Id,
		VisitorID:       c.VisitorId,
		ClientSideID:    c.ClientSideId,
		DepartmentKey:   c.DepartmentKey,
		State:           c.State,
		OperatorID:      c.OperatorId,
		QueuedAt:        fromMicros(c.QueuedMicros),
		CreatedAt:       fromMicros(c.CreatedMicros),
		ModifiedAt:      fromMicros(c.ModifiedMicros),
		ClosedAt:        fromMicros(c.ClosedMicros),
		RatedOperatorID: c.RatedOperatorId,
		NextSeq:         nextSeq,
	}
	if c.Rated {
		r := int(c.Rate)
		s.Rate = &r
	}
	return s
}

// chatFromStore rebuilds a chat from its record and messages.
func chatFromStore(s *store.Chat, msgs []store.Message, reads []store.Read) *messages.Chat {
	c := &messages.Chat{
		Id:              s.ID,
		VisitorId:       s.VisitorID,
		ClientSideId:    s.ClientSideID,
		DepartmentKey:   s.DepartmentKey,
		State:           s.State,
		OperatorId:      s.OperatorID,
		CreatedMicros:   micros(s.CreatedAt),
		ModifiedMicros:  micros(s.ModifiedAt),
		QueuedMicros:    micros(s.QueuedAt),
		ClosedMicros:    micros(s.ClosedAt),
		RatedOperatorId: s.RatedOperatorID,
	}
	if s.Rate != nil {
		c.Rated, c.Rate = true, int32(*s.Rate)
	}
	for i := range msgs {
		c.Messages = append(c.Messages, messageFromStore(&msgs[i]))
	}
	for _, r := range reads {
		if r.ChatID != s.ID {
			continue
		}
		if r.Side == store.SideVisitor {
			c.ReadByVisitorSeq = r.UpToSeq
		} else {
			c.ReadByOperatorSeq = r.UpToSeq
		}
	}
	return c
}

func storeMessage(m *messages.Message) *store.Message {
	return &store.Message{
		ID:           m.Id,
		ChatID:       m.ChatId,
		Seq:          m.Seq,
		Kind:         m.Kind,
		AuthorID:     m.AuthorId,
		AuthorName:   m.AuthorName,
		Text:         m.Text,
		ClientSideID: m.ClientSideId,
		CreatedAt:    fromMicros(m.TsMicros),
	}
}

func messageFromStore(m *store.Message) *messages.Message {
	return &messages.Message{
		Id:           m.ID,
		ChatId:       m.ChatID,
		Seq:          m.Seq,
		Kind:         m.Kind,
		AuthorId:     m.AuthorID,
		AuthorName:   m.AuthorName,
		Text:         m.Text,
		ClientSideId: m.ClientSideID,
		TsMicros:     micros(m.CreatedAt),
	}
}
