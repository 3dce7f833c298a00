package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatnode/chatnode/mq"
	"github.com/chatnode/chatnode/store"
)

type mqMetrics struct {
	published, confirmed, nacked prometheus.Counter
	delivered, redelivered       prometheus.Counter
	reconnects                   prometheus.Counter
	confirmSeconds               prometheus.Histogram
	linkUp                       prometheus.Gauge
}

func (m *Metrics) registerDomainMetrics() {
	m.assignWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chatnode_assignment_wait_seconds",
		Help:    "Time a chat waits in the queue before an operator is assigned, by department.",
		Buckets: waitBuckets,
	}, []string{"department"})
	m.queueLength = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chatnode_queue_length",
		Help: "Chats waiting for an operator, by department.",
	}, []string{"department"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatnode_http_requests_total",
		Help: "HTTP requests answered, by route and status.",
	}, []string{"route", "status"})
	m.httpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chatnode_http_request_seconds",
		Help:    "Time to answer an HTTP request (long polls included), by route.",
		Buckets: httpBuckets,
	}, []string{"route"})
	m.storeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "chatnode_store_write_seconds",
		Help:    "Time to make one batch of changes durable (a journal append or a PostgreSQL transaction).",
		Buckets: storeBuckets,
	})
	m.storeWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chatnode_store_writes_total",
		Help: "Changes written to the store.",
	})
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m.mq = mqMetrics{
		published:   counter("chatnode_mq_published_total", "Messages written to RabbitMQ (each attempt)."),
		confirmed:   counter("chatnode_mq_confirmed_total", "Messages RabbitMQ confirmed."),
		nacked:      counter("chatnode_mq_nacked_total", "Messages RabbitMQ rejected."),
		delivered:   counter("chatnode_mq_delivered_total", "Messages consumed from RabbitMQ."),
		redelivered: counter("chatnode_mq_redelivered_total", "Consumed messages RabbitMQ marked as redelivered."),
		reconnects:  counter("chatnode_mq_reconnects_total", "Times the RabbitMQ link came back up after a loss."),
		confirmSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chatnode_mq_confirm_seconds",
			Help:    "Time from publishing to RabbitMQ's confirm.",
			Buckets: confirmBuckets,
		}),
		linkUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatnode_mq_link_up",
			Help: "1 while the RabbitMQ link is up, else 0.",
		}),
	}
	m.wrapped.MustRegister(
		m.assignWait, m.queueLength, m.httpRequests, m.httpSeconds, m.storeSeconds, m.storeWrites,
		m.mq.published, m.mq.confirmed, m.mq.nacked, m.mq.delivered, m.mq.redelivered,
		m.mq.reconnects, m.mq.confirmSeconds, m.mq.linkUp,
		&sessionsCollector{m: m}, &journalCollector{m: m},
	)
}

// AssignmentLatency records how long a chat of the department waited
// between being queued and being assigned.
func (m *Metrics) AssignmentLatency(department string, d time.Duration) {
	m.assignWait.WithLabelValues(m.departments.get(department)).Observe(d.Seconds())
}

// SetQueueLength sets the number of chats of the department waiting for an
// operator.
func (m *Metrics) SetQueueLength(department string, n int) {
	m.queueLength.WithLabelValues(m.departments.get(department)).Set(float64(n))
}

// RegisterSessions sets the function that counts open WebSocket sessions
// (visitor and operator side) and pending long polls. It is called on each
// scrape, from the scraping goroutine, and must be cheap and safe for
// concurrent use. A later call replaces the function; until the first, the
// gauges are 0.
func (m *Metrics) RegisterSessions(f func() (wsVisitor, wsOperator, longPolls int64)) {
	m.sessions.Store(&f)
}

var (
	wsDesc = prometheus.NewDesc("chatnode_websocket_sessions",
		"Open WebSocket sessions, by side (visitor or operator).", []string{"side"}, nil)
	longPollDesc = prometheus.NewDesc("chatnode_long_polls",
		"Long polls waiting for an answer.", nil, nil)
)

type sessionsCollector struct{ m *Metrics }

func (c *sessionsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- wsDesc
	ch <- longPollDesc
}

func (c *sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	var visitor, operator, polls int64
	if f := c.m.sessions.Load(); f != nil && *f != nil {
		visitor, operator, polls = (*f)()
	}
	ch <- prometheus.MustNewConstMetric(wsDesc, prometheus.GaugeValue, float64(visitor), "visitor")
	ch <- prometheus.MustNewConstMetric(wsDesc, prometheus.GaugeValue, float64(operator), "operator")
	ch <- prometheus.MustNewConstMetric(longPollDesc, prometheus.GaugeValue, float64(polls))
}

