// Package clustertest runs chatnode as a real cluster: a master and a slave
// built from cmd/chatnode and started as separate processes, sharing a
// PostgreSQL database and a RabbitMQ broker on loopback, optionally behind
// nginx with the shipped deploy/nginx configuration.
//
// The package holds only tests. Each test gets its own database, its own
// RabbitMQ objects (a random mq_node_id_prefix and cluster name) and its own
// ports, and removes them when it ends. A test skips, naming the service,
// when RabbitMQ, PostgreSQL or nginx is missing; with CI=true it fails
// instead.
//
// The RabbitMQ restart test stops and starts the broker application, which
// disturbs every other user of the broker; it runs only when
// CHATNODE_BROKER_RESTART_TEST=1.
package clustertest
