package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/telemetry"
)

// route mimics the actors package's directory route.
type route struct {
	id  string
	msg any
}

func (r *route) WrappedMessage() any { return r.msg }

// answer is a reply with ids the test names through IDCarrier.
type answer struct{ chatID string }

func (a *answer) EntityIDs() (chat, operator, visitor string) { return a.chatID, "", "" }

// chatDirectory spawns one child per id on demand and routes to it with
// the original sender, like the actors package's directory.
type chatDirectory struct {
	props    *actor.Props
	children map[string]*actor.PID
}

func (d *chatDirectory) Receive(ctx actor.Context) {
	if r, ok := ctx.Message().(*route); ok {
		pid, ok := d.children[r.id]
		if !ok {
			pid, _ = ctx.SpawnNamed(d.props, r.id+"#1")
			d.children[r.id] = pid
		}
		ctx.RequestWithCustomSender(pid, r.msg, ctx.Sender())
	}
}

func TestTraceFollowsMessagesAcrossActors(t *testing.T) {
	tr, exp := newTracing(t)
	sys := newSystem(t)
	props := func(f actor.ReceiveFunc) *actor.Props { return actor.PropsFromFunc(f, tr.PropsOptions()...) }

	chatProps := props(func(ctx actor.Context) {
		if ev, ok := ctx.Message().(*messages.ChatEvent); ok {
			ctx.Respond(&answer{chatID: ev.ChatId})
		}
	})
	chats, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &chatDirectory{props: chatProps, children: map[string]*actor.PID{}}
	}, tr.PropsOptions()...), "chats")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 1)
	visitor, err := sys.Root.SpawnNamed(props(func(ctx actor.Context) {
		switch msg := ctx.Message().(type) {
		case *messages.ChatEvent:
			ctx.Request(chats, &route{id: msg.ChatId, msg: msg})
		case *answer:
			done <- struct{}{}
		}
	}), "visitors/v1#1")
	if err != nil {
		t.Fatal(err)
	}

	ctx, root := tr.StartSpan(context.Background(), "POST /l/v/m/action")
	sys.Root.Send(visitor, tr.Envelope(ctx, &messages.ChatEvent{ChatId: "c1", VisitorId: "v1"}, nil))
	root.End()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("the visitor got no answer")
	}

	spans := waitSpans(t, tr, exp, 5)
	rootSpan := spanNamed(t, spans, "POST /l/v/m/action")
	hops := []struct{ name, kind, actor string }{
		{"visitor ChatEvent", "visitor", "visitors/v1#1"},
		{"chats route:ChatEvent", "chats", "chats"},
		{"chat ChatEvent", "chat", "chats/c1#1"},
		{"visitor answer", "visitor", "visitors/v1#1"},
	}
	parent := rootSpan
	for _, h := range hops {
		s := spanNamed(t, spans, h.name)
		if s.SpanContext.TraceID() != rootSpan.SpanContext.TraceID() {
			t.Errorf("%s: trace %s, want %s", h.name, s.SpanContext.TraceID(), rootSpan.SpanContext.TraceID())
		}
		if s.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Errorf("%s: parent %s, want %s (%s)", h.name, s.Parent.SpanID(), parent.SpanContext.SpanID(), parent.Name)
		}
		for key, want := range map[attribute.Key]string{
			telemetry.KeyNode:      "n1",
			telemetry.KeyActorKind: h.kind,
			telemetry.KeyActor:     h.actor,
			telemetry.KeyChatID:    "c1",
		} {
			if got := attr(s, key); got != want {
				t.Errorf("%s: %s = %q, want %q", h.name, key, got, want)
			}
		}
		if h.name != "visitor answer" {
			if got := attr(s, telemetry.KeyVisitorID); got != "v1" {
				t.Errorf("%s: visitor id %q, want v1", h.name, got)
			}
		}
		if s.SpanKind != trace.SpanKindConsumer {
			t.Errorf("%s: kind %v, want consumer", h.name, s.SpanKind)
		}
		parent = s
	}
}

// TestEnvelopeWithSenderCarriesTheTrace asks an actor from outside the
// system, as the Hub does: the envelope carries the trace and the address
// the answer goes to.
func TestEnvelopeWithSenderCarriesTheTrace(t *testing.T) {
	tr, exp := newTracing(t)
	sys := newSystem(t)
	chat, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if ev, ok := ctx.Message().(*messages.ChatEvent); ok {
			ctx.Respond(&answer{chatID: ev.ChatId})
		}
	}, tr.PropsOptions()...), "chats/c9#1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, root := tr.StartSpan(context.Background(), "GET /api/chat")
	f := actor.NewFuture(sys, waitTimeout)
	sys.Root.Send(chat, tr.Envelope(ctx, &messages.ChatEvent{ChatId: "c9"}, f.PID()))
	res, err := f.Result()
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := res.(*answer); !ok || a.chatID != "c9" {
		t.Fatalf("answer %#v, want *answer for c9", res)
	}
	spans := waitSpans(t, tr, exp, 2)
	s := spanNamed(t, spans, "chat ChatEvent")
	if s.Parent.SpanID() != root.SpanContext().SpanID() {
		t.Errorf("parent %s, want the root span %s", s.Parent.SpanID(), root.SpanContext().SpanID())
	}
}

