package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// keySpec describes one main.ini key: how to store its value in a Config.
type keySpec struct {
	name string
	// set stores v in c and returns why v is not acceptable, or "".
	set func(c *Config, v string) string
}

// keySpecs returns every main.ini key, in the order of the sample main.ini.
func keySpecs() []keySpec {
	return []keySpec{
		{"listen", func(c *Config, v string) string { return setListen(&c.Listen, v) }},
		{"data_dir", func(c *Config, v string) string { return setNonEmpty(&c.DataDir, v) }},
		{"accounts_file", func(c *Config, v string) string { c.AccountsFile = v; return "" }},
		{"store", func(c *Config, v string) string { return setEnum(&c.Store, v, StoreSQLite, StorePostgres) }},
		{"db_dsn", func(c *Config, v string) string { c.DBDSN = v; return checkDSN(v) }},
		{"log_format", func(c *Config, v string) string { return setEnum(&c.LogFormat, v, "text", "json") }},
		{"log_level", func(c *Config, v string) string {
			return setEnum(&c.LogLevel, v, "debug", "info", "warn", "error")
		}},

		{"mq_host", func(c *Config, v string) string { return setHost(&c.MQ.Host, v) }},
		{"mq_port", func(c *Config, v string) string { return setPort(&c.MQ.Port, v, 1) }},
		{"mq_username", func(c *Config, v string) string { return setNonEmpty(&c.MQ.Username, v) }},
		{"mq_password", func(c *Config, v string) string { c.MQ.Password = v; return "" }},
		{"mq_virtual_host", func(c *Config, v string) string {
			if v == "" {
				return `must not be empty (the default virtual host is "/")`
			}
			c.MQ.VirtualHost = v
			return ""
		}},
		{"mq_node_id_prefix", func(c *Config, v string) string {
			c.MQ.NodeIDPrefix = v
			return checkName(v)
		}},

		{"assignment_mode", func(c *Config, v string) string {
			return setEnum(&c.AssignmentMode, v, "auto", "manual")
		}},
		{"assign_tick", func(c *Config, v string) string {
			return setDuration(&c.AssignTick, v, 10*time.Millisecond, time.Hour)
		}},
		{"chat_inactivity_timeout", func(c *Config, v string) string {
			return setDuration(&c.ChatInactivityTimeout, v, 0, 0)
		}},
		{"visitor_idle_timeout", func(c *Config, v string) string {
			return setDuration(&c.VisitorIdleTimeout, v, time.Second, 0)
		}},

		{"max_message_length", func(c *Config, v string) string {
			return setInt(&c.MaxMessageLength, v, 1, 1<<20)
		}},
		{"max_body_bytes", func(c *Config, v string) string { return setInt(&c.MaxBodyBytes, v, 1024, 64<<20) }},
		{"long_poll_timeout", func(c *Config, v string) string {
			return setDuration(&c.LongPollTimeout, v, time.Second, 10*time.Minute)
		}},
		{"ws_ping_interval", func(c *Config, v string) string {
			return setDuration(&c.WSPingInterval, v, time.Second, 10*time.Minute)
		}},
		{"ws_send_queue", func(c *Config, v string) string { return setInt(&c.WSSendQueue, v, 1, 1<<20) }},
		{"rate_limit", func(c *Config, v string) string {
			return setFloat(&c.RateLimit, v, 0, math.MaxFloat64, false)
		}},
		{"rate_burst", func(c *Config, v string) string { return setInt(&c.RateBurst, v, 1, 1<<30) }},
		{"feed_size", func(c *Config, v string) string { return setInt(&c.FeedSize, v, 1, 1<<24) }},
		{"gc_percent", func(c *Config, v string) string { return setInt(&c.GCPercent, v, 25, 10000) }},
		{"retention_days", func(c *Config, v string) string { return setInt(&c.RetentionDays, v, 0, 100*366) }},

		{"auth_secret", func(c *Config, v string) string {
			if len(v) < 16 {
				return "must be at least 16 characters"
			}
			c.AuthSecret = v
			return ""
		}},
		{"real_ip_header", func(c *Config, v string) string {
			for _, r := range v {
				if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
					return "must be a header name such as X-Real-IP"
				}
			}
			c.RealIPHeader = v
			return ""
		}},
		{"queue_view_size", func(c *Config, v string) string { return setInt(&c.QueueViewSize, v, 1, 10000) }},
		{"actor_system_metrics", func(c *Config, v string) string { return setBool(&c.ActorSystemMetrics, v) }},
		{"tls_cert_file", func(c *Config, v string) string { c.TLSCertFile = v; return "" }},
		{"tls_key_file", func(c *Config, v string) string { c.TLSKeyFile = v; return "" }},
		{"otlp_endpoint", func(c *Config, v string) string { c.OTLPEndpoint = v; return checkHTTPURL(v) }},
		{"trace_sample_ratio", func(c *Config, v string) string {
			// 0 would record nothing: leave otlp_endpoint unset to turn
			// tracing off.
			return setFloat(&c.TraceSampleRatio, v, 0, 1, false)
		}},
	}
}

