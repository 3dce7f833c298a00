package config

import (
	"strings"
	"testing"
)

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "main.ini", Line: 12, Key: "mq_port", Value: "abc", Reason: "not a port number (1-65535)"},
			`main.ini:12: mq_port = "abc": not a port number (1-65535)`},
		{Problem{File: FlagFile, Key: "--multinode_mode", Value: "boss", Reason: "must be master or slave"},
			`flag --multinode_mode = "boss": must be master or slave`},
		{Problem{File: FlagFile, Key: "--node_name", Reason: "required in cluster mode"},
			`flag --node_name: required in cluster mode`},
		{Problem{File: FlagFile, Value: "serve", Reason: "unexpected argument"},
			`flag "serve": unexpected argument`},
		{Problem{File: "main.ini", Key: "mq_host", Reason: "required in cluster mode"},
			`main.ini: mq_host: required in cluster mode`},
		{Problem{File: "main.ini", Line: 3, Reason: "not a \"key = value\" line"},
			`main.ini:3: not a "key = value" line`},
		{Problem{Key: "x", Value: "a\nb", Reason: "bad"}, `x = "a\nb": bad`},
		{Problem{Reason: "bad"}, `bad`},
		{Problem{Key: "k", Value: strings.Repeat("v", 200), Reason: "long"},
			`k = "` + strings.Repeat("v", maxValueLen) + `...": long`},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %s\nwant       %s", got, tt.want)
		}
	}
	ps := Problems{tests[0].p, tests[1].p}
	if got, want := ps.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestMQURL(t *testing.T) {
	tests := []struct {
		mq            MQ
		url, redacted string
	}{
		{MQ{Host: "127.0.0.1", Port: 5672, Username: "guest", Password: "guest", VirtualHost: "/"},
			"amqp://guest:guest@127.0.0.1:5672/%2F", "amqp://guest:***@127.0.0.1:5672/%2F"},
		{MQ{Host: "mq", Port: 5671, Username: "chat node", Password: "p@ss:w/rd", VirtualHost: "chat/prod"},
			"amqp://chat%20node:p%40ss%3Aw%2Frd@mq:5671/chat%2Fprod", "amqp://chat%20node:***@mq:5671/chat%2Fprod"},
		{MQ{Host: "::1", Port: 5672, Username: "u", Password: "p", VirtualHost: "v"},
			"amqp://u:p@[::1]:5672/v", "amqp://u:***@[::1]:5672/v"},
	}
	for _, tt := range tests {
		if got := tt.mq.URL(); got != tt.url {
			t.Errorf("URL() = %q, want %q", got, tt.url)
		}
		if got := tt.mq.Redacted(); got != tt.redacted {
			t.Errorf("Redacted() = %q, want %q", got, tt.redacted)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"", ""},
		{"postgres://chat:s3cret@db:5432/chat?sslmode=disable", "postgres://chat:***@db:5432/chat?sslmode=disable"},
		{"postgres://chat@db/chat", "postgres://chat@db/chat"},
		{"postgres://db/chat?user=chat&password=s3cret&sslmode=disable", "postgres://db/chat?user=chat&password=***&sslmode=disable"},
		{"postgresql://chat:s3%40cret@db/chat", "postgresql://chat:***@db/chat"},
		{"postgres://chat:sec ret@db/chat", ""},
		{"host=db user=chat password=s3cret dbname=chat", "host=db user=chat password=*** dbname=chat"},
		{"host=db password = 's3 cret' dbname=chat", "host=db password = *** dbname=chat"},
		{"host=db PASSWORD='s3\\'cret' dbname=chat", "host=db PASSWORD=*** dbname=chat"},
		{"host=db sslpassword=s3cret sslmode=verify-full", "host=db sslpassword=*** sslmode=verify-full"},
		{"postgres://db/chat?sslpassword=s3cret", "postgres://db/chat?sslpassword=***"},
	}
	for _, tt := range tests {
		got := redactDSN(tt.dsn)
		if got != tt.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
		if strings.Contains(got, "s3") || strings.Contains(got, "sec ret") {
			t.Errorf("redactDSN(%q) leaks the password: %q", tt.dsn, got)
		}
	}
	c := &Config{DBDSN: tests[1].dsn}
	if c.RedactedDSN() != tests[1].want {
		t.Errorf("RedactedDSN() = %q", c.RedactedDSN())
	}
}

// TestSecretsNeverPrinted makes every kind of problem around the secret keys
// and checks that their values appear nowhere.
func TestSecretsNeverPrinted(t *testing.T) {
	const (
		mqSecret = "Hunter2-mq-secret"
		dbSecret = "Hunter2-db-secret"
	)
	dir := t.TempDir()
	cluster := writeFile(t, dir, "cluster.json", seedCluster)
	good := writeFile(t, dir, "good/main.ini", "mq_host = h\nmq_port = 5672\nmq_username = u\n"+
		"mq_password = "+mqSecret+"\nmq_virtual_host = /\ndb_dsn = postgres://u:"+dbSecret+"@db/chat\n")
	c := mustLoad(t, "--config", good, "--cluster_config", cluster, "--node_name", "slave", "--multinode_mode", "slave")
	outputs := map[string]string{
		"Summary":     c.Summary(),
		"MQ.Redacted": c.MQ.Redacted(),
		"RedactedDSN": c.RedactedDSN(),
	}

	bad := []string{
		// A bad value beside the secrets; the secrets are valid.
		"mq_password = " + mqSecret + "\ndb_dsn = postgres://u:" + dbSecret + "@db/chat\nmq_port = x\n",
		// Malformed quoting of the secret keys.
		"mq_password = \"" + mqSecret + "\ndb_dsn = \"postgres://u:" + dbSecret + "@db/chat\n",
		// A DSN that is wrong in itself, and one that conflicts with store.
		"db_dsn = mysql://u:" + dbSecret + "@db/chat\n",
		"store = sqlite\ndb_dsn = host=db password=" + dbSecret + "\n",
		"store = sqlite\ndb_dsn = postgres://u:" + dbSecret + "@db/chat\n",
		"db_dsn = postgres://u:" + dbSecret + " x@db/chat\nstore = sqlite\n",
		// Secrets under misspelt keys.
		"mq_pasword = " + mqSecret + "\ndbdsn = postgres://u:" + dbSecret + "@db/chat\n",
		// A secret on a line without '='.
		"mq_password " + mqSecret + "\n",
	}
	for i, content := range bad {
		path := writeFile(t, dir, "bad.ini", content)
		ps := loadProblems(t, "--config", path, "--cluster_config", cluster, "--node_name", "master", "--multinode_mode", "slave")
		outputs["problems of case "+string(rune('0'+i))] = ps.Error()
	}
	for name, out := range outputs {
		if strings.Contains(out, mqSecret) || strings.Contains(out, dbSecret) {
			t.Errorf("%s prints a secret:\n%s", name, out)
		}
	}
}
