package loadgen

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Modes of a run.
const (
	ModeChat = "chat" // visitors chat with operators; delivery is measured
	ModeIdle = "idle" // operators hold idle WebSockets; server memory is measured
)

// Visitor transports.
const (
	TransportWS       = "ws"       // the visitor's deltas over /ws/v/delta
	TransportLongPoll = "longpoll" // the visitor's deltas over /l/v/m/delta
)

// Options configure a run. ParseFlags fills them from the command line;
// Validate fills zero values with the defaults named and checks the rest.
type Options struct {
	// Mode is ModeChat (default) or ModeIdle.
	Mode string
	// VisitorURLs and OperatorURLs are the base URLs visitors and operators
	// talk to; each client keeps to one of them, taken in turn. Only
	// loopback hosts are accepted unless AllowRemote is set.
	VisitorURLs  []string
	OperatorURLs []string
	AllowRemote  bool

	// Visitors is the number of visitors in chat mode (default 100).
	Visitors int
	// OperatorLogins are the operators' logins; Operators and
	// OperatorLoginPrefix make them when it is empty: prefix1 … prefixN.
	OperatorLogins      []string
	Operators           int    // default 10
	OperatorLoginPrefix string // default "op"
	Password            string // every operator's password; default "password"
	// Department is the department-key of the chats started; "" for none.
	Department string

	// Rate is the visitor messages a second, all visitors together
	// (default 1000). Inflight bounds the sends waiting for their answer
	// (default 256); a send due while that many are waiting is skipped and
	// counted.
	Rate     float64
	Inflight int
	// Duration is how long messages are sent (default 30 s). During the
	// first RampUp of it visitors join and the rate rises linearly from 0.
	Duration time.Duration
	RampUp   time.Duration
	// Drain is how long to wait after Duration for deliveries still due
	// (default 10 s).
	Drain time.Duration
	// SetupTimeout bounds logins, inits, connects and assignment before
	// sending starts (default 60 s).
	SetupTimeout time.Duration
	// RequestTimeout bounds one HTTP request (default 15 s).
	RequestTimeout time.Duration
	// MessageSize is the length of every message text in bytes (default 64).
	MessageSize int
	// VisitorTransport is TransportWS (default) or TransportLongPoll.
	VisitorTransport string
	// Reply makes operators answer every visitor message they receive; the
	// answer's delivery to the visitor is measured too.
	Reply bool
	// CloseChats makes visitors close their chats after the run, so that
	// the operators are free for the next one.
	CloseChats bool

	// Conns is the number of operator WebSockets held in idle mode
	// (default 1000).
	Conns int

	// PID is the node's process id, whose resident memory is read from
	// /proc; MetricsURL is a Prometheus endpoint that reports
	// process_resident_memory_bytes. Either, both or none may be set.
	PID        int
	MetricsURL string

	// Procs is how many processors chatload's goroutines may run on at
	// once (GOMAXPROCS), set by the command; 0 leaves Go's default, all of
	// them. On a machine shared with the node, 1 stops chatload's idle
	// scheduler threads from spinning on the processor the node needs.
	Procs int

	// JSON prints the report as one JSON object instead of a table.
	JSON bool

	// RunID is the prefix of every client-side id the run makes; random
	// when empty. Tests set it to recognise the run's messages.
	RunID string
}

// Defaults of Options.
const (
	DefaultURL            = "http://127.0.0.1:8080"
	DefaultVisitors       = 100
	DefaultOperators      = 10
	DefaultLoginPrefix    = "op"
	DefaultPassword       = "password"
	DefaultRate           = 1000
	DefaultInflight       = 256
	DefaultDuration       = 30 * time.Second
	DefaultDrain          = 10 * time.Second
	DefaultSetupTimeout   = 60 * time.Second
	DefaultRequestTimeout = 15 * time.Second
	DefaultMessageSize    = 64
	DefaultConns          = 1000
)

// Bounds that keep a run finite.
const (
	MaxVisitors    = 100_000
	MaxOperators   = 10_000
	MaxConns       = 19_000 // the machine allows 20,000 open files a process
	MaxRate        = 1_000_000
	MaxInflight    = 65_536
	MaxProcs       = 1024
	MaxDuration    = 2 * time.Hour
	MaxDrain       = 5 * time.Minute
	MaxMessageSize = 1 << 20
)

