package config

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
)

// clusterMQKeys are the main.ini keys a cluster node needs to reach
// RabbitMQ.
func clusterMQKeys() []string {
	return []string{"mq_host", "mq_port", "mq_username", "mq_password", "mq_virtual_host"}
}

// Load parses args (the command line without the program name) and every
// file they name, and returns the resolved configuration and whether -t
// (check only) was given.
//
// A configuration error is a *Problems listing every problem found, not
// just the first; errors.As fills either a Problems or a *Problems variable
// from it. When -h or --help is given Load returns flag.ErrHelp (see
// Usage). On any error the Config is nil.
func Load(args []string) (cfg *Config, checkOnly bool, err error) {
	fv, ps := parseFlags(args)
	if fv.help {
		return nil, fv.checkOnly, flag.ErrHelp
	}
	l := &loader{cfg: defaults(), problems: ps, set: make(map[string]iniEntry)}
	l.clusterFlags(fv)
	l.mainINI(fv)
	l.flagOverrides(fv)
	l.crossChecks()
	l.accounts()
	l.clusterMQ(fv)
	if len(l.problems) > 0 {
		return nil, fv.checkOnly, l.problems.err()
	}
	return l.cfg, fv.checkOnly, nil
}

// loader carries the state of one Load.
type loader struct {
	cfg      *Config
	problems Problems
	// set holds the effective main.ini entry of every key that was set.
	set map[string]iniEntry
	// iniRead is true when --config named a readable main.ini.
	iniRead bool
	// clustered is true when any cluster flag was given.
	clustered bool
}

// flagProblem records a problem with a flag.
func (l *loader) flagProblem(name, value, reason string) {
	l.problems.add(FlagFile, 0, "--"+name, value, reason)
}

// at returns where key was set: the file and line of its effective entry,
// or main.ini without a line when it was not set.
func (l *loader) at(key string) (string, int) {
	if e, ok := l.set[key]; ok {
		return e.file, e.line
	}
	return l.cfg.Path, 0
}

// keyProblem records a problem with a main.ini key at the place it was set.
func (l *loader) keyProblem(key, reason string) {
	file, line := l.at(key)
	value := ""
	if e, ok := l.set[key]; ok {
		value = shownValue(key, e.value)
	}
	l.problems.add(file, line, key, value, reason)
}

// clusterFlags resolves the mode from --node_name, --cluster_config and
// --multinode_mode and reads the cluster description.
func (l *loader) clusterFlags(fv flagValues) {
	names := []string{"node_name", "cluster_config", "multinode_mode"}
	anyGiven := false
	for _, n := range names {
		anyGiven = anyGiven || fv.given[n]
	}
	if !anyGiven {
		l.cfg.Mode = ModeStandalone
		return
	}
	l.clustered = true
	for _, n := range names {
		if !fv.given[n] {
			l.flagProblem(n, "", "required in cluster mode (--node_name, --cluster_config and --multinode_mode go together)")
		}
	}
	c := l.cfg
	nameOK := false
	if fv.given["node_name"] {
		c.NodeName = fv.nodeName
		if reason := checkName(fv.nodeName); reason != "" {
			l.flagProblem("node_name", fv.nodeName, reason)
		} else {
			nameOK = true
		}
	}
	modeOK := false
	if fv.given["multinode_mode"] {
		switch Mode(fv.multinodeMode) {
		case ModeMaster, ModeSlave:
			c.Mode, modeOK = Mode(fv.multinodeMode), true
		default:
			l.flagProblem("multinode_mode", fv.multinodeMode, "must be master or slave")
		}
	}
	if !fv.given["cluster_config"] {
		return
	}
	path := fv.clusterConfig
	c.ClusterConfigPath = path
	if path == "" {
		l.flagProblem("cluster_config", "", "must not be empty")
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		l.flagProblem("cluster_config", path, "cannot read: "+describeFileError(err))
		return
	}
	pc, ps := parseCluster(path, data)
	l.problems = append(l.problems, ps...)
	if pc == nil {
		return
	}
	c.Cluster = &pc.Cluster
	if !nameOK || !pc.namesValid {
		return
	}
	if !pc.hasNode(c.NodeName) {
		l.flagProblem("node_name", c.NodeName, fmt.Sprintf("not in %s of %s (%s)",
			fieldNodeNames, path, strings.Join(pc.NodeNames, ", ")))
		return
	}
	if !modeOK || !pc.masterValid {
		return
	}
	isMaster := c.NodeName == pc.MasterNodeName
	switch {
	case isMaster && c.Mode != ModeMaster:
		l.flagProblem("multinode_mode", fv.multinodeMode, fmt.Sprintf(
			"node %q is the cluster's master (%s in %s): use --multinode_mode=master",
			c.NodeName, fieldMasterName, path))
	case !isMaster && c.Mode == ModeMaster:
		l.flagProblem("multinode_mode", fv.multinodeMode, fmt.Sprintf(
			"node %q is not the cluster's master, %q is (%s in %s): use --multinode_mode=slave",
			c.NodeName, pc.MasterNodeName, fieldMasterName, path))
	}
}

