// Package chatnode holds the domain vocabulary shared by every part of the
// chat backend: chat states, message kinds, operator statuses and the one
// error type whose codes are the API's error names.
//
// Behaviour lives in the subpackages: actors (the chat domain on actors),
// server (HTTP and WebSocket), store (durable state), mq (RabbitMQ), config
// (flags and files). Nothing here keeps state; everything is safe for
// concurrent use.
package chatnode