func TestSenderCopiesTheHeader(t *testing.T) {
	tr, exp := newTracing(t)
	sys := newSystem(t)
	got := make(chan map[string]string, 1)
	b := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.ChatEvent); ok {
			got <- ctx.MessageHeader().ToMap()
		}
	}))
	a, _ := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.ChatEvent); ok {
			ctx.Forward(b)
		}
	}, tr.PropsOptions()...), "operators/o1#1")

	ctx, root := tr.StartSpan(context.Background(), "root")
	header := tr.Inject(ctx)
	header["tenant"] = "t1"
	sent := header[telemetry.HeaderTraceparent]
	sys.Root.Send(a, &actor.MessageEnvelope{Header: header, Message: &messages.ChatEvent{ChatId: "c1"}})
	root.End()

	var h map[string]string
	select {
	case h = <-got:
	case <-time.After(waitTimeout):
		t.Fatal("b got nothing")
	}
	if len(header) != 2 || header[telemetry.HeaderTraceparent] != sent || header["tenant"] != "t1" {
		t.Errorf("the sent header changed: %v", header)
	}
	if h["tenant"] != "t1" {
		t.Errorf("forwarded header %v lost tenant", h)
	}
	spans := waitSpans(t, tr, exp, 2)
	aSpan := spanNamed(t, spans, "operator ChatEvent")
	if sc := trace.SpanContextFromContext(tr.Extract(h)); sc.SpanID() != aSpan.SpanContext.SpanID() {
		t.Errorf("forwarded traceparent %q names span %s, want a's span %s", h[telemetry.HeaderTraceparent], sc.SpanID(), aSpan.SpanContext.SpanID())
	}
}

// relay forwards every ChatEvent from a to b and reports b's headers.
func relay(t *testing.T, sys *actor.ActorSystem, opts []actor.PropsOption) (a *actor.PID, got chan map[string]string) {
	t.Helper()
	got = make(chan map[string]string, 1)
	b, _ := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.ChatEvent); ok {
			h := map[string]string{}
			if mh := ctx.MessageHeader(); mh != nil {
				h = mh.ToMap()
			}
			got <- h
		}
	}, opts...), "chats/c1#1")
	a, _ = sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if ev, ok := ctx.Message().(*messages.ChatEvent); ok {
			ctx.Send(b, ev)
		}
	}, opts...), "visitors/v1#1")
	return a, got
}

func receive(t *testing.T, got chan map[string]string) map[string]string {
	t.Helper()
	select {
	case h := <-got:
		return h
	case <-time.After(waitTimeout):
		t.Fatal("nothing received")
		return nil
	}
}

func TestUntracedMessagesGetNoSpan(t *testing.T) {
	tr, exp := newTracing(t)
	sys := newSystem(t)
	a, got := relay(t, sys, tr.PropsOptions())
	sys.Root.Send(a, &messages.ChatEvent{ChatId: "c1"})
	if h := receive(t, got); h[telemetry.HeaderTraceparent] != "" {
		t.Errorf("an untraced message left with %v", h)
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans for untraced messages, want none", n)
	}
}

func TestUnsampledTraceIsPassedOnWithoutSpans(t *testing.T) {
	tr, exp := newTracing(t)
	sys := newSystem(t)
	a, got := relay(t, sys, tr.PropsOptions())
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	sys.Root.Send(a, tr.Envelope(ctx, &messages.ChatEvent{ChatId: "c1"}, nil))
	h := receive(t, got)
	out := trace.SpanContextFromContext(tr.Extract(h))
	if out.TraceID() != sc.TraceID() || out.IsSampled() {
		t.Errorf("b got trace %s sampled=%v, want %s unsampled", out.TraceID(), out.IsSampled(), sc.TraceID())
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans for an unsampled trace, want none", n)
	}
}

