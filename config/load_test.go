package config

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	cfg := mustLoad(t)
	want := defaults()
	want.Store = StoreSQLite
	want.Accounts = DefaultAccounts()
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Load() = %+v\nwant %+v", cfg, want)
	}
	if cfg.Mode != ModeStandalone || cfg.Cluster != nil || cfg.NodeName != "" {
		t.Fatalf("want standalone, got mode %q cluster %v node %q", cfg.Mode, cfg.Cluster, cfg.NodeName)
	}
	for _, s := range []string{"mode=standalone", "listen=127.0.0.1:8080", "store=sqlite", "operators=2", "config=embedded"} {
		if !strings.Contains(cfg.Summary(), s) {
			t.Errorf("Summary() = %q, want it to hold %q", cfg.Summary(), s)
		}
	}
}

// TestSampleFiles loads the files `task run`, `task run:master` and
// `task run:slave` start the node with, from the repository root.
func TestSampleFiles(t *testing.T) {
	t.Chdir("..")
	base := []string{"--config", "config/sample/main.ini"}
	cluster := []string{"--cluster_config", "config/sample/cluster.json"}

	cfg := mustLoad(t, base...)
	if cfg.Mode != ModeStandalone {
		t.Fatalf("mode %q, want standalone", cfg.Mode)
	}
	if !reflect.DeepEqual(cfg.Accounts, DefaultAccounts()) {
		t.Errorf("sample accounts.json = %+v, want DefaultAccounts()", cfg.Accounts)
	}
	want := defaults()
	want.Path, want.AccountsFile, want.Accounts = cfg.Path, cfg.AccountsFile, cfg.Accounts
	want.Store = StoreSQLite
	want.MQ = MQ{Host: "127.0.0.1", Port: 5672, Username: "guest", Password: "guest", VirtualHost: "/", NodeIDPrefix: "chatnode"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("sample main.ini differs from the defaults:\n got %+v\nwant %+v", cfg, want)
	}

	// The cluster sample: the same accounts and cluster JSON, plus the
	// shared PostgreSQL and the token secret every node needs.
	base = []string{"--config", "config/sample/cluster/main.ini"}
	master := mustLoad(t, append(append(base, cluster...), "--node_name", "master", "--multinode_mode=master")...)
	if master.Mode != ModeMaster || master.Cluster == nil || master.Cluster.Name != "default" {
		t.Fatalf("master: mode %q cluster %+v", master.Mode, master.Cluster)
	}
	slave := mustLoad(t, append(append(base, cluster...), "--node_name", "slave", "--multinode_mode=slave", "--port", "8270")...)
	if slave.Mode != ModeSlave || slave.Listen != "127.0.0.1:8270" || slave.NodeName != "slave" {
		t.Fatalf("slave: mode %q listen %q node %q", slave.Mode, slave.Listen, slave.NodeName)
	}
	if got, want := slave.MQ.URL(), "amqp://guest:guest@127.0.0.1:5672/%2F"; got != want {
		t.Errorf("MQ.URL() = %q, want %q", got, want)
	}
	if master.Store != StorePostgres || master.AuthSecret == "" || master.MQ.NodeIDPrefix != "chatnode" {
		t.Errorf("cluster sample: store %q, auth_secret set %v, prefix %q", master.Store, master.AuthSecret != "", master.MQ.NodeIDPrefix)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *Config, checkOnly bool)
	}{
		{"port replaces the listen port", []string{"--port", "9000"}, func(t *testing.T, c *Config, _ bool) {
			if c.Listen != "127.0.0.1:9000" {
				t.Errorf("Listen = %q", c.Listen)
			}
		}},
		{"port 0 for tests", []string{"-port=0"}, func(t *testing.T, c *Config, _ bool) {
			if c.Listen != "127.0.0.1:0" {
				t.Errorf("Listen = %q", c.Listen)
			}
		}},
		{"log_format", []string{"--log_format=json"}, func(t *testing.T, c *Config, _ bool) {
			if c.LogFormat != "json" {
				t.Errorf("LogFormat = %q", c.LogFormat)
			}
		}},
		{"check only", []string{"-t"}, func(t *testing.T, _ *Config, checkOnly bool) {
			if !checkOnly {
				t.Error("checkOnly = false")
			}
		}},
		{"check only false", []string{"-t=false"}, func(t *testing.T, _ *Config, checkOnly bool) {
			if checkOnly {
				t.Error("checkOnly = true")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, checkOnly, err := Load(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg, checkOnly)
		})
	}
}

