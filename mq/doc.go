// Package mq links the nodes of one chatnode cluster through RabbitMQ. It is
// the only package that imports the AMQP client.
//
// The package moves opaque bodies with string headers and knows nothing about
// chats. Every node owns one durable queue bound to a topic exchange shared by
// the cluster; a message is routed to one node ([RouteNode]), to every node
// but its sender ([RoutePeers]) or to every node ([RouteAll], the sender
// included). Object names are derived from
// Options.Prefix, Options.Cluster and Options.Node, so several clusters can
// share a vhost:
//
//	exchange    <prefix>.<cluster>.x            topic, durable
//	node queue  <prefix>.<cluster>.node.<node>  durable, bound to "all", "node.<node>"
//	                                            and "peers.<peer>" for each of Options.Peers
//	lock queue  <prefix>.<cluster>.lock.<node>  exclusive, held while the node runs
//
// The lock queue keeps two processes from running under one node name: a
// second [Dial] with a name already running fails with [ErrNodeNameTaken].
//
// Delivery is at least once. [Link.Publish] returns after the broker has
// confirmed the message; a message in flight when the connection dies is
// published again after reconnection, and a handler error requeues the
// delivery. Receivers therefore see duplicates now and then and drop them by
// event id, for example with a [Dedup].
//
// Concurrency: a [Link] is safe for use by many goroutines. Publish calls from
// many goroutines are pipelined on one confirm-mode channel. The Consume
// handler runs on a single goroutine, one delivery at a time in arrival
// order; it should not block for long, and it must return soon after its
// context is cancelled, because [Link.Close] waits for it. Hooks are called
// from the link's internal goroutines and must be fast and non-blocking. A
// [Dedup] is not safe for concurrent use.
package mq
