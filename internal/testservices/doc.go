// Package testservices holds what chatnode's tests need to reach the
// services they run against: RabbitMQ and PostgreSQL on loopback, and the
// nodes' HTTP API.
//
// A test that needs a service calls NeedRabbitMQ or PostgresAdmin first.
// When the service is not there the test is skipped, or failed when the
// environment has CI=true, so that CI never passes by skipping. Each
// service is probed once per test binary. NewDatabase and DeleteCluster
// give a test its own database and clean up the RabbitMQ objects of the
// cluster it ran.
//
// Concurrency: every function is safe to call from parallel tests, and a
// SyncBuffer is safe for concurrent use.
package testservices
