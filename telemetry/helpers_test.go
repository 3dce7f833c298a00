package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/telemetry"
)

const waitTimeout = 5 * time.Second

// newSystem starts an actor system that logs nothing; it is shut down when
// the test ends.
func newSystem(tb testing.TB, opts ...actor.ConfigOption) *actor.ActorSystem {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts = append(opts, actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	sys := actor.NewActorSystem(opts...)
	tb.Cleanup(sys.Shutdown)
	return sys
}

// newTracing returns an enabled Tracing that exports to memory.
func newTracing(tb testing.TB) (*telemetry.Tracing, *tracetest.InMemoryExporter) {
	tb.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingOptions{NodeName: "n1", Role: "chat", Exporter: exp})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

// waitSpans flushes until at least n spans have been exported and returns
// them by name (the last of each name wins).
func waitSpans(tb testing.TB, tr *telemetry.Tracing, exp *tracetest.InMemoryExporter, n int) tracetest.SpanStubs {
	tb.Helper()
	var spans tracetest.SpanStubs
	testutil.WaitFor(tb, waitTimeout, func() error {
		if err := tr.ForceFlush(context.Background()); err != nil {
			return err
		}
		spans = exp.GetSpans()
		if len(spans) < n {
			return fmt.Errorf("%d spans exported, want %d", len(spans), n)
		}
		return nil
	})
	return spans
}

func spanNamed(tb testing.TB, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	tb.Helper()
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	tb.Fatalf("no span %q among %q", name, names)
	return tracetest.SpanStub{}
}

func attr(s tracetest.SpanStub, key attribute.Key) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

// scrape parses what m.Write produces.
func scrape(tb testing.TB, m *telemetry.Metrics) (string, map[string]*dto.MetricFamily) {
	tb.Helper()
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		tb.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		tb.Fatalf("parse the exposition: %v\n%s", err, buf.String())
	}
	return buf.String(), families
}

// sample finds the series of family name whose labels include labels
// ("k=v" pairs) and returns its value: a counter's or gauge's value, a
// histogram's count.
func sample(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// waitSample polls m until the series reaches want.
func waitSample(tb testing.TB, m *telemetry.Metrics, want float64, name string, labels ...string) {
	tb.Helper()
	testutil.WaitFor(tb, waitTimeout, func() error {
		_, fams := scrape(tb, m)
		got, ok := sample(fams, name, labels...)
		if !ok {
			return fmt.Errorf("no series %s%v", name, labels)
		}
		if got != want {
			return fmt.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
		return nil
	})
}