// Validate fills zero values with defaults and returns every problem
// found, one per line, or nil.
func (o *Options) Validate() error {
	var ps problems
	if o.Mode == "" {
		o.Mode = ModeChat
	}
	if o.Mode != ModeChat && o.Mode != ModeIdle {
		ps.add("--mode", o.Mode, "must be chat or idle")
	}
	if len(o.VisitorURLs) == 0 {
		o.VisitorURLs = []string{DefaultURL}
	}
	if len(o.OperatorURLs) == 0 {
		o.OperatorURLs = o.VisitorURLs
	}
	check := func(flag string, urls []string) {
		for _, u := range urls {
			if msg := checkBaseURL(u, o.AllowRemote); msg != "" {
				ps.add(flag, u, msg)
			}
		}
	}
	if slices.Equal(o.VisitorURLs, o.OperatorURLs) {
		check("--url", o.VisitorURLs)
	} else {
		check("--visitor-url", o.VisitorURLs)
		check("--operator-url", o.OperatorURLs)
	}
	if o.MetricsURL != "" {
		if msg := checkURL(o.MetricsURL, o.AllowRemote, true); msg != "" {
			ps.add("--metrics-url", o.MetricsURL, msg)
		}
	}
	defaultInt(&o.Visitors, DefaultVisitors)
	defaultInt(&o.Operators, DefaultOperators)
	defaultInt(&o.Inflight, DefaultInflight)
	defaultInt(&o.MessageSize, DefaultMessageSize)
	defaultInt(&o.Conns, DefaultConns)
	defaultDuration(&o.Duration, DefaultDuration)
	defaultDuration(&o.Drain, DefaultDrain)
	defaultDuration(&o.SetupTimeout, DefaultSetupTimeout)
	defaultDuration(&o.RequestTimeout, DefaultRequestTimeout)
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.OperatorLoginPrefix == "" {
		o.OperatorLoginPrefix = DefaultLoginPrefix
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	if o.VisitorTransport == "" {
		o.VisitorTransport = TransportWS
	}
	if len(o.OperatorLogins) > 0 {
		o.Operators = len(o.OperatorLogins)
		seen := map[string]bool{}
		for _, l := range o.OperatorLogins {
			switch {
			case strings.TrimSpace(l) == "":
				ps.add("--operator-logins", strings.Join(o.OperatorLogins, ","), "holds an empty login")
			case seen[l]:
				// Two clients of one operator share a stream: every message
				// would arrive twice.
				ps.add("--operator-logins", l, "is listed twice")
			}
			seen[l] = true
		}
	}
	ps.intRange("--visitors", o.Visitors, 1, MaxVisitors)
	ps.intRange("--operators", o.Operators, 1, MaxOperators)
	ps.intRange("--inflight", o.Inflight, 1, MaxInflight)
	ps.intRange("--message-size", o.MessageSize, 1, MaxMessageSize)
	ps.intRange("--conns", o.Conns, 1, MaxConns)
	ps.intRange("--procs", o.Procs, 0, MaxProcs)
	if o.Rate < 0 || o.Rate > MaxRate {
		ps.add("--rate", fmt.Sprint(o.Rate), fmt.Sprintf("must be above 0 and at most %d messages a second", MaxRate))
	}
	ps.durRange("--duration", o.Duration, time.Millisecond, MaxDuration)
	ps.durRange("--drain", o.Drain, time.Millisecond, MaxDrain)
	ps.durRange("--setup-timeout", o.SetupTimeout, time.Second, time.Hour)
	ps.durRange("--timeout", o.RequestTimeout, 100*time.Millisecond, 10*time.Minute)
	if o.RampUp < 0 || o.RampUp > o.Duration {
		ps.add("--ramp-up", o.RampUp.String(), "must be from 0 to --duration ("+o.Duration.String()+")")
	}
	if o.VisitorTransport != TransportWS && o.VisitorTransport != TransportLongPoll {
		ps.add("--visitor-transport", o.VisitorTransport, "must be ws or longpoll")
	}
	if o.PID < 0 {
		ps.add("--pid", fmt.Sprint(o.PID), "must be a process id")
	}
	if o.RunID == "" {
		o.RunID = randomHex(4)
	}
	if len(o.RunID) > 32 || strings.Trim(o.RunID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		ps.add("run id", o.RunID, "must be up to 32 letters and digits")
	}
	return ps.err()
}

func defaultInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func defaultDuration(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}

// checkBaseURL returns why raw cannot be a node's base URL, or "".
func checkBaseURL(raw string, allowRemote bool) string {
	return checkURL(raw, allowRemote, false)
}

// checkURL returns why raw cannot be used, or "": it must be an http or
// https URL without credentials, query or fragment, whose host is loopback
// unless allowRemote. withPath allows a path (a metrics endpoint).
func checkURL(raw string, allowRemote, withPath bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.User != nil:
		return "must not hold credentials"
	case u.RawQuery != "" || u.Fragment != "":
		return "must have no query or fragment"
	case !withPath && u.Path != "" && !strings.HasPrefix(u.Path, "/"):
		return "has a malformed path"
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return "has a bad port"
		}
	}
	if !allowRemote && !IsLoopbackHost(u.Hostname()) {
		return "is not a loopback address (127.0.0.0/8, ::1 or localhost); pass --allow-remote to load a remote host"
	}
	return ""
}

// IsLoopbackHost reports whether host (a name or an address, without
// port) is localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// problems collects option problems, each naming the flag and the value.
type problems []string

func (ps *problems) add(flag, value, msg string) {
	*ps = append(*ps, fmt.Sprintf("%s %q: %s", flag, value, msg))
}

func (ps *problems) intRange(flag string, v, lo, hi int) {
	if v < lo || v > hi {
		ps.add(flag, fmt.Sprint(v), fmt.Sprintf("must be from %d to %d", lo, hi))
	}
}

func (ps *problems) durRange(flag string, v, lo, hi time.Duration) {
	if v < lo || v > hi {
		ps.add(flag, v.String(), fmt.Sprintf("must be from %v to %v", lo, hi))
	}
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &OptionsError{Problems: ps}
}

// OptionsError lists every problem found in the options.
type OptionsError struct{ Problems []string }

func (e *OptionsError) Error() string { return strings.Join(e.Problems, "\n") }
