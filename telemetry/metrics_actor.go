package telemetry

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// epoch anchors monotonic.
var epoch = time.Now()

// monotonic reads only the monotonic clock, one clock read where
// time.Now reads two; on virtual machines clock reads dominate the cost of
// timing a message.
func monotonic() time.Duration { return time.Since(epoch) }

// kindMetrics are the metrics of one actor kind; the children of the label
// vectors are resolved once, so the middleware does no label lookups.
// The counters senders and receivers update sit on cache lines of their
// own, apart from other kinds'.
type kindMetrics struct {
	messages prometheus.Counter
	seconds  prometheus.Observer
	failures prometheus.Counter
	restarts prometheus.Counter
	live     atomic.Int64
	_        [cacheLine]byte
	depth    atomic.Int64 // messages posted and not yet handled, all mailboxes
	maxDepth atomic.Int64 // largest one mailbox reached since the last scrape
	_        [cacheLine]byte
}

// cacheLine is a safe cache line size for padding (two 64-byte lines, as
// adjacent lines are fetched together).
const cacheLine = 128

func (k *kindMetrics) observeDepth(d int64) {
	for {
		m := k.maxDepth.Load()
		if d <= m || k.maxDepth.CompareAndSwap(m, d) {
			return
		}
	}
}

func (m *Metrics) registerActorMetrics() {
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatnode_actor_messages_total",
		Help: "Messages handled by actors, by actor kind (lifecycle messages excluded).",
	}, []string{"kind"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chatnode_actor_message_seconds",
		Help:    "Time actors take to handle a message, by actor kind.",
		Buckets: messageBuckets,
	}, []string{"kind"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatnode_actor_failures_total",
		Help: "Messages whose handler panicked, by actor kind.",
	}, []string{"kind"})
	restarts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatnode_actor_restarts_total",
		Help: "Actor restarts by the supervisor, by actor kind.",
	}, []string{"kind"})
	m.wrapped.MustRegister(messages, seconds, failures, restarts, &actorCollector{m: m})
	for i, kind := range kindNames {
		k := &m.kinds[i]
		k.messages = messages.WithLabelValues(kind)
		k.seconds = seconds.WithLabelValues(kind)
		k.failures = failures.WithLabelValues(kind)
		k.restarts = restarts.WithLabelValues(kind)
	}
}

// PropsOptions returns the options that measure an actor: the receiver
// middleware and an unbounded mailbox that reports its depth under kind.
// kind is one of the Kind constants; "directory" (KindDirectory) counts the
// three directories' mailboxes together, a directory's own name ("chats")
// counts its mailbox alone. Unknown kinds count as KindOther. The message
// metrics take their kind from the process id, whatever kind says.
func (m *Metrics) PropsOptions(kind string) []actor.PropsOption {
	return []actor.PropsOption{
		actor.WithReceiverMiddleware(m.ReceiverMiddleware()),
		actor.WithMailbox(m.Mailbox(kind)),
	}
}

// ReceiverMiddleware counts and times the messages an actor handles, under
// the kind its process id names (KindOf), and keeps the number of live
// actors: *actor.Started adds one, *actor.Stopped and *actor.Restarting
// take one away. Lifecycle messages are not counted as messages. A message
// whose handler panics is counted and timed, and counted as a failure.
func (m *Metrics) ReceiverMiddleware() actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			k := &m.kinds[kindIndex(c.Self().Id)]
			switch env.Message.(type) {
			case *actor.Started:
				k.live.Add(1)
				next(c, env)
				return
			case *actor.Stopped:
				k.live.Add(-1)
				next(c, env)
				return
			case *actor.Restarting:
				k.live.Add(-1)
				k.restarts.Inc()
				next(c, env)
				return
			case *actor.Stopping:
				next(c, env)
				return
			}
			start := monotonic()
			done := false
			defer func() {
				k.messages.Inc()
				k.seconds.Observe((monotonic() - start).Seconds())
				if !done {
					k.failures.Inc()
				}
			}()
			next(c, env)
			done = true
		}
	}
}

// Mailbox returns an unbounded mailbox producer whose mailboxes report to
// chatnode_actor_mailbox_depth{kind} (messages posted and not yet handled,
// summed over the kind's actors, the one in progress included) and
// chatnode_actor_mailbox_depth_max{kind} (the deepest single mailbox since
// the previous scrape). Use it as actor.WithMailbox(m.Mailbox(kind)).
func (m *Metrics) Mailbox(kind string) actor.MailboxProducer {
	k := &m.kinds[kindByName(kind)]
	return func() actor.Mailbox {
		return actor.Unbounded(&mailboxStats{kind: k})()
	}
}

// MailboxStats returns a mailbox middleware that reports to the kind's depth
// metrics, for a mailbox built by hand:
// actor.WithMailbox(actor.Unbounded(m.MailboxStats(kind))). One middleware
// shared by all the mailboxes of a kind, as there, makes the max metric
// the kind's total rather than the deepest single mailbox; Mailbox gives
// each mailbox its own.
func (m *Metrics) MailboxStats(kind string) actor.MailboxMiddleware {
	return &mailboxStats{kind: &m.kinds[kindByName(kind)]}
}

// mailboxStats counts what is posted to and handled from the mailboxes it
// is given to. Posting happens on the senders' goroutines, so all counts
// are atomic. A mailbox of an actor stopped while suspended after a failure
// keeps its messages, and they stay counted.
type mailboxStats struct {
	depth atomic.Int64
	kind  *kindMetrics
}

func (s *mailboxStats) MailboxStarted() {}
func (s *mailboxStats) MailboxEmpty()   {}

func (s *mailboxStats) MessagePosted(any) {
	d := s.depth.Add(1)
	s.kind.depth.Add(1)
	s.kind.observeDepth(d)
}

func (s *mailboxStats) MessageReceived(any) {
	s.depth.Add(-1)
	s.kind.depth.Add(-1)
}

// actorCollector reports the live actor and mailbox depth gauges from the
// atomic counters.
type actorCollector struct{ m *Metrics }

var (
	liveDesc = prometheus.NewDesc("chatnode_actors_live",
		"Actors running, by actor kind.", []string{"kind"}, nil)
	depthDesc = prometheus.NewDesc("chatnode_actor_mailbox_depth",
		"Messages posted to the kind's mailboxes and not yet handled.", []string{"kind"}, nil)
	maxDepthDesc = prometheus.NewDesc("chatnode_actor_mailbox_depth_max",
		"Deepest single mailbox of the kind since the previous scrape.", []string{"kind"}, nil)
)

func (c *actorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- liveDesc
	ch <- depthDesc
	ch <- maxDepthDesc
}

func (c *actorCollector) Collect(ch chan<- prometheus.Metric) {
	for i, kind := range kindNames {
		k := &c.m.kinds[i]
		ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, float64(max(k.live.Load(), 0)), kind)
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(max(k.depth.Load(), 0)), kind)
		ch <- prometheus.MustNewConstMetric(maxDepthDesc, prometheus.GaugeValue, float64(k.maxDepth.Swap(0)), kind)
	}
}
