package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Mode is the part a node plays: alone, or as the master or a slave of a
// cluster.
type Mode string

// The modes a node can run in.
const (
	// ModeStandalone is a single node doing everything, with no RabbitMQ.
	ModeStandalone Mode = "standalone"
	// ModeMaster is the cluster node that does the work that cannot be
	// split between nodes, such as assigning chats to operators.
	ModeMaster Mode = "master"
	// ModeSlave is a cluster node serving sessions; it follows the master.
	ModeSlave Mode = "slave"
)

// Store names accepted by the store key.
const (
	// StoreSQLite is the embedded store under DataDir, for standalone nodes.
	StoreSQLite = "sqlite"
	// StorePostgres is a PostgreSQL database reached through DBDSN.
	StorePostgres = "postgres"
)

// Config is the node's whole resolved configuration. Every field holds its
// documented default unless a flag or a main.ini key set it.
type Config struct {
	// Path is the main.ini path given with --config; "" means the node runs
	// on embedded defaults.
	Path string
	// NodeName is --node_name; "" in standalone mode.
	NodeName string
	// ClusterConfigPath is --cluster_config; "" in standalone mode.
	ClusterConfigPath string
	// Mode is standalone, master or slave.
	Mode Mode
	// Cluster is the cluster description; nil in standalone mode.
	Cluster *Cluster

	// Listen is the host:port the node listens on (key listen, default
	// "127.0.0.1:8080"; --port replaces the port).
	Listen string
	// MQ holds the mq_* keys used to reach RabbitMQ in cluster mode.
	MQ MQ
	// DataDir is the directory of the embedded store (key data_dir,
	// default "./data").
	DataDir string
	// AccountsFile is the accounts JSON path (key accounts_file); "" means
	// the built-in sample accounts of DefaultAccounts.
	AccountsFile string
	// Accounts are the loaded and validated departments and operators.
	Accounts *Accounts
	// Store is StoreSQLite or StorePostgres (key store; default postgres
	// when db_dsn is set, sqlite otherwise).
	Store string
	// DBDSN is the PostgreSQL connection string (key db_dsn). It may hold a
	// password: print RedactedDSN instead.
	DBDSN string
	// LogFormat is "text" or "json" (key log_format, flag --log_format).
	LogFormat string
	// LogLevel is "debug", "info", "warn" or "error" (key log_level).
	LogLevel string
	// AssignmentMode is "auto" (the assigner hands out chats) or "manual"
	// (operators take chats from the queue) (key assignment_mode).
	AssignmentMode string
	// AssignTick is the period of the assigner's periodic pass (key
	// assign_tick, default 1s).
	AssignTick time.Duration
	// ChatInactivityTimeout closes a chat nobody wrote in for this long
	// (key chat_inactivity_timeout, default 30m; 0 disables).
	ChatInactivityTimeout time.Duration
	// VisitorIdleTimeout passivates a visitor actor idle for this long (key
	// visitor_idle_timeout, default 10m).
	VisitorIdleTimeout time.Duration
	// MaxMessageLength is the longest accepted message text, in runes (key
	// max_message_length, default 8192).
	MaxMessageLength int
	// MaxBodyBytes is the largest accepted request body (key
	// max_body_bytes, default 65536).
	MaxBodyBytes int
	// LongPollTimeout is how long a delta long poll waits for news (key
	// long_poll_timeout, default 25s).
	LongPollTimeout time.Duration
	// WSPingInterval is the period of WebSocket pings (key
	// ws_ping_interval, default 25s).
	WSPingInterval time.Duration
	// WSSendQueue is the number of frames queued per WebSocket before the
	// connection counts as too slow (key ws_send_queue, default 256).
	WSSendQueue int
	// RateLimit is the sustained number of requests per second allowed per
	// token (key rate_limit, default 50).
	RateLimit float64
	// RateBurst is the number of requests a token may make at once above
	// RateLimit (key rate_burst, default 100).
	RateBurst int
	// FeedSize is the number of events kept per subscriber stream so that
	// a client can resume (key feed_size, default 1024).
	FeedSize int
	// GCPercent is the garbage collector's target, Go's GOGC: the heap may
	// grow by this percent of the live data before a collection (key
	// gc_percent, default 200). A GOGC environment variable takes
	// precedence.
	GCPercent int
	// RetentionDays is how long closed chats are kept; 0 keeps them forever
	// (key retention_days, default 0).
	RetentionDays int
	// TLSCertFile is the certificate file served over HTTPS (key
	// tls_cert_file); set together with TLSKeyFile or not at all.
	TLSCertFile string
	// TLSKeyFile is the private key of TLSCertFile (key tls_key_file).
	TLSKeyFile string
	// RealIPHeader names the header a trusted proxy in front sets to the
	// client's address (key real_ip_header, e.g. X-Real-IP); the per-address
	// rate limit of init and login uses it. Empty: the peer's address.
	RealIPHeader string
	// QueueViewSize is how many waiting chats an operator's queue view
	// shows, oldest first (key queue_view_size, default 100).
	QueueViewSize int
	// ActorSystemMetrics adds protoactor's own metrics (spawns, receive
	// times, futures) to /metrics (key actor_system_metrics, default
	// false: they cost about 0.6 µs per message).
	ActorSystemMetrics bool
	// AuthSecret signs operator tokens (key auth_secret, at least 16
	// characters, never printed). Every node of a cluster must have the same
	// one so that a token issued by one is accepted by all; unset, each
	// process makes a random one and tokens end with the process.
	AuthSecret string
	// OTLPEndpoint is the OpenTelemetry collector URL traces are exported
	// to (key otlp_endpoint); "" disables export.
	OTLPEndpoint string
	// TraceSampleRatio is the fraction of traces sampled, 0 to 1 (key
	// trace_sample_ratio, default 1).
	TraceSampleRatio float64
}

