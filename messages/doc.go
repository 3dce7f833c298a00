// Package messages holds the protobuf messages that chatnode's actors exchange
// inside a node and that nodes exchange through RabbitMQ, with their generated
// Go code. The .proto files are the source; `task generate` regenerates the
// Go code from them.
//
// Every message carries ids and values only, never process addresses, so a
// message means the same on every node of a cluster.
package messages

//go:generate protoc --go_out=. --go_opt=paths=source_relative -I . chat.proto assign.proto cluster.proto