// isSecretKey reports whether the value of key must never be printed as is.
func isSecretKey(key string) bool {
	return key == "mq_password" || key == "db_dsn" || key == "auth_secret"
}

// shownValue returns the value of key as a Problem may print it.
func shownValue(key, value string) string {
	switch key {
	case "mq_password", "auth_secret":
		return ""
	case "db_dsn":
		return redactDSN(value)
	}
	return value
}

func setNonEmpty(dst *string, v string) string {
	if v == "" {
		return "must not be empty"
	}
	*dst = v
	return ""
}

func setEnum(dst *string, v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return ""
		}
	}
	return "must be one of " + strings.Join(allowed, ", ")
}

func setInt(dst *int, v string, lo, hi int) string {
	n, err := strconv.Atoi(v)
	if err != nil {
		return "not an integer"
	}
	if n < lo || n > hi {
		return fmt.Sprintf("must be between %d and %d", lo, hi)
	}
	*dst = n
	return ""
}

// setFloat parses a number in [lo, hi], or in (lo, hi] when loIncluded is
// false.
func setFloat(dst *float64, v string, lo, hi float64, loIncluded bool) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return "not a number"
	}
	if f < lo || f > hi || (!loIncluded && f == lo) {
		if hi == math.MaxFloat64 {
			return fmt.Sprintf("must be greater than %g", lo)
		}
		return fmt.Sprintf("must be between %g and %g", lo, hi)
	}
	*dst = f
	return ""
}

// setDuration parses a Go duration of at least lo and, when hi > 0, at most
// hi.
func setDuration(dst *time.Duration, v string, lo, hi time.Duration) string {
	d, err := time.ParseDuration(v)
	if err != nil {
		return "not a duration (such as 500ms, 30s, 10m or 1h30m)"
	}
	switch {
	case d < lo && lo == 0:
		return "must not be negative"
	case d < lo:
		return "must be at least " + lo.String()
	case hi > 0 && d > hi:
		return "must be at most " + hi.String()
	}
	*dst = d
	return ""
}

// parsePort parses a TCP port number of at least lo.
func parsePort(v string, lo int) (int, string) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > 65535 {
		return 0, fmt.Sprintf("not a port number (%d-65535)", lo)
	}
	return n, ""
}

func setPort(dst *int, v string, lo int) string {
	n, reason := parsePort(v, lo)
	if reason == "" {
		*dst = n
	}
	return reason
}

func setHost(dst *string, v string) string {
	if v == "" {
		return "must not be empty"
	}
	if strings.ContainsAny(v, " \t/@") {
		return "not a host name or address"
	}
	*dst = v
	return ""
}

func setListen(dst *string, v string) string {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "not a host:port address (such as 127.0.0.1:8080 or :8080)"
	}
	if _, reason := parsePort(port, 0); reason != "" {
		return reason
	}
	*dst = net.JoinHostPort(host, port)
	return ""
}

// checkHTTPURL returns why v is not an http(s) URL with a host; "" is
// accepted (unset).
func checkHTTPURL(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "not an http:// or https:// URL with a host"
	}
	return ""
}

// checkDSN returns why v is not a PostgreSQL connection string; "" is
// accepted (unset).
func checkDSN(v string) string {
	const form = "not a PostgreSQL connection string (postgres://user:password@host:5432/db or host=... dbname=...)"
	switch {
	case v == "":
		return ""
	case strings.Contains(v, "://"):
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return form
		}
	case !strings.Contains(v, "="):
		return form
	}
	return ""
}

// redactDSN returns a PostgreSQL connection string with its passwords
// (password, sslpassword) replaced by "***". A URL that does not parse is not shown at all, as its
// password cannot be located reliably.
func redactDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	if !strings.Contains(dsn, "://") {
		kv := regexp.MustCompile(`(?i)(\b\w*password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)
		return kv.ReplaceAllString(dsn, "${1}***")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	query := regexp.MustCompile(`(?i)(^|&)(\w*password=)[^&]*`)
	u.RawQuery = query.ReplaceAllString(u.RawQuery, "${1}${2}***")
	if u.User == nil {
		return u.String()
	}
	_, hasPassword := u.User.Password()
	u.User = url.User(u.User.Username())
	s := u.String()
	if !hasPassword {
		return s
	}
	prefix := u.Scheme + "://" + u.User.String()
	if !strings.HasPrefix(s, prefix+"@") {
		return ""
	}
	return prefix + ":***" + s[len(prefix):]
}

// suggestKey returns the known key closest to an unknown one, or "" when
// none is close.
func suggestKey(unknown string, specs []keySpec) string {
	best, bestDist := "", 3
	for _, s := range specs {
		if d := editDistance(strings.ToLower(unknown), s.name); d < bestDist {
			best, bestDist = s.name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func setBool(dst *bool, v string) string {
	switch v {
	case "true", "on", "yes", "1":
		*dst = true
	case "false", "off", "no", "0":
		*dst = false
	default:
		return "must be true or false"
	}
	return ""
}
