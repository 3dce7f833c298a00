package mq

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RouteAll is the routing key that reaches every node of the cluster, the
// sender included.
const RouteAll = "all"

// RouteNode returns the routing key that reaches only the named node.
func RouteNode(node string) string { return "node." + node }

// RoutePeers returns the routing key that reaches every node of the
// cluster but the named one: what a node publishes for all the others.
// Each node's queue is bound to RoutePeers(p) for every one of its Peers,
// so the broker does not queue a node's broadcasts back to it.
func RoutePeers(node string) string { return "peers." + node }

// Defaults applied by Dial to zero fields of Options.
const (
	DefaultURL          = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultPrefix       = "chatnode"
	DefaultReconnectMin = 100 * time.Millisecond
	DefaultReconnectMax = 5 * time.Second
	DefaultPrefetch     = 256
)

// Options configures a Link. Zero fields take the documented defaults;
// Cluster and Node are required.
type Options struct {
	// URL of the broker, amqp://user:pass@host:port/vhost. Default DefaultURL.
	URL string
	// Prefix starts every object name (mq_node_id_prefix). Default "chatnode".
	Prefix string
	// Cluster is the cluster name.
	Cluster string
	// Node is this node's name, unique among the running nodes of the cluster.
	Node string
	// Peers are the names of the cluster's nodes (Node itself is skipped):
	// the queue gets what each of them publishes with RoutePeers.
	Peers []string
	// Logger receives link up/down transitions and handler errors. Nil
	// discards them.
	Logger *slog.Logger
	// ReconnectMin and ReconnectMax bound the jittered exponential back-off
	// between reconnection attempts. Defaults 100ms and 5s.
	ReconnectMin, ReconnectMax time.Duration
	// Prefetch is how many unacknowledged deliveries the broker may push to
	// the consumer. Default 256.
	Prefetch int
	// Hooks receive metric events; nil hooks are skipped.
	Hooks Hooks
}

// Hooks are optional callbacks for metrics. Each may be nil. They are called
// from the link's goroutines and must not block.
type Hooks struct {
	// Published is called when a message has been written to the broker,
	// once per attempt (re-publishing after a reconnect counts again).
	Published func()
	// Confirmed is called when the broker confirms a message, with the time
	// since the caller's Publish began.
	Confirmed func(latency time.Duration)
	// Nacked is called when the broker rejects a message.
	Nacked func()
	// Delivered is called for each delivery handed to the handler.
	Delivered func()
	// Redelivered is called, in addition to Delivered, for deliveries the
	// broker marks as redelivered.
	Redelivered func()
	// Reconnected is called each time the link comes back up after a loss.
	Reconnected func()
	// LinkUp is called with true when the link comes up and false when it
	// goes down or is closed.
	LinkUp func(up bool)
}

func (h *Hooks) published() {
	if h.Published != nil {
		h.Published()
	}
}

func (h *Hooks) confirmed(d time.Duration) {
	if h.Confirmed != nil {
		h.Confirmed(d)
	}
}

func (h *Hooks) nacked() {
	if h.Nacked != nil {
		h.Nacked()
	}
}

func (h *Hooks) delivered(redelivered bool) {
	if h.Delivered != nil {
		h.Delivered()
	}
	if redelivered && h.Redelivered != nil {
		h.Redelivered()
	}
}

func (h *Hooks) reconnected() {
	if h.Reconnected != nil {
		h.Reconnected()
	}
}

func (h *Hooks) linkUp(up bool) {
	if h.LinkUp != nil {
		h.LinkUp(up)
	}
}

// withDefaults fills zero fields and checks the names.
func (o Options) withDefaults() (Options, error) {
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = DefaultReconnectMin
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = DefaultReconnectMax
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.Prefetch <= 0 {
		o.Prefetch = DefaultPrefetch
	}
	if o.Prefetch > 65535 {
		o.Prefetch = 65535
	}
	var errs []error
	for _, f := range []struct{ key, val string }{
		{"prefix", o.Prefix}, {"cluster", o.Cluster}, {"node", o.Node},
	} {
		if err := checkName(f.val); err != nil {
			errs = append(errs, fmt.Errorf("mq: %s %q: %w", f.key, f.val, err))
		}
	}
	if n := len(queueName(o.Prefix, o.Cluster, o.Node)); n > 255 {
		errs = append(errs, fmt.Errorf("mq: queue name would be %d bytes, the limit is 255", n))
	}
	return o, errors.Join(errs...)
}

// checkName rejects names that would break object names or act as topic
// wildcards.
func checkName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return r == '*' || r == '#' || r <= ' ' || r == 0x7f
	}); i >= 0 {
		return fmt.Errorf("must not contain %q", s[i])
	}
	return nil
}

func exchangeName(prefix, cluster string) string { return prefix + "." + cluster + ".x" }

func queueName(prefix, cluster, node string) string {
	return prefix + "." + cluster + ".node." + node
}

func lockName(prefix, cluster, node string) string {
	return prefix + "." + cluster + ".lock." + node
}

// brokerAddr parses url and returns "host:port/vhost" for messages. Errors
// never repeat the URL, which may hold a password.
func brokerAddr(rawURL string) (string, error) {
	u, err := amqp.ParseURI(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("mq: invalid broker URL: %w", err)
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) + "/" + url.PathEscape(u.Vhost), nil
}
