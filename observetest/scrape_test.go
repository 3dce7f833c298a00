package observetest

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one answer of GET /metrics, parsed.
type scrape map[string]*dto.MetricFamily

// scrape reads the node's /metrics.
func (n *testNode) scrape(t testing.TB) scrape {
	t.Helper()
	a := n.mustDo(t, http.MethodGet, "/metrics", nil, nil)
	if a.Status != http.StatusOK || !strings.HasPrefix(a.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("node %s: GET /metrics: %d %s", n.name, a.Status, a.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(a.Body))
	if err != nil {
		t.Fatalf("node %s: parse /metrics: %v", n.name, err)
	}
	return fams
}

// names returns the names of the families, sorted.
func (s scrape) names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// series returns the metrics of family name whose labels include labels
// (pairs of name and value).
func (s scrape) series(name string, labels ...string) []*dto.Metric {
	f := s[name]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range f.GetMetric() {
		if hasLabels(m, labels...) {
			out = append(out, m)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, labels ...string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}) {
			return false
		}
	}
	return true
}

// value returns the value of the one counter or gauge series of name with
// labels, or an error when there is not exactly one.
func (s scrape) value(name string, labels ...string) (float64, error) {
	ms := s.series(name, labels...)
	if len(ms) != 1 {
		return 0, fmt.Errorf("%s%v: %d series, want 1", name, labels, len(ms))
	}
	m := ms[0]
	switch s[name].GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), nil
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue(), nil
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue(), nil
	}
	return 0, fmt.Errorf("%s is a %s, not a counter or gauge", name, s[name].GetType())
}

// histogram returns the one histogram series of name with labels.
func (s scrape) histogram(name string, labels ...string) (*dto.Histogram, error) {
	if f := s[name]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		return nil, fmt.Errorf("%s is not a histogram family of the scrape", name)
	}
	ms := s.series(name, labels...)
	if len(ms) != 1 {
		return nil, fmt.Errorf("%s%v: %d series, want 1", name, labels, len(ms))
	}
	return ms[0].GetHistogram(), nil
}

// labelValues returns the values label takes in family name, sorted.
func (s scrape) labelValues(name, label string) []string {
	var out []string
	for _, m := range s.series(name) {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && !slices.Contains(out, l.GetValue()) {
				out = append(out, l.GetValue())
			}
		}
	}
	slices.Sort(out)
	return out
}
