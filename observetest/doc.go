// Package observetest checks what a running node tells its operators: the
// traces it exports over OTLP/HTTP and the metrics it serves at /metrics,
// and that the Grafana dashboard in deploy/grafana asks only for metrics a
// node exposes.
//
// The package holds only tests. They run nodes in-process (node.Main on a
// :0 port) and receive their spans with a small OTLP/HTTP receiver of their
// own. The cluster tests need RabbitMQ and PostgreSQL on loopback; each gets
// its own database and RabbitMQ names and removes them when it ends. A test
// skips, naming the service, when one is missing; with CI=true it fails
// instead.
package observetest