// RegisterJournal makes f the source of the chatnode_journal_* metrics. It
// is called on each scrape and must be cheap and safe for concurrent use.
// A node without a journal (a cluster node) never registers one, and its
// journal metrics stay 0.
func (m *Metrics) RegisterJournal(f func() store.JournalStats) {
	m.journal.Store(&f)
}

var (
	journalBacklogDesc = prometheus.NewDesc("chatnode_journal_backlog",
		"Changes durable in the store's journal and not yet applied to SQLite.", nil, nil)
	journalAppliedDesc = prometheus.NewDesc("chatnode_journal_applied_total",
		"Changes the journal applied to SQLite.", nil, nil)
	journalSecondsDesc = prometheus.NewDesc("chatnode_journal_apply_seconds_total",
		"Time the journal spent applying changes to SQLite.", nil, nil)
	journalFailuresDesc = prometheus.NewDesc("chatnode_journal_apply_failures_total",
		"Failed applies of the journal to SQLite; their changes stay in the journal and are retried.", nil, nil)
)

type journalCollector struct{ m *Metrics }

func (c *journalCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- journalBacklogDesc
	ch <- journalAppliedDesc
	ch <- journalSecondsDesc
	ch <- journalFailuresDesc
}

func (c *journalCollector) Collect(ch chan<- prometheus.Metric) {
	var s store.JournalStats
	if f := c.m.journal.Load(); f != nil && *f != nil {
		s = (*f)()
	}
	ch <- prometheus.MustNewConstMetric(journalBacklogDesc, prometheus.GaugeValue, float64(s.Backlog))
	ch <- prometheus.MustNewConstMetric(journalAppliedDesc, prometheus.CounterValue, float64(s.Applied))
	ch <- prometheus.MustNewConstMetric(journalSecondsDesc, prometheus.CounterValue, s.Applying.Seconds())
	ch <- prometheus.MustNewConstMetric(journalFailuresDesc, prometheus.CounterValue, float64(s.Failures))
}

// MQHooks returns hooks for mq.Options.Hooks that count what the RabbitMQ
// link publishes, gets confirmed or rejected, consumes and redelivers, its
// reconnections and confirm latency, and whether it is up.
func (m *Metrics) MQHooks() mq.Hooks {
	return mq.Hooks{
		Published: m.mq.published.Inc,
		Confirmed: func(d time.Duration) {
			m.mq.confirmed.Inc()
			m.mq.confirmSeconds.Observe(d.Seconds())
		},
		Nacked:      m.mq.nacked.Inc,
		Delivered:   m.mq.delivered.Inc,
		Redelivered: m.mq.redelivered.Inc,
		Reconnected: m.mq.reconnects.Inc,
		LinkUp: func(up bool) {
			if up {
				m.mq.linkUp.Set(1)
			} else {
				m.mq.linkUp.Set(0)
			}
		},
	}
}

// StoreBatch records one store write transaction of n changes that took d;
// it matches store.WriterOptions.OnBatch.
func (m *Metrics) StoreBatch(n int, d time.Duration) {
	m.storeSeconds.Observe(d.Seconds())
	m.storeWrites.Add(float64(n))
}

// HTTPRequest records an answered HTTP request. route must be the route's
// pattern (for example "/l/v/m/action"), never the raw path.
func (m *Metrics) HTTPRequest(route string, status int, d time.Duration) {
	route = m.routes.get(route)
	key := httpKey{route, status}
	v, ok := m.httpSeries.Load(key)
	if !ok {
		v, _ = m.httpSeries.LoadOrStore(key, &httpSeries{
			requests: m.httpRequests.WithLabelValues(route, statusLabel(status)),
			seconds:  m.httpSeconds.WithLabelValues(route),
		})
	}
	sr := v.(*httpSeries)
	sr.requests.Inc()
	sr.seconds.Observe(d.Seconds())
}

// httpKey names the series of one route and status. Routes are bounded
// by labelValues and statuses by HTTP, so the series kept are too.
type httpKey struct {
	route  string
	status int
}

// httpSeries is the request counter and duration histogram of an httpKey,
// looked up once: finding them by label values on every request cost more
// than the rest of the request's metrics.
type httpSeries struct {
	requests prometheus.Counter
	seconds  prometheus.Observer
}
