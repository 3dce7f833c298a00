package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/telemetry"
)

func TestKindOf(t *testing.T) {
	for pid, want := range map[string]string{
		"visitors/v1#1":  "visitor",
		"visitors":       "visitors",
		"chats/c1#2":     "chat",
		"chats":          "chats",
		"operators/o#1":  "operator",
		"operators":      "operators",
		"assigner":       "assigner",
		"bridge":         "bridge",
		"bridge/x":       "other",
		"directory":      "other",
		"assigner/x":     "other",
		"future$12":      "other",
		"":               "other",
		"visitorsx/v1#1": "other",
	} {
		if got := telemetry.KindOf(pid); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", pid, got, want)
		}
	}
}

func TestMessageName(t *testing.T) {
	for _, c := range []struct {
		msg  any
		want string
	}{
		{&messages.ChatEvent{}, "ChatEvent"},
		{&route{msg: &messages.AssignChat{}}, "route:AssignChat"},
		{&route{msg: &route{msg: &answer{}}}, "route:route:answer"},
		{"text", "string"},
		{nil, "nil"},
	} {
		if got := telemetry.MessageName(c.msg); got != c.want {
			t.Errorf("MessageName(%T) = %q, want %q", c.msg, got, c.want)
		}
	}
}

// The header the sender middleware writes is the one the W3C propagator
// writes.
func TestTraceparentMatchesThePropagator(t *testing.T) {
	tr, _ := newTracing(t)
	ctx, span := tr.StartSpan(context.Background(), "x")
	defer span.End()
	want := tr.Inject(ctx)[telemetry.HeaderTraceparent]
	if got := telemetry.FormatTraceparent(span.SpanContext()); got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xab}, SpanID: trace.SpanID{0xcd}})
	if got, want := telemetry.FormatTraceparent(unsampled), "00-ab000000000000000000000000000000-cd00000000000000-00"; got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
}

func TestSampledFlag(t *testing.T) {
	for tp, want := range map[string]bool{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":     true,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03":     true,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0f":     true,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00":     false,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0e":     false,
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-xyz": true,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0":      false,
		"00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":     false,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0Z":     false,
		"": false,
	} {
		if got := telemetry.Sampled(tp); got != want {
			t.Errorf("sampled(%q) = %v, want %v", tp, got, want)
		}
	}
}
