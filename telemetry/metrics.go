package telemetry

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/chatnode/chatnode/store"
)

// ContentType is the media type of what Metrics.Write produces, for the
// /metrics response.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// maxLabelValues bounds the distinct departments and the distinct routes
// the metrics keep; further values are counted under "other".
const maxLabelValues = 200

// Histogram buckets, in seconds.
var (
	messageBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
	waitBuckets    = []float64{.1, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}
	storeBuckets   = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	httpBuckets    = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	confirmBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}
)

// Metrics holds the node's Prometheus metrics in a registry of its own:
// actor metrics by kind, domain and infrastructure metrics, the Go runtime
// and process collectors, and protoactor's built-in OpenTelemetry metrics.
// Every series carries the node and role labels given to NewMetrics. All
// methods are safe for concurrent use and never block.
type Metrics struct {
	reg      *prometheus.Registry
	wrapped  prometheus.Registerer
	provider metric.MeterProvider

	kinds [numKinds]kindMetrics

	assignWait  *prometheus.HistogramVec
	queueLength *prometheus.GaugeVec
	departments labelValues

	httpRequests *prometheus.CounterVec
	httpSeconds  *prometheus.HistogramVec
	routes       labelValues
	httpSeries   sync.Map // httpKey → *httpSeries

	storeSeconds prometheus.Histogram
	storeWrites  prometheus.Counter

	mq       mqMetrics
	sessions atomic.Pointer[func() (wsVisitor, wsOperator, longPolls int64)]
	journal  atomic.Pointer[func() store.JournalStats]
}

// NewMetrics builds the metrics of a node. node and role become labels of
// every series (left out when empty).
//
// It also sets the global OpenTelemetry meter provider to one that exports
// into the same registry, so that protoactor's metrics (meter "protoactor")
// appear when the actor system is created after this call with
// actor.WithMetricProviders(m.MeterProvider()). Make one Metrics per
// process.
func NewMetrics(node, role string) *Metrics {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{}
	if node != "" {
		labels["node"] = node
	}
	if role != "" {
		labels["role"] = role
	}
	m := &Metrics{
		reg:         reg,
		wrapped:     prometheus.WrapRegistererWith(labels, reg),
		departments: labelValues{max: maxLabelValues},
		routes:      labelValues{max: maxLabelValues},
	}
	m.wrapped.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.registerActorMetrics()
	m.registerDomainMetrics()

	exporter, err := otelprom.New(
		otelprom.WithRegisterer(m.wrapped),
		otelprom.WithoutTargetInfo(),
		otelprom.WithoutScopeInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		// Only a registration conflict fails, and the registry is new.
		panic(fmt.Sprintf("telemetry: create the OpenTelemetry Prometheus exporter: %v", err))
	}
	sdk := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exporter),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Name: "protoactor_actor_message_receive_duration_seconds"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: messageBuckets}},
		)),
	)
	m.provider = meterProvider{sdk}
	otel.SetMeterProvider(m.provider)
	return m
}

// MeterProvider returns the OpenTelemetry meter provider that exports into
// this registry; pass it to actor.WithMetricProviders. It leaves out
// protoactor's mailbox-length gauge, which at this protoactor version
// registers a callback per spawned actor and never removes it (a leak with
// short-lived actors); chatnode_actor_mailbox_depth replaces it.
func (m *Metrics) MeterProvider() metric.MeterProvider { return m.provider }

// Registerer registers further collectors; they get the node and role
// labels too.
func (m *Metrics) Registerer() prometheus.Registerer { return m.wrapped }

// Write writes every metric in the Prometheus text format (ContentType).
func (m *Metrics) Write(w io.Writer) error {
	families, gatherErr := m.reg.Gather()
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("telemetry: write metrics: %w", err)
		}
	}
	if gatherErr != nil {
		return fmt.Errorf("telemetry: gather metrics: %w", gatherErr)
	}
	return nil
}

// meterProvider hands protoactor a meter whose callbacks are never
// registered (see MeterProvider).
type meterProvider struct{ metric.MeterProvider }

func (p meterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	m := p.MeterProvider.Meter(name, opts...)
	if name == "protoactor" {
		return noCallbackMeter{m}
	}
	return m
}

type noCallbackMeter struct{ metric.Meter }

func (noCallbackMeter) RegisterCallback(metric.Callback, ...metric.Observable) (metric.Registration, error) {
	return noRegistration{}, nil
}

type noRegistration struct{ embedded.Registration }

func (noRegistration) Unregister() error { return nil }

// labelValues bounds the values of a label: the first max distinct values
// are kept, later ones become "other". The empty string is "none"; invalid
// UTF-8 is "other".
type labelValues struct {
	max   int
	known sync.Map // string → struct{}
	mu    sync.Mutex
	n     int
}

func (l *labelValues) get(v string) string {
	if v == "" {
		return "none"
	}
	if _, ok := l.known.Load(v); ok {
		return v
	}
	if !utf8.ValidString(v) {
		return "other"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.known.Load(v); ok {
		return v
	}
	if l.n >= l.max {
		return "other"
	}
	l.n++
	l.known.Store(v, struct{}{})
	return v
}

// statusLabel is an HTTP status code as a label value.
func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}
