package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Usage is the command's help text.
const Usage = `chatload drives a chatnode node (or a cluster) through its public API
like real clients and reports delivery figures.

  chatload [flags]                  chat mode: visitors message operators
  chatload --mode idle --conns K    idle mode: K operator WebSockets, server memory
  chatload accounts [flags]         print an accounts file for load tests

Targets (only loopback hosts unless --allow-remote; comma-separated lists
spread clients over several nodes):
  --url URL                  base URL of the node (default http://127.0.0.1:8080)
  --visitor-url URL          base URL visitors use (default --url)
  --operator-url URL         base URL operators use (default --url)
  --allow-remote             allow hosts other than 127.0.0.0/8, ::1, localhost
  --metrics-url URL          Prometheus endpoint with process_resident_memory_bytes
  --pid PID                  the node's process id: its VmRSS is read from /proc

Clients:
  --mode chat|idle           what to run (default chat)
  --visitors N               visitors (default 100)
  --operators N              operators, logging in as PREFIX1…PREFIXN (default 10)
  --operator-login-prefix P  login prefix (default op)
  --operator-logins A,B,…    explicit logins instead of prefix and count
  --password PW              the operators' password (default password)
  --department KEY           department-key of the chats started (default none)
  --visitor-transport T      ws or longpoll (default ws)
  --conns K                  idle mode: operator WebSockets to hold (default 1000, at most 19000)

Load:
  --rate R                   visitor messages a second, all visitors together (default 1000)
  --inflight N               sends waiting for their answer at most (default 256)
  --duration D               how long messages are sent, or sockets held (default 30s)
  --ramp-up D                first part of --duration over which visitors join and the rate rises (default 0)
  --drain D                  wait after --duration for deliveries still due (default 10s)
  --message-size N           bytes of message text (default 64)
  --reply                    operators answer each message; the answer's delivery is measured
  --close-chats              close the visitors' chats at the end (default true)
  --setup-timeout D          bound on logins, inits, connects and assignment (default 60s)
  --timeout D                bound on one HTTP request (default 15s)
  --procs N                  processors chatload runs on at once (GOMAXPROCS; default 0: all);
                             1 leaves more of a shared machine to the node

Output:
  --json                     print the report as one JSON object

Exit status: 0 when every message was delivered (or every socket held),
1 when anything failed or was not delivered, 2 for bad flags.
`