// Eight actors handle messages of different traces at once and pass them
// to one shared actor; every span must keep its own trace's parent.
func TestConcurrentTracesKeepTheirParents(t *testing.T) {
	const actors, perActor = 8, 50
	tr, exp := newTracing(t)
	sys := newSystem(t)
	var received atomic.Int64
	assigner, _ := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.AssignChat); ok {
			received.Add(1)
		}
	}, tr.PropsOptions()...), "assigner")
	pids := make([]*actor.PID, actors)
	for i := range pids {
		pids[i], _ = sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
			if msg, ok := ctx.Message().(*messages.AssignChat); ok {
				ctx.Send(assigner, msg)
			}
		}, tr.PropsOptions()...), fmt.Sprintf("operators/o%d#1", i))
	}

	var mu sync.Mutex
	chatOf := map[trace.TraceID]string{}
	rootOf := map[trace.TraceID]trace.SpanID{}
	var wg sync.WaitGroup
	for i, pid := range pids {
		wg.Go(func() {
			for j := range perActor {
				chat := fmt.Sprintf("c%d-%d", i, j)
				ctx, root := tr.StartSpan(context.Background(), "root")
				mu.Lock()
				chatOf[root.SpanContext().TraceID()] = chat
				rootOf[root.SpanContext().TraceID()] = root.SpanContext().SpanID()
				mu.Unlock()
				sys.Root.Send(pid, tr.Envelope(ctx, &messages.AssignChat{ChatId: chat, OperatorId: fmt.Sprint(i)}, nil))
				root.End()
			}
		})
	}
	wg.Wait()
	testutil.WaitFor(t, waitTimeout, func() error {
		if n := received.Load(); n != actors*perActor {
			return fmt.Errorf("the assigner got %d messages", n)
		}
		return nil
	})

	spans := waitSpans(t, tr, exp, 3*actors*perActor)
	operatorSpan := map[trace.TraceID]trace.SpanID{}
	for _, s := range spans {
		if s.Name == "operator AssignChat" {
			operatorSpan[s.SpanContext.TraceID()] = s.SpanContext.SpanID()
		}
	}
	checked := 0
	for _, s := range spans {
		id := s.SpanContext.TraceID()
		var parent trace.SpanID
		switch s.Name {
		case "root":
			continue
		case "operator AssignChat":
			parent = rootOf[id]
		case "assigner AssignChat":
			parent = operatorSpan[id]
		default:
			t.Fatalf("unexpected span %q", s.Name)
		}
		if s.Parent.SpanID() != parent || !parent.IsValid() {
			t.Fatalf("%s in trace %s: parent %s, want %s", s.Name, id, s.Parent.SpanID(), parent)
		}
		if got := attr(s, telemetry.KeyChatID); got != chatOf[id] {
			t.Fatalf("%s in trace %s carries chat %q, want %q", s.Name, id, got, chatOf[id])
		}
		checked++
	}
	if checked != 2*actors*perActor {
		t.Errorf("checked %d actor spans, want %d", checked, 2*actors*perActor)
	}
}

func TestDisabledTracingChangesNothing(t *testing.T) {
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingOptions{NodeName: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Fatal("tracing without endpoint or exporter is enabled")
	}
	if opts := tr.PropsOptions(); opts != nil {
		t.Errorf("PropsOptions = %d options, want none", len(opts))
	}
	ctx, span := tr.StartSpan(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("a disabled tracing started a real span")
	}
	span.End()
	if h := tr.Inject(ctx); h != nil {
		t.Errorf("Inject = %v, want nil", h)
	}
	msg := &messages.ChatEvent{}
	if got := tr.Envelope(ctx, msg, nil); got != any(msg) {
		t.Errorf("Envelope wrapped the message: %#v", got)
	}

	// The middleware, used explicitly, pass messages and headers through.
	sys := newSystem(t)
	a, got := relay(t, sys, []actor.PropsOption{
		actor.WithContextDecorator(tr.ContextDecorator()),
		actor.WithReceiverMiddleware(tr.ReceiverMiddleware()),
		actor.WithSenderMiddleware(tr.SenderMiddleware()),
	})
	sys.Root.Send(a, &actor.MessageEnvelope{Header: map[string]string{"traceparent": "00-0102-0304-01"}, Message: &messages.ChatEvent{}})
	if h := receive(t, got); len(h) != 0 {
		t.Errorf("a disabled tracing passed on %v", h)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestExtractIgnoresHeaderCase(t *testing.T) {
	tr, _ := newTracing(t)
	ctx, span := tr.StartSpan(context.Background(), "x")
	defer span.End()
	h := map[string]string{"Traceparent": tr.Inject(ctx)[telemetry.HeaderTraceparent]}
	if got := trace.SpanContextFromContext(tr.Extract(h)); got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("extracted span %s, want %s", got.SpanID(), span.SpanContext().SpanID())
	}
	if got := trace.SpanContextFromContext(tr.Extract(map[string]string{"traceparent": "garbage"})); got.IsValid() {
		t.Errorf("extracted %v from garbage", got)
	}
}

// A real OTLP/HTTP export to a collector stand-in on loopback.
func TestExportsOverOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingOptions{Endpoint: srv.URL, NodeName: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("tracing with an endpoint is disabled")
	}
	_, span := tr.StartSpan(context.Background(), "x")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "POST /v1/traces application/x-protobuf" {
		t.Errorf("collector got %q, want one POST /v1/traces", paths)
	}
}

func TestNewTracingRejectsBadEndpoints(t *testing.T) {
	for _, ep := range []string{"127.0.0.1:4318", "ftp://host:21", "http://", "http://[::1"} {
		if _, err := telemetry.NewTracing(context.Background(), telemetry.TracingOptions{Endpoint: ep}); err == nil {
			t.Errorf("endpoint %q accepted", ep)
		} else if !strings.HasPrefix(err.Error(), "telemetry: ") {
			t.Errorf("endpoint %q: error %q lacks the package prefix", ep, err)
		}
	}
}