func TestFlagOverridesINI(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "main.ini", "listen = 0.0.0.0:8080\nlog_format = text\n")
	cfg := mustLoad(t, "--config", path, "--port", "8270", "--log_format", "json")
	if cfg.Listen != "0.0.0.0:8270" || cfg.LogFormat != "json" {
		t.Fatalf("Listen %q LogFormat %q", cfg.Listen, cfg.LogFormat)
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []loc
	}{
		{"port not a number", []string{"--port", "abc"}, []loc{{FlagFile, 0, "--port"}}},
		{"port too large", []string{"--port=65536"}, []loc{{FlagFile, 0, "--port"}}},
		{"port negative", []string{"--port", "-1"}, []loc{{FlagFile, 0, "--port"}}},
		{"log_format", []string{"--log_format", "xml"}, []loc{{FlagFile, 0, "--log_format"}}},
		{"unknown flag", []string{"--nodename", "x"}, []loc{{FlagFile, 0, "--nodename"}, {FlagFile, 0, ""}}},
		{"missing value", []string{"--config"}, []loc{{FlagFile, 0, "--config"}}},
		{"empty config", []string{"--config="}, []loc{{FlagFile, 0, "--config"}}},
		{"missing config file", []string{"--config", "$DIR/nope.ini"}, []loc{{FlagFile, 0, "--config"}}},
		{"config is a directory", []string{"--config", "$DIR"}, []loc{{FlagFile, 0, "--config"}}},
		{"positional", []string{"serve"}, []loc{{FlagFile, 0, ""}}},
		{"after --", []string{"--", "-t"}, []loc{{FlagFile, 0, ""}}},
		{"bad -t", []string{"-t=maybe"}, []loc{{FlagFile, 0, "-t"}}},
		{"all at once", []string{"--port", "x", "--log_format", "yaml", "--bogus"},
			[]loc{{FlagFile, 0, "--bogus"}, {FlagFile, 0, "--port"}, {FlagFile, 0, "--log_format"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := loadProblems(t, expand(tt.args, t.TempDir())...)
			wantLocs(t, ps, tt.want...)
		})
	}
}

func TestBadFlagString(t *testing.T) {
	ps := loadProblems(t, "--node_name", "master", "--cluster_config", "x.json", "--multinode_mode", "boss")
	want := `flag --multinode_mode = "boss": must be master or slave`
	if !strings.Contains(ps.Error(), want) {
		t.Fatalf("problems:\n%s\nwant a line %q", ps.Error(), want)
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, _, err := Load([]string{arg}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Load(%q) error = %v, want flag.ErrHelp", arg, err)
		}
	}
	var b strings.Builder
	Usage(&b)
	for _, name := range []string{"--config", "--node_name", "--cluster_config", "--multinode_mode", "--port", "--log_format", "-t"} {
		if !strings.Contains(b.String(), name) {
			t.Errorf("Usage does not mention %s", name)
		}
	}
}

func TestErrorsAs(t *testing.T) {
	_, _, err := Load([]string{"--port", "x"})
	var value Problems
	if !errors.As(err, &value) || len(value) != 1 {
		t.Fatalf("errors.As(Problems) = %v", value)
	}
	var ptr *Problems
	if !errors.As(err, &ptr) || ptr == nil || len(*ptr) != 1 {
		t.Fatalf("errors.As(*Problems) = %v", ptr)
	}
	var fromValue *Problems
	if !errors.As(error(value), &fromValue) || len(*fromValue) != 1 {
		t.Fatal("errors.As(*Problems) from a Problems value failed")
	}
}

func TestDurationsAndNumbers(t *testing.T) {
	path := writeFile(t, t.TempDir(), "main.ini", `
assign_tick = 250ms
chat_inactivity_timeout = 0
visitor_idle_timeout = 1h30m
rate_limit = 2.5
trace_sample_ratio = 0.05
retention_days = 30
max_message_length = 100
max_body_bytes = 1024
`)
	c := mustLoad(t, "--config", path)
	if c.AssignTick != 250*time.Millisecond || c.ChatInactivityTimeout != 0 ||
		c.VisitorIdleTimeout != 90*time.Minute || c.RateLimit != 2.5 ||
		c.TraceSampleRatio != 0.05 || c.RetentionDays != 30 || c.MaxMessageLength != 100 || c.MaxBodyBytes != 1024 {
		t.Fatalf("got %+v", c)
	}
}