// ParseFlags reads the options from command-line arguments (without the
// program name). Every problem is reported at once; flag.ErrHelp is
// returned for -h and --help.
func ParseFlags(args []string) (*Options, error) {
	fs := flag.NewFlagSet("chatload", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	str := func(name, def string) *string { return fs.String(name, def, "") }
	var (
		baseURL     = str("url", DefaultURL)
		visitorURL  = str("visitor-url", "")
		operatorURL = str("operator-url", "")
		allowRemote = fs.Bool("allow-remote", false, "")
		metricsURL  = str("metrics-url", "")
		pid         = str("pid", "0")
		mode        = str("mode", ModeChat)
		visitors    = str("visitors", strconv.Itoa(DefaultVisitors))
		operators   = str("operators", strconv.Itoa(DefaultOperators))
		prefix      = str("operator-login-prefix", DefaultLoginPrefix)
		logins      = str("operator-logins", "")
		password    = str("password", DefaultPassword)
		department  = str("department", "")
		transport   = str("visitor-transport", TransportWS)
		conns       = str("conns", strconv.Itoa(DefaultConns))
		rate        = str("rate", strconv.Itoa(DefaultRate))
		inflight    = str("inflight", strconv.Itoa(DefaultInflight))
		duration    = str("duration", DefaultDuration.String())
		rampUp      = str("ramp-up", "0s")
		drain       = str("drain", DefaultDrain.String())
		msgSize     = str("message-size", strconv.Itoa(DefaultMessageSize))
		reply       = fs.Bool("reply", false, "")
		closeChats  = fs.Bool("close-chats", true, "")
		setup       = str("setup-timeout", DefaultSetupTimeout.String())
		timeout     = str("timeout", DefaultRequestTimeout.String())
		procs       = str("procs", "0")
		asJSON      = fs.Bool("json", false, "")
	)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, &OptionsError{Problems: []string{strings.TrimPrefix(err.Error(), "flag provided but not defined: ") + flagHint(err)}}
	}
	var ps problems
	if fs.NArg() > 0 {
		ps = append(ps, fmt.Sprintf("unexpected argument %q (flags only; see --help)", fs.Arg(0)))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	o := &Options{
		Mode:                *mode,
		AllowRemote:         *allowRemote,
		MetricsURL:          *metricsURL,
		OperatorLoginPrefix: *prefix,
		Password:            *password,
		Department:          *department,
		VisitorTransport:    *transport,
		Reply:               *reply,
		CloseChats:          *closeChats,
		JSON:                *asJSON,
	}
	urls := splitList(*baseURL)
	o.VisitorURLs, o.OperatorURLs = urls, urls
	if set["visitor-url"] {
		o.VisitorURLs = splitList(*visitorURL)
	}
	if set["operator-url"] {
		o.OperatorURLs = splitList(*operatorURL)
	}
	if len(urls) == 0 || set["visitor-url"] && len(o.VisitorURLs) == 0 || set["operator-url"] && len(o.OperatorURLs) == 0 {
		ps = append(ps, "--url, --visitor-url and --operator-url must not be empty")
	}
	if set["operator-logins"] {
		o.OperatorLogins = splitList(*logins)
		if len(o.OperatorLogins) == 0 {
			ps.add("--operator-logins", *logins, "names no login")
		}
		if set["operators"] {
			ps.add("--operators", *operators, "cannot be used with --operator-logins")
		}
	}
	o.PID = ps.parseInt("--pid", *pid, 0)
	o.Visitors = ps.parseInt("--visitors", *visitors, 1)
	o.Operators = ps.parseInt("--operators", *operators, 1)
	o.Conns = ps.parseInt("--conns", *conns, 1)
	o.Inflight = ps.parseInt("--inflight", *inflight, 1)
	o.MessageSize = ps.parseInt("--message-size", *msgSize, 1)
	o.Procs = ps.parseInt("--procs", *procs, 0)
	o.Rate = ps.parseRate("--rate", *rate)
	o.Duration = ps.parseDuration("--duration", *duration, false)
	o.RampUp = ps.parseDuration("--ramp-up", *rampUp, true)
	o.Drain = ps.parseDuration("--drain", *drain, false)
	o.SetupTimeout = ps.parseDuration("--setup-timeout", *setup, false)
	o.RequestTimeout = ps.parseDuration("--timeout", *timeout, false)
	// Validate fills what failed to parse with defaults, so that it adds
	// only problems of its own.
	if err := o.Validate(); err != nil {
		var oe *OptionsError
		if errors.As(err, &oe) {
			ps = append(ps, oe.Problems...)
		}
	}
	if len(ps) > 0 {
		return nil, ps.err()
	}
	return o, nil
}

// flagHint completes the flag package's own messages.
func flagHint(err error) string {
	if strings.Contains(err.Error(), "not defined") {
		return " is not a chatload flag (see --help)"
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseInt parses a whole number of at least lo, recording a problem.
func (ps *problems) parseInt(flag, s string, lo int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil:
		ps.add(flag, s, "must be a whole number")
	case n < lo:
		ps.add(flag, s, fmt.Sprintf("must be at least %d", lo))
	default:
		return n
	}
	return 0
}

// parseRate parses a rate above 0.
func (ps *problems) parseRate(flag, s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil:
		ps.add(flag, s, "must be a number of messages a second")
	case !(f > 0):
		ps.add(flag, s, "must be above 0")
	default:
		return f
	}
	return 0
}

// parseDuration parses a Go duration ("20s", "1m30s"); zero only when
// zeroOK.
func (ps *problems) parseDuration(flag, s string, zeroOK bool) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		ps.add(flag, s, "must be a duration such as 500ms, 20s or 2m")
	case d < 0 || d == 0 && !zeroOK:
		ps.add(flag, s, "must be above 0")
	default:
		return d
	}
	return 0
}
