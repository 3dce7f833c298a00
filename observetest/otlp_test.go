package observetest

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// span is one exported span as the receiver decoded it; ids are in hex.
type span struct {
	TraceID, SpanID, ParentID string
	Name                      string
	Attrs                     map[string]string // the span's attributes
	Resource                  map[string]string // its resource's attributes
}

// node is the chatnode.node the span names, else its resource's.
func (s span) node() string {
	if n := s.Attrs["chatnode.node"]; n != "" {
		return n
	}
	return s.Resource["chatnode.node"]
}

func (s span) String() string {
	keys := make([]string, 0, len(s.Attrs))
	for k := range s.Attrs {
		if k != "chatnode.node" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s (span %s", s.node(), s.Name, s.SpanID)
	for _, k := range keys {
		fmt.Fprintf(&b, ", %s=%s", k, s.Attrs[k])
	}
	b.WriteString(")")
	return b.String()
}

// receiver is an OTLP/HTTP trace receiver: it takes POST /v1/traces with a
// protobuf ExportTraceServiceRequest, plain or gzipped, and keeps the spans.
type receiver struct {
	srv *httptest.Server

	mu    sync.Mutex
	spans []span
	bad   []string // requests it could not take
}

// newReceiver starts a receiver on loopback; it stops when the test ends,
// after the nodes started later have closed and sent their last spans.
func newReceiver(tb testing.TB) *receiver {
	tb.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(func() {
		r.srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, b := range r.bad {
			tb.Errorf("OTLP receiver: %s", b)
		}
	})
	return r
}

// endpoint is the receiver's base URL, the value of otlp_endpoint.
func (r *receiver) endpoint() string { return r.srv.URL }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		r.reject(w, http.StatusNotFound, "%s %s", req.Method, req.URL.Path)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		r.reject(w, http.StatusUnsupportedMediaType, "Content-Type %q", ct)
		return
	}
	var body io.Reader = req.Body
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.reject(w, http.StatusBadRequest, "gzip: %v", err)
			return
		}
		defer zr.Close()
		body = zr
	default:
		r.reject(w, http.StatusUnsupportedMediaType, "Content-Encoding %q", enc)
		return
	}
	b, err := io.ReadAll(body)
	if err != nil {
		r.reject(w, http.StatusBadRequest, "read the body: %v", err)
		return
	}
	var ex collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &ex); err != nil {
		r.reject(w, http.StatusBadRequest, "decode the body: %v", err)
		return
	}
	r.add(&ex)
	out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *receiver) reject(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.bad = append(r.bad, msg)
	r.mu.Unlock()
	http.Error(w, msg, status)
}

func (r *receiver) add(ex *collectorpb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range ex.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, span{
					TraceID:  hex.EncodeToString(s.GetTraceId()),
					SpanID:   hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()),
					Name:     s.GetName(),
					Attrs:    attrMap(s.GetAttributes()),
					Resource: res,
				})
			}
		}
	}
}

// trace returns the spans received so far of the trace id (hex).
func (r *receiver) trace(id string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if s.TraceID == id {
			out = append(out, s)
		}
	}
	return out
}

// attrMap turns OTLP attributes into strings.
func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.GetStringValue()
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(v.GetBoolValue())
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = strconv.FormatFloat(v.GetDoubleValue(), 'g', -1, 64)
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}
