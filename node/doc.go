// Package node assembles one chatnode process from its configuration: the
// store and its group-commit writer, the actors, the HTTP/WebSocket server
// and, in a cluster, the RabbitMQ link. cmd/chatnode only parses flags and
// waits for signals; end-to-end tests run a Main in-process on a :0 port.
//
// A Main is used by one goroutine: Run, then Close.
package node
