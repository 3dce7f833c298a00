// Package loadgen drives a chatnode node, or a cluster, through its public
// API the way real clients do, and measures what happens.
//
// In chat mode, operators log in, go online and read their WebSocket;
// visitors open a visit session, read their delta stream (WebSocket or
// long poll), start a chat and, once an operator holds it, send messages
// at a fixed total rate with a bounded number of sends in flight.
// Optionally the operators answer every message. In idle mode, operators
// log in and hold many idle WebSockets while the node's resident memory is
// read before and after.
//
// Every message carries a client-side id made of the run's prefix and a
// sequence number. A message counts as delivered only when a frame that
// carries that id is read on the stream of the client it was meant for
// (the chat's operator, or for an answer the visitor); a second add frame
// for it is a duplicate. Latency runs from the start of the send to the
// arrival of that frame.
//
// The plain WebSockets of a chat run are read by one goroutine, a wsLoop
// over an epoll instance of its own, so that the load generator spends
// little of the processor time it shares with the node on wake-ups.
//
// Run is the entry point; ParseFlags builds Options from a command line.
// A run stops by itself: after the setup timeout, the duration and the
// drain, whatever the node does. Only loopback hosts are accepted unless
// Options.AllowRemote is set.
//
// Concurrency: Run may be called from several goroutines with separate
// Options; a Histogram may be recorded into from any goroutine. Nothing
// else here is meant for concurrent use by callers.
package loadgen
