package observetest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// dashboardPath is the shipped Grafana dashboard, from this directory.
var dashboardPath = filepath.Join("..", "deploy", "grafana", "chatnode.json")

// dashboard is the part of a Grafana dashboard model the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasource     `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
}

// query is the variable's query, given as a string or as
// {"query": "..."}.
func (v variable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &q)
	return q.Query
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if dec.More() {
		t.Fatalf("%s: data after the dashboard object", dashboardPath)
	}
	return d
}

// exprs returns every query of the dashboard's panels.
func (d dashboard) exprs() []string {
	var out []string
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, t.Expr)
		}
	}
	return out
}

// metricName matches the metric names a query may use.
var metricName = regexp.MustCompile(`\b(?:chatnode|go|process|protoactor)_[a-zA-Z0-9_]+\b`)

// The shipped dashboard is a well-formed Grafana model: a Prometheus data
// source variable, a node variable, panels that all query the chosen data
// source for the chosen nodes, laid out without overlap, covering every
// chatnode metric family.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and schemaVersion >= 36", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || v.query() != "prometheus" {
		t.Errorf("variable datasource = %+v, want a Prometheus data source variable", v)
	}
	if v := vars["node"]; v.Type != "query" || v.query() != "label_values(chatnode_actor_messages_total, node)" ||
		v.Datasource == nil || v.Datasource.UID != "${datasource}" || !v.Multi || !v.IncludeAll {
		t.Errorf("variable node = %+v (query %q), want label_values(chatnode_actor_messages_total, node) on ${datasource}, multi, with All", v, v.query())
	}

	ids := map[int]string{}
	type rect struct {
		title      string
		x, y, w, h int
	}
	var rects []rect
	for _, p := range d.Panels {
		if other, ok := ids[p.ID]; ok || p.ID == 0 {
			t.Errorf("panel %q has id %d, as has %q", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
			t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
		}
		for _, r := range rects {
			if g.X < r.x+r.w && r.x < g.X+g.W && g.Y < r.y+r.h && r.y < g.Y+g.H {
				t.Errorf("panel %q overlaps panel %q", p.Title, r.title)
			}
		}
		rects = append(rects, rect{p.Title, g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d queries: want ${datasource} and a query", p.Title, p.Datasource, len(p.Targets))
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if refs[q.RefID] || q.RefID == "" {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, q.RefID)
			}
			refs[q.RefID] = true
			if q.Datasource != nil && q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %s uses data source %+v", p.Title, q.RefID, q.Datasource)
			}
			if err := checkExpr(q.Expr); err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
			}
		}
	}

	used := map[string]bool{}
	for _, e := range d.exprs() {
		for _, m := range metricName.FindAllString(e, -1) {
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")] = true
		}
	}
	for _, family := range []string{
		"chatnode_actor_messages_total", "chatnode_actor_message_seconds", "chatnode_actor_mailbox_depth",
		"chatnode_actors_live", "chatnode_assignment_wait_seconds", "chatnode_queue_length",
		"chatnode_websocket_sessions", "chatnode_long_polls", "chatnode_http_requests_total",
		"chatnode_http_request_seconds", "chatnode_mq_published_total", "chatnode_mq_confirmed_total",
		"chatnode_mq_redelivered_total", "chatnode_mq_reconnects_total", "chatnode_mq_link_up",
		"chatnode_store_write_seconds", "chatnode_store_writes_total", "chatnode_journal_backlog",
		"chatnode_journal_applied_total", "chatnode_journal_apply_seconds_total", "chatnode_journal_apply_failures_total",
	} {
		if !used[family] {
			t.Errorf("no panel shows %s", family)
		}
	}
}

// checkExpr reports a query that does not select the chosen nodes or whose
// brackets do not pair.
func checkExpr(expr string) error {
	if strings.TrimSpace(expr) == "" {
		return fmt.Errorf("empty query")
	}
	// Every selector of a chatnode, go or process metric names the nodes.
	for _, loc := range metricName.FindAllStringIndex(expr, -1) {
		if rest := expr[loc[1]:]; !strings.HasPrefix(rest, `{node=~"$node"`) {
			return fmt.Errorf("query %q: %s does not select node=~\"$node\"", expr, expr[loc[0]:loc[1]])
		}
	}
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for _, r := range expr {
		switch {
		case r == '"':
			inString = !inString
		case inString:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return fmt.Errorf("query %q: unpaired %q", expr, r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 || inString {
		return fmt.Errorf("query %q: unclosed brackets or string", expr)
	}
	return nil
}

// checkDashboardMetrics checks that every metric the dashboard's queries
// name is a family of the scrape s, or a _bucket, _sum or _count series of
// one of its histograms.
func checkDashboardMetrics(t *testing.T, s scrape) {
	t.Helper()
	d := loadDashboard(t)
	var missing []string
	for _, e := range d.exprs() {
		for _, m := range metricName.FindAllString(e, -1) {
			if !exposed(s, m) && !slices.Contains(missing, m) {
				missing = append(missing, m)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("the dashboard queries metrics the node does not expose: %v\nthe node exposes: %v", missing, s.names())
	}
}

func exposed(s scrape, name string) bool {
	if _, ok := s[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := s[base]; f != nil && (f.GetType() == dto.MetricType_HISTOGRAM ||
				suffix != "_bucket" && f.GetType() == dto.MetricType_SUMMARY) {
				return true
			}
		}
	}
	return false
}
