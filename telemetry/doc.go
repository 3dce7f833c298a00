// Package telemetry gives a node its traces and metrics: OpenTelemetry spans
// for actor messages, carried across actors, HTTP requests and RabbitMQ
// messages as W3C trace context, and Prometheus metrics served at /metrics.
//
// # Tracing
//
// NewTracing builds a Tracing; with no OTLP endpoint it is disabled and its
// middleware pass messages through untouched. An actor is traced by adding
// Tracing.PropsOptions() to its props (a context decorator, a receiver and
// a sender middleware; nothing when disabled). Its receiver middleware
// opens a span for each message whose envelope header carries a trace
// context, named "<kind> <message type>" ("chat ChatEvent"); the kind comes
// from the process id (KindOf). Its sender middleware puts the handler's
// span on every message the actor sends, so the next actor's span is a
// child. Messages without a trace context get no span: a trace begins at an
// edge, where an HTTP handler or the RabbitMQ consumer calls StartSpan and
// sends with Envelope. Inside an actor, ContextOf gives a
// context.Context holding the current trace, for Inject into AMQP headers.
//
// # Metrics
//
// NewMetrics builds a Prometheus registry of the node's own (not the global
// default) with actor metrics by kind (Metrics.PropsOptions), mailbox
// depth, domain metrics (assignment wait, queue length, sessions),
// infrastructure metrics (RabbitMQ hooks, store batches, HTTP requests),
// the Go and process collectors and protoactor's own metrics. Write renders
// it in the text format for /metrics. Label values are bounded: kinds are
// fixed; departments and routes keep their first 200 distinct values each
// and count the rest as "other".
//
// # Wiring
//
// Create the Metrics before the actor system, and create the system with
// actor.WithMetricProviders(metrics.MeterProvider()) to get protoactor's
// own metrics. Give every actor's props metrics.PropsOptions(kind)
// followed by tracing.PropsOptions(): the metrics middleware then wraps
// the tracing one and its timing includes it. Serve Metrics.Write with
// ContentType.
//
// # Concurrency
//
// Tracing and Metrics are safe for concurrent use. The middleware run on
// the actor's goroutine; the tracing state of an actor (the span of the
// message it handles) lives in that actor's own context and is never
// shared. Metric counters are atomic, and no hook blocks.
package telemetry
