package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseINI(t *testing.T) {
	data := "\xef\xbb\xbf; comment\r\n# another\n\n  listen = :9000  \r\nmq_password = \" spaced \\\"quoted\\\" \"\nempty =\nurl = a=b\n"
	entries, ps := parseINI("main.ini", []byte(data))
	if len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
	want := []iniEntry{
		{file: "main.ini", line: 4, key: "listen", value: ":9000"},
		{file: "main.ini", line: 5, key: "mq_password", value: ` spaced "quoted" `},
		{file: "main.ini", line: 6, key: "empty", value: ""},
		{file: "main.ini", line: 7, key: "url", value: "a=b"},
	}
	if len(entries) != len(want) {
		t.Fatalf("entries = %+v, want %+v", entries, want)
	}
	for i := range want {
		if entries[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, entries[i], want[i])
		}
	}
}

func TestBadINIValues(t *testing.T) {
	tests := []struct {
		name, content string
		want          []loc
	}{
		{"line without =", "listen = :1\njust words\n", []loc{{"main.ini", 2, ""}}},
		{"missing key", "= 5\n", []loc{{"main.ini", 1, ""}}},
		{"unclosed quote", "\n\nmq_host = \"abc\n", []loc{{"main.ini", 3, "mq_host"}}},
		{"unknown key", "log_format = json\nlog_formt = json\n", []loc{{"main.ini", 2, "log_formt"}}},
		{"listen not host:port", "listen = 8080\n", []loc{{"main.ini", 1, "listen"}}},
		{"listen bad port", "listen = :99999\n", []loc{{"main.ini", 1, "listen"}}},
		{"mq_port not a number", "mq_port = abc\n", []loc{{"main.ini", 1, "mq_port"}}},
		{"mq_port zero", "mq_port = 0\n", []loc{{"main.ini", 1, "mq_port"}}},
		{"mq_port too large", "mq_port = 70000\n", []loc{{"main.ini", 1, "mq_port"}}},
		{"mq_host empty", "mq_host =\n", []loc{{"main.ini", 1, "mq_host"}}},
		{"mq_host with space", "mq_host = a b\n", []loc{{"main.ini", 1, "mq_host"}}},
		{"mq_username empty", "mq_username = \"\"\n", []loc{{"main.ini", 1, "mq_username"}}},
		{"mq_virtual_host empty", "mq_virtual_host =\n", []loc{{"main.ini", 1, "mq_virtual_host"}}},
		{"mq_node_id_prefix charset", "mq_node_id_prefix = chat node\n", []loc{{"main.ini", 1, "mq_node_id_prefix"}}},
		{"mq_node_id_prefix empty", "mq_node_id_prefix =\n", []loc{{"main.ini", 1, "mq_node_id_prefix"}}},
		{"data_dir empty", "data_dir =\n", []loc{{"main.ini", 1, "data_dir"}}},
		{"store", "store = mysql\n", []loc{{"main.ini", 1, "store"}}},
		{"postgres without dsn", "store = postgres\n", []loc{{"main.ini", 1, "store"}}},
		{"dsn with sqlite", "store = sqlite\ndb_dsn = host=db\n", []loc{{"main.ini", 2, "db_dsn"}}},
		{"dsn malformed", "db_dsn = mysql://u:p@h/db\n", []loc{{"main.ini", 1, "db_dsn"}}},
		{"dsn not a dsn", "db_dsn = nonsense\n", []loc{{"main.ini", 1, "db_dsn"}}},
		{"log_format", "log_format = xml\n", []loc{{"main.ini", 1, "log_format"}}},
		{"log_level", "log_level = verbose\n", []loc{{"main.ini", 1, "log_level"}}},
		{"assignment_mode", "assignment_mode = random\n", []loc{{"main.ini", 1, "assignment_mode"}}},
		{"assign_tick no unit", "assign_tick = 1\n", []loc{{"main.ini", 1, "assign_tick"}}},
		{"assign_tick zero", "assign_tick = 0s\n", []loc{{"main.ini", 1, "assign_tick"}}},
		{"chat_inactivity_timeout negative", "chat_inactivity_timeout = -1m\n", []loc{{"main.ini", 1, "chat_inactivity_timeout"}}},
		{"visitor_idle_timeout zero", "visitor_idle_timeout = 0\n", []loc{{"main.ini", 1, "visitor_idle_timeout"}}},
		{"max_message_length zero", "max_message_length = 0\n", []loc{{"main.ini", 1, "max_message_length"}}},
		{"max_message_length text", "max_message_length = lots\n", []loc{{"main.ini", 1, "max_message_length"}}},
		{"max_body_bytes small", "max_body_bytes = 10\n", []loc{{"main.ini", 1, "max_body_bytes"}}},
		{"body below message", "max_message_length = 5000\nmax_body_bytes = 4096\n", []loc{{"main.ini", 2, "max_body_bytes"}}},
		{"message above body", "max_message_length = 100000\n", []loc{{"main.ini", 1, "max_message_length"}}},
		{"long_poll_timeout", "long_poll_timeout = 0s\n", []loc{{"main.ini", 1, "long_poll_timeout"}}},
		{"long_poll_timeout huge", "long_poll_timeout = 1h\n", []loc{{"main.ini", 1, "long_poll_timeout"}}},
		{"ws_ping_interval", "ws_ping_interval = 1ms\n", []loc{{"main.ini", 1, "ws_ping_interval"}}},
		{"ws_send_queue", "ws_send_queue = 0\n", []loc{{"main.ini", 1, "ws_send_queue"}}},
		{"rate_limit zero", "rate_limit = 0\n", []loc{{"main.ini", 1, "rate_limit"}}},
		{"rate_limit NaN", "rate_limit = NaN\n", []loc{{"main.ini", 1, "rate_limit"}}},
		{"rate_burst", "rate_burst = 0\n", []loc{{"main.ini", 1, "rate_burst"}}},
		{"feed_size", "feed_size = -5\n", []loc{{"main.ini", 1, "feed_size"}}},
		{"gc_percent off", "gc_percent = -1\n", []loc{{"main.ini", 1, "gc_percent"}}},
		{"gc_percent tiny", "gc_percent = 10\n", []loc{{"main.ini", 1, "gc_percent"}}},
		{"retention_days", "retention_days = -1\n", []loc{{"main.ini", 1, "retention_days"}}},
		{"otlp_endpoint", "otlp_endpoint = localhost:4318\n", []loc{{"main.ini", 1, "otlp_endpoint"}}},
		{"trace_sample_ratio", "trace_sample_ratio = 1.5\n", []loc{{"main.ini", 1, "trace_sample_ratio"}}},
		{"trace_sample_ratio zero", "trace_sample_ratio = 0\n", []loc{{"main.ini", 1, "trace_sample_ratio"}}},
		{"accounts_file missing", "\naccounts_file = /nonexistent/accounts.json\n", []loc{{"main.ini", 2, "accounts_file"}}},
		{"cert without key", "tls_cert_file = /x.crt\n", []loc{{"main.ini", 0, "tls_key_file"}}},
		{"key without cert", "tls_key_file = /x.key\n", []loc{{"main.ini", 0, "tls_cert_file"}}},
		{"tls files missing", "tls_cert_file = /no/x.crt\ntls_key_file = /no/x.key\n",
			[]loc{{"main.ini", 1, "tls_cert_file"}, {"main.ini", 2, "tls_key_file"}}},
		{"three problems at once", "mq_port = abc\nbogus = 1\nlog_level = loud\n",
			[]loc{{"main.ini", 1, "mq_port"}, {"main.ini", 2, "bogus"}, {"main.ini", 3, "log_level"}}},
		{"every kind at once", "mq_port = abc\nbogus = 1\nnot a line\nlog_level = loud\n",
			[]loc{{"main.ini", 1, "mq_port"}, {"main.ini", 2, "bogus"}, {"main.ini", 3, ""}, {"main.ini", 4, "log_level"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLocs(t, iniProblems(t, tt.content), tt.want...)
		})
	}
}

func TestGoodINIValues(t *testing.T) {
	tests := []struct {
		name, content string
		check         func(c *Config) bool
	}{
		{"duplicate key: last wins", "log_level = debug\nlog_level = warn\n", func(c *Config) bool { return c.LogLevel == "warn" }},
		{"dsn selects postgres", "db_dsn = postgres://u:p@db:5432/chat\n", func(c *Config) bool { return c.Store == StorePostgres }},
		{"key/value dsn", "store = postgres\ndb_dsn = host=db dbname=chat\n", func(c *Config) bool { return c.DBDSN == "host=db dbname=chat" }},
		{"ipv6 listen", "listen = [::1]:8080\n", func(c *Config) bool { return c.Listen == "[::1]:8080" }},
		{"overridden bad value ignored", "mq_port = abc\nmq_port = 5672\n", func(c *Config) bool { return c.MQ.Port == 5672 }},
		{"quoted value", "mq_virtual_host = \"/chat\"\n", func(c *Config) bool { return c.MQ.VirtualHost == "/chat" }},
		{"otlp", "otlp_endpoint = https://otel.example:4318\n", func(c *Config) bool { return c.OTLPEndpoint == "https://otel.example:4318" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "main.ini", tt.content)
			if c := mustLoad(t, "--config", path); !tt.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestUnknownKeySuggestion(t *testing.T) {
	ps := iniProblems(t, "mq_pasword = hunter2secret\n")
	wantLocs(t, ps, loc{"main.ini", 1, "mq_pasword"})
	if !strings.Contains(ps[0].Reason, "did you mean mq_password?") {
		t.Errorf("reason %q has no suggestion", ps[0].Reason)
	}
	if strings.Contains(ps.Error(), "hunter2secret") {
		t.Errorf("the value of an unknown key was printed: %s", ps.Error())
	}
}

func TestOverlays(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, dir, "main.ini", "log_level = debug\nlisten = :1000\nmq_node_id_prefix = main\n")
	writeFile(t, dir, "main.ini.d/20-b.ini", "listen = :2000\n")
	writeFile(t, dir, "main.ini.d/10-a.ini", "listen = :3000\nmq_node_id_prefix = a\n")
	writeFile(t, dir, "main.ini.d/30-c.ini.bak", "listen = bad\n")
	writeFile(t, dir, "main.ini.d/.hidden.ini", "listen = bad\n")
	writeFile(t, dir, "main.ini.d/dir.ini/x.ini", "listen = bad\n")
	c := mustLoad(t, "--config", main)
	if c.Listen != ":2000" || c.MQ.NodeIDPrefix != "a" || c.LogLevel != "debug" {
		t.Fatalf("Listen %q NodeIDPrefix %q LogLevel %q", c.Listen, c.MQ.NodeIDPrefix, c.LogLevel)
	}

	writeFile(t, dir, "main.ini.d/40-d.ini", "; comment\nws_send_queue = many\nbogus = 1\n")
	ps := loadProblems(t, "--config", main)
	wantLocs(t, ps, loc{"40-d.ini", 2, "ws_send_queue"}, loc{"40-d.ini", 3, "bogus"})
	if ps[0].File != filepath.Join(dir, "main.ini.d", "40-d.ini") {
		t.Errorf("File = %q, want the overlay's path", ps[1].File)
	}
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCertificate(t, dir)
	c := mustLoad(t, "--config", writeFile(t, dir, "main.ini", "tls_cert_file = "+cert+"\ntls_key_file = "+key+"\n"))
	if c.TLSCertFile != cert || c.TLSKeyFile != key || !strings.Contains(c.Summary(), "tls=on") {
		t.Fatalf("TLS files %q %q, summary %q", c.TLSCertFile, c.TLSKeyFile, c.Summary())
	}

	// A certificate with the wrong file as its key.
	ps := iniProblems(t, "tls_cert_file = "+cert+"\ntls_key_file = "+cert+"\n")
	wantLocs(t, ps, loc{"main.ini", 1, "tls_cert_file"})
	ps = iniProblems(t, "tls_cert_file = "+dir+"\ntls_key_file = "+key+"\n")
	wantLocs(t, ps, loc{"main.ini", 1, "tls_cert_file"})
}

// writeCertificate writes a self-signed certificate and its key to dir.
func writeCertificate(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, "tls.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, dir, "tls.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}
