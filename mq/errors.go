package mq

import "errors"

var (
	// ErrNodeNameTaken means another running process holds this node name in
	// the cluster. Dial wraps it in an error naming the node and the cluster.
	ErrNodeNameTaken = errors.New("mq: node name already running")

	// ErrClosed is returned by operations on a link after Close.
	ErrClosed = errors.New("mq: link closed")

	// ErrNacked means the broker refused a published message (basic.nack).
	// The message was not stored; the caller may publish it again.
	ErrNacked = errors.New("mq: message rejected by broker")
)
