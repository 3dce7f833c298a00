package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Span attribute keys set by the actor middleware; StartSpan callers may use
// them too.
const (
	KeyNode       = attribute.Key("chatnode.node")
	KeyActorKind  = attribute.Key("chatnode.actor.kind")
	KeyActor      = attribute.Key("chatnode.actor")
	KeyChatID     = attribute.Key("chatnode.chat_id")
	KeyOperatorID = attribute.Key("chatnode.operator_id")
	KeyVisitorID  = attribute.Key("chatnode.visitor_id")
)

// W3C Trace Context header names, as carried in actor envelopes and AMQP
// headers.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// DefaultServiceName is the service.name of exported spans when
// TracingOptions.ServiceName is empty.
const DefaultServiceName = "chatnode"

// tracesPath is the OTLP/HTTP path for traces, appended to the endpoint.
const tracesPath = "/v1/traces"

// TracingOptions configures NewTracing. The zero value turns tracing off.
type TracingOptions struct {
	// Endpoint is the OTLP/HTTP base URL of a collector, for example
	// http://127.0.0.1:4318; spans go to its /v1/traces. Empty turns tracing
	// off unless Exporter is set.
	Endpoint string
	// SampleRatio is the fraction of new traces recorded, in (0, 1]. Zero or
	// less, or more than 1, means 1: every trace. Traces continued from a
	// caller follow the caller's decision.
	SampleRatio float64
	// ServiceName is the service.name resource attribute. Default
	// DefaultServiceName.
	ServiceName string
	// NodeName and Role describe this node; NodeName is the
	// service.instance.id resource attribute and the chatnode.node span
	// attribute.
	NodeName, Role string
	// Exporter, if set, receives the spans instead of an OTLP exporter
	// (tests use an in-memory one).
	Exporter sdktrace.SpanExporter
}

// Tracing opens spans for actor messages and carries the W3C trace context
// between actors, HTTP handlers and RabbitMQ messages. A Tracing built with
// tracing off does nothing and costs next to nothing. All methods are safe
// for concurrent use.
type Tracing struct {
	enabled bool
	tp      *sdktrace.TracerProvider
	tracer  trace.Tracer
	node    attribute.KeyValue
	prop    propagation.TraceContext
	names   spanNames
}

// NewTracing sets up a tracer provider that samples new traces at
// opts.SampleRatio, follows the caller's decision for continued ones, and
// exports in batches in the background. Exporting never blocks actors: when
// the collector is slow or down, spans are dropped. ctx bounds only the set
// up. With neither Endpoint nor Exporter it returns a disabled Tracing.
func NewTracing(ctx context.Context, opts TracingOptions) (*Tracing, error) {
	t := &Tracing{node: KeyNode.String(opts.NodeName)}
	if opts.Endpoint == "" && opts.Exporter == nil {
		t.tracer = noop.NewTracerProvider().Tracer("")
		return t, nil
	}
	exp := opts.Exporter
	if exp == nil {
		u, err := tracesURL(opts.Endpoint)
		if err != nil {
			return nil, err
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u))
		if err != nil {
			return nil, fmt.Errorf("telemetry: create the OTLP exporter: %w", err)
		}
	}
	ratio := opts.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	service := opts.ServiceName
	if service == "" {
		service = DefaultServiceName
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", service)}
	if opts.NodeName != "" {
		attrs = append(attrs, attribute.String("service.instance.id", opts.NodeName), KeyNode.String(opts.NodeName))
	}
	if opts.Role != "" {
		attrs = append(attrs, attribute.String("chatnode.role", opts.Role))
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: build the trace resource: %w", err)
	}
	t.enabled = true
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(res),
	)
	t.tracer = t.tp.Tracer("github.com/chatnode/chatnode/telemetry")
	return t, nil
}

// tracesURL turns an OTLP/HTTP base URL into the traces URL.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("telemetry: invalid OTLP endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("telemetry: invalid OTLP endpoint %q: want http://host:port or https://host:port", endpoint)
	}
	if !strings.HasSuffix(u.Path, tracesPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + tracesPath
	}
	return u.String(), nil
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.enabled }

// Tracer returns the tracer spans are started with; a no-op tracer when
// tracing is off.
func (t *Tracing) Tracer() trace.Tracer { return t.tracer }

// ForceFlush exports the ended spans still waiting in the batch.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Shutdown exports what is left and stops the exporter; spans ended later
// are dropped. Call it once, after the actor system has stopped.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: shut down tracing: %w", err)
	}
	return nil
}

// StartSpan starts a span under the span or remote trace context in ctx (a
// new trace when there is none) with the chatnode.node attribute and attrs.
// The caller ends it.
func (t *Tracing) StartSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !t.enabled {
		return ctx, noop.Span{}
	}
	return t.tracer.Start(ctx, name, trace.WithAttributes(t.node), trace.WithAttributes(attrs...))
}

// Inject returns the traceparent (and tracestate) headers of the span in
// ctx, to put on an outgoing AMQP message or actor envelope. It returns nil
// when tracing is off or ctx holds no trace.
func (t *Tracing) Inject(ctx context.Context) map[string]string {
	if !t.enabled || !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	h := make(map[string]string, 2)
	t.prop.Inject(ctx, propagation.MapCarrier(h))
	return h
}

// Extract returns a context holding the remote trace context in headers
// (an AMQP message's, or an HTTP request's: the names are matched without
// regard to case). It is context.Background() when tracing is off or the
// headers hold no valid trace context.
func (t *Tracing) Extract(headers map[string]string) context.Context {
	if !t.enabled || len(headers) == 0 {
		return context.Background()
	}
	return t.prop.Extract(context.Background(), foldCarrier(headers))
}

// Envelope returns msg ready to send to an actor from outside the actor
// system (an HTTP handler, the RabbitMQ consumer) so that the actor's span
// continues the trace in ctx. sender, if not nil, is where the actor's
// Respond goes (a future's or another waiting request's PID). Without a
// trace and a sender it returns msg itself.
//
// Send the result with RootContext.Send: RequestFuture would wrap the
// envelope in another one.
func (t *Tracing) Envelope(ctx context.Context, msg any, sender *actor.PID) any {
	h := t.Inject(ctx)
	if h == nil && sender == nil {
		return msg
	}
	return &actor.MessageEnvelope{Header: h, Message: msg, Sender: sender}
}

// foldCarrier reads headers whose names may differ in case from the W3C
// ones. It is read-only.
type foldCarrier map[string]string

func (c foldCarrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return v
	}
	for k, v := range c {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func (c foldCarrier) Set(string, string) {}

func (c foldCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// headerCarrier reads an actor envelope's header. It is read-only: the
// header map may be shared with other envelopes.
type headerCarrier struct{ h actor.ReadonlyMessageHeader }

func (c headerCarrier) Get(key string) string { return c.h.Get(key) }
func (c headerCarrier) Set(string, string)    {}
func (c headerCarrier) Keys() []string        { return c.h.Keys() }