// mainINI reads main.ini and its overlays and applies their keys.
func (l *loader) mainINI(fv flagValues) {
	if !fv.given["config"] {
		return
	}
	if fv.config == "" {
		l.flagProblem("config", "", "must not be empty")
		return
	}
	l.cfg.Path = fv.config
	entries, files, ps := readINIFiles(fv.config)
	l.iniRead = len(files) > 0

	specs := keySpecs()
	byName := make(map[string]keySpec, len(specs))
	for _, s := range specs {
		byName[s.name] = s
	}
	for _, e := range entries {
		if _, ok := byName[e.key]; !ok {
			reason := "unknown key"
			if s := suggestKey(e.key, specs); s != "" {
				reason += " (did you mean " + s + "?)"
			}
			ps.add(e.file, e.line, e.key, "", reason)
			continue
		}
		l.set[e.key] = e // a later entry overrides an earlier one
	}
	for _, e := range entries {
		if eff, ok := l.set[e.key]; !ok || eff != e || e.malformed {
			continue
		}
		if reason := byName[e.key].set(l.cfg, e.value); reason != "" {
			ps.add(e.file, e.line, e.key, shownValue(e.key, e.value), reason)
		}
	}

	// Report in reading order: file by file, line by line.
	rank := make(map[string]int, len(files))
	for i, f := range files {
		rank[f] = i
	}
	sort.SliceStable(ps, func(i, j int) bool {
		if ri, rj := rank[ps[i].File], rank[ps[j].File]; ri != rj {
			return ri < rj
		}
		return ps[i].Line < ps[j].Line
	})
	l.problems = append(l.problems, ps...)
}

// flagOverrides applies --port and --log_format over main.ini.
func (l *loader) flagOverrides(fv flagValues) {
	c := l.cfg
	if fv.given["port"] {
		port, reason := parsePort(fv.port, 0)
		if reason != "" {
			l.flagProblem("port", fv.port, reason)
		} else if host, _, err := net.SplitHostPort(c.Listen); err == nil {
			c.Listen = net.JoinHostPort(host, strconv.Itoa(port))
		}
	}
	if fv.given["log_format"] {
		if reason := setEnum(&c.LogFormat, fv.logFormat, "text", "json"); reason != "" {
			l.flagProblem("log_format", fv.logFormat, reason)
		}
	}
}

// crossChecks checks the keys that depend on each other.
func (l *loader) crossChecks() {
	c := l.cfg
	switch {
	case c.Store == "" && c.DBDSN != "":
		c.Store = StorePostgres
	case c.Store == "":
		c.Store = StoreSQLite
	case c.Store == StorePostgres && c.DBDSN == "":
		l.keyProblem("store", "needs db_dsn, the PostgreSQL connection string")
	case c.Store == StoreSQLite && c.DBDSN != "":
		l.keyProblem("db_dsn", "set, but store = sqlite: remove db_dsn or set store = postgres")
	}

	if c.MaxBodyBytes < c.MaxMessageLength {
		key := "max_body_bytes"
		if _, ok := l.set[key]; !ok {
			key = "max_message_length"
		}
		l.keyProblem(key, fmt.Sprintf("max_body_bytes (%d) is smaller than max_message_length (%d): the longest message could not be sent",
			c.MaxBodyBytes, c.MaxMessageLength))
	}

	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		l.keyProblem("tls_key_file", "required when tls_cert_file is set")
	case c.TLSCertFile == "" && c.TLSKeyFile != "":
		l.keyProblem("tls_cert_file", "required when tls_key_file is set")
	case c.TLSCertFile != "":
		certOK := l.readable("tls_cert_file", c.TLSCertFile)
		keyOK := l.readable("tls_key_file", c.TLSKeyFile)
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
				l.keyProblem("tls_cert_file", "does not load with tls_key_file: "+err.Error())
			}
		}
	}
}

// readable reports whether the file named by key can be read, recording a
// problem when it cannot.
func (l *loader) readable(key, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		l.keyProblem(key, "cannot read: "+describeFileError(err))
		return false
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		l.keyProblem(key, "is a directory, not a file")
		return false
	}
	return true
}

// accounts loads accounts_file, or the built-in sample when it is not set.
func (l *loader) accounts() {
	c := l.cfg
	if c.AccountsFile == "" {
		c.Accounts = DefaultAccounts()
		return
	}
	data, err := os.ReadFile(c.AccountsFile)
	if err != nil {
		l.keyProblem("accounts_file", "cannot read: "+describeFileError(err))
		return
	}
	a, ps := parseAccounts(c.AccountsFile, data)
	l.problems = append(l.problems, ps...)
	c.Accounts = a
}

// clusterMQ checks that a cluster node has every mq_* key it needs.
func (l *loader) clusterMQ(fv flagValues) {
	if !l.clustered {
		return
	}
	if !fv.given["config"] {
		l.flagProblem("config", "", "required in cluster mode: main.ini holds the mq_* keys that reach RabbitMQ")
		return
	}
	if !l.iniRead {
		return // already reported
	}
	for _, key := range clusterMQKeys() {
		if _, ok := l.set[key]; !ok {
			l.problems.add(l.cfg.Path, 0, key, "", "required in cluster mode (set it in main.ini or main.ini.d/*.ini)")
		}
	}
	if l.cfg.Store != StorePostgres {
		l.problems.add(l.cfg.Path, 0, "db_dsn", "", "required in cluster mode: the nodes of a cluster share one PostgreSQL database")
	}
}
