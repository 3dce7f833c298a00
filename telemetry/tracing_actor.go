package telemetry

import (
	"context"
	"encoding/hex"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// PropsOptions returns the options that trace an actor: the context
// decorator, the receiver middleware and the sender middleware. It returns
// nil when tracing is off, so actors pay nothing.
func (t *Tracing) PropsOptions() []actor.PropsOption {
	if !t.enabled {
		return nil
	}
	return []actor.PropsOption{
		actor.WithContextDecorator(t.ContextDecorator()),
		actor.WithReceiverMiddleware(t.ReceiverMiddleware()),
		actor.WithSenderMiddleware(t.SenderMiddleware()),
	}
}

// tracedContext is the context an actor sees when its props have the
// tracing decorator. It holds the span context of the message the actor is
// handling, for the sender middleware. Each actor has its own; cur is
// atomic only because protoactor's receive-timeout timer sends from another
// goroutine.
type tracedContext struct {
	actor.Context
	cur atomic.Pointer[trace.SpanContext]
}

// ContextDecorator gives each actor a context that remembers the span of the
// message being handled, so that messages it sends are children of that
// span. It must be the only context decorator of the props, or the first
// one given (the outermost). Without it spans are still opened, but
// messages sent while handling one continue the trace from the parent of
// the handler's span. When tracing is off it changes nothing.
func (t *Tracing) ContextDecorator() actor.ContextDecorator {
	if !t.enabled {
		return func(next actor.ContextDecoratorFunc) actor.ContextDecoratorFunc { return next }
	}
	return func(next actor.ContextDecoratorFunc) actor.ContextDecoratorFunc {
		return func(c actor.Context) actor.Context {
			return &tracedContext{Context: next(c)}
		}
	}
}

// ReceiverMiddleware opens one span per message that arrives with a W3C
// trace context in its envelope header, named "<kind> <message type>" (see
// KindOf and MessageName), as a child of that context. Messages without a
// trace context (timers, restoring state at start-up, lifecycle messages)
// get no span and cost one header lookup: traces begin at the edges, where
// an HTTP handler or the RabbitMQ consumer calls StartSpan or Extract.
// Messages of an unsampled trace get no span either; the trace context is
// still passed on. When tracing is off the middleware is a pass-through.
func (t *Tracing) ReceiverMiddleware() actor.ReceiverMiddleware {
	if !t.enabled {
		return func(next actor.ReceiverFunc) actor.ReceiverFunc { return next }
	}
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if !sampled(env.GetHeader(HeaderTraceparent)) {
				// Untraced or unsampled: the sender middleware passes an
				// unsampled trace context on.
				next(c, env)
				return
			}
			t.receive(next, c, env)
		}
	}
}

func (t *Tracing) receive(next actor.ReceiverFunc, c actor.ReceiverContext, env *actor.MessageEnvelope) {
	switch env.Message.(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting,
		*actor.ReceiveTimeout, *actor.Terminated:
		next(c, env)
		return
	}
	parent := trace.SpanContextFromContext(t.prop.Extract(context.Background(), headerCarrier{env.Header}))
	if !parent.IsValid() || !parent.IsSampled() {
		next(c, env)
		return
	}
	self := c.Self()
	kind := kindIndex(self.Id)
	var buf [6]attribute.KeyValue
	attrs := append(buf[:0], t.node, KeyActorKind.String(kindNames[kind]), KeyActor.String(self.Id))
	chat, operator, visitor := entityIDs(env.Message)
	if chat != "" {
		attrs = append(attrs, KeyChatID.String(chat))
	}
	if operator != "" {
		attrs = append(attrs, KeyOperatorID.String(operator))
	}
	if visitor != "" {
		attrs = append(attrs, KeyVisitorID.String(visitor))
	}
	_, span := t.tracer.Start(
		trace.ContextWithRemoteSpanContext(context.Background(), parent),
		t.names.get(kind, env.Message),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrs...),
	)
	if tc, ok := c.(*tracedContext); ok {
		sc := span.SpanContext()
		prev := tc.cur.Swap(&sc)
		defer tc.cur.Store(prev)
	}
	done := false
	defer func() {
		if !done {
			span.SetStatus(codes.Error, "the handler panicked")
		}
		span.End()
	}()
	next(c, env)
	done = true
}

// SenderMiddleware puts the trace context of the message being handled on
// every message the actor sends: the handler's span when the actor has the
// ContextDecorator and a span was opened, otherwise the trace context the
// message arrived with. It never changes the envelope or header it is given
// (they may be shared, for example by Forward); it sends a copy. Messages
// sent while handling an untraced message go out unchanged. When tracing is
// off the middleware is a pass-through.
func (t *Tracing) SenderMiddleware() actor.SenderMiddleware {
	if !t.enabled {
		return func(next actor.SenderFunc) actor.SenderFunc { return next }
	}
	return func(next actor.SenderFunc) actor.SenderFunc {
		return func(c actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			var sc *trace.SpanContext
			if tc, ok := c.(*tracedContext); ok {
				sc = tc.cur.Load()
			}
			var parent, state string
			if sc == nil {
				h := c.MessageHeader()
				if h == nil {
					next(c, target, env)
					return
				}
				if parent = h.Get(HeaderTraceparent); parent == "" {
					next(c, target, env)
					return
				}
				state = h.Get(HeaderTracestate)
			}
			header := make(map[string]string, len(env.Header)+2)
			for k, v := range env.Header {
				header[k] = v
			}
			delete(header, HeaderTracestate)
			if sc != nil {
				header[HeaderTraceparent] = traceparent(*sc)
				if ts := sc.TraceState(); ts.Len() > 0 {
					header[HeaderTracestate] = ts.String()
				}
			} else {
				header[HeaderTraceparent] = parent
				if state != "" {
					header[HeaderTracestate] = state
				}
			}
			next(c, target, &actor.MessageEnvelope{Header: header, Message: env.Message, Sender: env.Sender})
		}
	}
}

// ContextOf returns a context holding the trace of the message c is
// handling: the handler's span when there is one, else the trace context
// the message arrived with. Use it inside Receive to publish to RabbitMQ
// (Inject(ContextOf(ctx))) or to start a child span around slow work. It is
// context.Background() when tracing is off or the message is untraced.
func (t *Tracing) ContextOf(c actor.Context) context.Context {
	if !t.enabled {
		return context.Background()
	}
	if tc, ok := c.(*tracedContext); ok {
		if sc := tc.cur.Load(); sc != nil {
			return trace.ContextWithSpanContext(context.Background(), *sc)
		}
	}
	h := c.MessageHeader()
	if h == nil || h.Get(HeaderTraceparent) == "" {
		return context.Background()
	}
	return t.prop.Extract(context.Background(), headerCarrier{h})
}

// sampled reports whether a traceparent header looks like a valid one with
// the sampled flag set, without parsing it in full: "vv-<32 hex trace
// id>-<16 hex span id>-ff", where later versions may append fields.
func sampled(traceparent string) bool {
	if len(traceparent) < 55 || traceparent[2] != '-' || traceparent[35] != '-' || traceparent[52] != '-' {
		return false
	}
	switch f := traceparent[54]; {
	case f >= '0' && f <= '9':
		return (f-'0')&1 == 1
	case f >= 'a' && f <= 'f':
		return (f-'a'+10)&1 == 1
	}
	return false
}

// traceparent formats sc as a version 00 traceparent header, as the W3C
// propagator does, with one allocation.
func traceparent(sc trace.SpanContext) string {
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52], b[53], b[54] = '-', '0', '0'
	if sc.IsSampled() {
		b[54] = '1'
	}
	return string(b[:])
}
