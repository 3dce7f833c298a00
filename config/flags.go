package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// flagValues holds the command-line flags as given, before validation.
type flagValues struct {
	config, nodeName, clusterConfig, multinodeMode, port, logFormat string
	// given records which of the flags above appeared, by name.
	given     map[string]bool
	checkOnly bool
	help      bool
}

// flagUsage documents the flags, in the order Usage prints them.
func flagUsage() [][2]string {
	return [][2]string{
		{"config", "path to main.ini; *.ini files in main.ini.d/ beside it overlay it (default: embedded defaults)"},
		{"node_name", "this node's name, one of the cluster's chat_server_node_names (cluster mode)"},
		{"cluster_config", "path to the cluster description JSON (cluster mode)"},
		{"multinode_mode", "master or slave; must agree with chat_server_master_node_name (cluster mode)"},
		{"port", "port to listen on, replacing the port of the listen key (0 picks a free port)"},
		{"log_format", "text or json, overriding the log_format key"},
	}
}

// Usage writes the description of Load's flags to w.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Flags (-name and --name are the same; values as --name=value or --name value):")
	for _, f := range flagUsage() {
		fmt.Fprintf(w, "  --%s\n\t%s\n", f[0], f[1])
	}
	fmt.Fprintln(w, "  -t\n\tcheck the configuration and exit")
	fmt.Fprintln(w, "Without --node_name, --cluster_config and --multinode_mode the node runs standalone.")
}

// parseFlags reads args in the style of the standard flag package: "-name"
// or "--name", values as "--name=value" or "--name value", "-t" alone.
// Unlike the flag package it reports every mistake, not just the first.
func parseFlags(args []string) (flagValues, Problems) {
	var ps Problems
	fv := flagValues{given: make(map[string]bool)}
	targets := map[string]*string{
		"config":         &fv.config,
		"node_name":      &fv.nodeName,
		"cluster_config": &fv.clusterConfig,
		"multinode_mode": &fv.multinodeMode,
		"port":           &fv.port,
		"log_format":     &fv.logFormat,
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			for _, rest := range args[i+1:] {
				ps.add(FlagFile, 0, "", rest, "unexpected argument")
			}
			break
		}
		name, ok := flagName(arg)
		if !ok {
			ps.add(FlagFile, 0, "", arg, "unexpected argument")
			continue
		}
		name, value, hasValue := strings.Cut(name, "=")
		switch name {
		case "t":
			fv.checkOnly = true
			if hasValue {
				b, err := strconv.ParseBool(value)
				if err != nil {
					ps.add(FlagFile, 0, "-t", value, "not a boolean")
				}
				fv.checkOnly = b
			}
			continue
		case "h", "help":
			fv.help = true
			continue
		}
		dst, known := targets[name]
		if !known {
			ps.add(FlagFile, 0, "--"+name, "", "unknown flag (see --help)")
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				ps.add(FlagFile, 0, "--"+name, "", "needs a value")
				continue
			}
			i++
			value = args[i]
		}
		*dst = value
		fv.given[name] = true
	}
	return fv, ps
}

// flagName returns arg without its one or two leading dashes, or false when
// arg is not a flag.
func flagName(arg string) (string, bool) {
	if len(arg) < 2 || arg[0] != '-' {
		return "", false
	}
	name := arg[1:]
	if name[0] == '-' {
		name = name[1:]
	}
	if name == "" || name[0] == '-' || name[0] == '=' {
		return "", false
	}
	return name, true
}
