// Package server serves chatnode's HTTP and WebSocket API: the visitor side
// in Webim's mobile-SDK protocol (/l/v/m/...), the operator side of our own
// design (/l/o/...), both streams as WebSockets (/ws/v/delta, /ws/o/delta),
// and the node's /health and /metrics. It is the only package that imports
// fasthttp and the WebSocket library; docs/api.md describes the wire.
//
// Handlers hold no chat logic: each decodes its parameters (decode.go, pure
// functions that know nothing of HTTP), calls the [Backend] and encodes the
// answer, copying the Backend's raw JSON pieces into it. Every error
// travels through one table (errors.go) that gives its HTTP status and
// WebSocket close code; internal errors are logged here, once, and answered
// without details.
//
// Concurrency: a [Server] is safe for concurrent use, and calls its Backend
// from many goroutines at once. A long poll holds its request's goroutine
// inside the Backend call until news or the wait ends. A WebSocket holds one
// reader goroutine while idle; the sink a Backend stream pushes to never
// blocks: it queues up to Options.WSSendQueue updates and starts a
// short-lived writer goroutine to send them, and when the queue is full it
// refuses the update and closes the socket with 4008 slow-consumer.
package server
