package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/telemetry"
)

// How a node wires the package: metrics before the actor system, both
// sets of props options on every actor, traces started at the HTTP edge.
func Example_wiring() {
	ctx := context.Background()
	metrics := telemetry.NewMetrics("node-1", "master")
	tracing, err := telemetry.NewTracing(ctx, telemetry.TracingOptions{
		Endpoint:    "", // e.g. "http://127.0.0.1:4318"; empty: tracing off
		SampleRatio: 0.1,
		NodeName:    "node-1",
		Role:        "master",
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = tracing.Shutdown(ctx) }()

	system := actor.NewActorSystem(
		actor.WithMetricProviders(metrics.MeterProvider()),
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
	)
	defer system.Shutdown()
	propsOptions := func(kind string) []actor.PropsOption {
		return append(metrics.PropsOptions(kind), tracing.PropsOptions()...)
	}
	chat, _ := system.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*messages.ChatEvent); ok {
			c.Respond(ev)
		}
	}, propsOptions(telemetry.KindChat)...), "chats/c1#1")

	// An HTTP handler continues the caller's trace, or starts one.
	start := time.Now()
	reqCtx, span := tracing.StartSpan(tracing.Extract(map[string]string{"traceparent": "from the request"}), "POST /l/v/m/action")
	answer := actor.NewFuture(system, time.Second)
	system.Root.Send(chat, tracing.Envelope(reqCtx, &messages.ChatEvent{ChatId: "c1"}, answer.PID()))
	res, err := answer.Result()
	span.End()
	metrics.HTTPRequest("/l/v/m/action", 200, time.Since(start))

	// GET /metrics
	var body bytes.Buffer
	_ = metrics.Write(&body)
	fmt.Println(res.(*messages.ChatEvent).ChatId, err)
	fmt.Println(strings.Contains(body.String(), `chatnode_actor_messages_total{kind="chat",node="node-1",role="master"}`))
	// Output:
	// c1 <nil>
	// true
}