// Cluster describes the nodes of a cluster; it is read from the JSON file
// named by --cluster_config.
type Cluster struct {
	// Name is cluster_name; it prefixes the cluster's RabbitMQ objects.
	Name string
	// NodeNames is chat_server_node_names, every node of the cluster.
	NodeNames []string
	// MasterNodeName is chat_server_master_node_name, one of NodeNames.
	MasterNodeName string
}

// MQ holds the settings used to reach RabbitMQ.
type MQ struct {
	// Host is mq_host.
	Host string
	// Port is mq_port.
	Port int
	// Username is mq_username.
	Username string
	// Password is mq_password; it is never printed.
	Password string
	// VirtualHost is mq_virtual_host (default "/").
	VirtualHost string
	// NodeIDPrefix is mq_node_id_prefix (default "chatnode"); RabbitMQ
	// objects are named from it, the cluster name and the node name.
	NodeIDPrefix string
}

// URL returns the AMQP URL amqp://user:pass@host:port/vhost, with the
// virtual host path-escaped (so "/" becomes "%2F"). It holds the password:
// log Redacted instead.
func (m MQ) URL() string {
	return m.url(url.UserPassword(m.Username, m.Password).String())
}

// Redacted returns URL with the password replaced by "***", fit for logs.
func (m MQ) Redacted() string {
	return m.url(url.User(m.Username).String() + ":***")
}

// url builds the AMQP URL around the given escaped user information.
func (m MQ) url(userinfo string) string {
	return "amqp://" + userinfo + "@" +
		net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) + "/" + url.PathEscape(m.VirtualHost)
}

// RedactedDSN returns DBDSN with its password replaced by "***", fit for
// logs; "" when no DSN is set.
func (c *Config) RedactedDSN() string {
	return redactDSN(c.DBDSN)
}

// Summary returns one line describing the node for the startup log: mode,
// role, node and cluster names, listen address, TLS, store and the number of
// accounts. It holds no secrets.
func (c *Config) Summary() string {
	var b strings.Builder
	mode := "cluster"
	if c.Mode == ModeStandalone {
		mode = "standalone"
	}
	fmt.Fprintf(&b, "mode=%s role=%s", mode, c.Mode)
	if c.NodeName != "" {
		fmt.Fprintf(&b, " node=%s", c.NodeName)
	}
	if c.Cluster != nil {
		fmt.Fprintf(&b, " cluster=%s nodes=%d master=%s",
			c.Cluster.Name, len(c.Cluster.NodeNames), c.Cluster.MasterNodeName)
	}
	fmt.Fprintf(&b, " listen=%s", c.Listen)
	if c.TLSCertFile != "" {
		b.WriteString(" tls=on")
	} else {
		b.WriteString(" tls=off")
	}
	fmt.Fprintf(&b, " store=%s", c.Store)
	if c.Accounts != nil {
		source := "builtin"
		if c.AccountsFile != "" {
			source = c.AccountsFile
		}
		fmt.Fprintf(&b, " operators=%d departments=%d accounts=%s",
			len(c.Accounts.Operators), len(c.Accounts.Departments), source)
	}
	if c.Path != "" {
		fmt.Fprintf(&b, " config=%s", c.Path)
	} else {
		b.WriteString(" config=embedded")
	}
	return b.String()
}

// defaults returns a Config holding every documented default.
func defaults() *Config {
	return &Config{
		Mode:                  ModeStandalone,
		Listen:                "127.0.0.1:8080",
		MQ:                    MQ{VirtualHost: "/", NodeIDPrefix: "chatnode"},
		DataDir:               "./data",
		LogFormat:             "text",
		LogLevel:              "info",
		AssignmentMode:        "auto",
		AssignTick:            time.Second,
		ChatInactivityTimeout: 30 * time.Minute,
		VisitorIdleTimeout:    10 * time.Minute,
		MaxMessageLength:      8192,
		MaxBodyBytes:          65536,
		LongPollTimeout:       25 * time.Second,
		WSPingInterval:        25 * time.Second,
		WSSendQueue:           256,
		RateLimit:             50,
		RateBurst:             100,
		FeedSize:              1024,
		GCPercent:             200,
		TraceSampleRatio:      1,
		QueueViewSize:         100,
	}
}
