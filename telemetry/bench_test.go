package telemetry_test

import (
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/telemetry"
)

// pipeline sends b.N copies of msg from the root to a visitor actor that
// passes each to a chat actor, both built with opts, and reports the time
// per message through the two actors as ns/msg.
func pipeline(b *testing.B, sys *actor.ActorSystem, opts []actor.PropsOption, msg any) {
	b.Helper()
	want, count := b.N, 0
	done := make(chan struct{})
	chat, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.ChatEvent); ok {
			if count++; count == want {
				close(done)
			}
		}
	}, opts...), "chats/c1#1")
	if err != nil {
		b.Fatal(err)
	}
	visitor, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if ev, ok := ctx.Message().(*messages.ChatEvent); ok {
			ctx.Send(chat, ev)
		}
	}, opts...), "visitors/v1#1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sys.Root.Send(visitor, msg)
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
}

func BenchmarkReceiveTracingOff(b *testing.B) {
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ev := &messages.ChatEvent{ChatId: "c1"}
	// What the lead wires: PropsOptions is empty when tracing is off.
	b.Run("props", func(b *testing.B) {
		pipeline(b, newSystem(b), tr.PropsOptions(), ev)
	})
	// The pass-through middleware given explicitly.
	b.Run("middleware", func(b *testing.B) {
		pipeline(b, newSystem(b), []actor.PropsOption{
			actor.WithContextDecorator(tr.ContextDecorator()),
			actor.WithReceiverMiddleware(tr.ReceiverMiddleware()),
			actor.WithSenderMiddleware(tr.SenderMiddleware()),
		}, ev)
	})
}

func BenchmarkReceiveTracingOn(b *testing.B) {
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingOptions{NodeName: "n1", Exporter: tracetest.NewNoopExporter()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	ev := &messages.ChatEvent{ChatId: "c1", VisitorId: "v1"}
	b.Run("untraced", func(b *testing.B) {
		pipeline(b, newSystem(b), tr.PropsOptions(), ev)
	})
	b.Run("sampled", func(b *testing.B) {
		ctx, span := tr.StartSpan(context.Background(), "root")
		defer span.End()
		pipeline(b, newSystem(b), tr.PropsOptions(), tr.Envelope(ctx, ev, nil))
	})
	b.Run("unsampled", func(b *testing.B) {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true})
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)
		pipeline(b, newSystem(b), tr.PropsOptions(), tr.Envelope(ctx, ev, nil))
	})
}

func BenchmarkReceiveMetrics(b *testing.B) {
	ev := &messages.ChatEvent{ChatId: "c1"}
	b.Run("off", func(b *testing.B) {
		pipeline(b, newSystem(b), nil, ev)
	})
	b.Run("on", func(b *testing.B) {
		m := telemetry.NewMetrics("n1", "chat")
		pipeline(b, newSystem(b), m.PropsOptions(telemetry.KindChat), ev)
	})
	// With protoactor's own metrics switched on as well.
	b.Run("on+protoactor", func(b *testing.B) {
		m := telemetry.NewMetrics("n1", "chat")
		pipeline(b, newSystem(b, actor.WithMetricProviders(m.MeterProvider())), m.PropsOptions(telemetry.KindChat), ev)
	})
}
