// Command chatload drives a chatnode node or cluster through its public API
// like real visitors and operators, and reports delivery throughput,
// latency and server memory. See `chatload --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/chatnode/chatnode/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stdout))
	stop()
	os.Exit(code)
}

// run is the command: it returns the exit status (0 clean, 1 something
// failed or was not delivered, 2 bad usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	if len(args) > 0 && args[0] == "accounts" {
		return accounts(args[1:], stdout, stderr)
	}
	o, err := loadgen.ParseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, loadgen.Usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chatload: bad flags:\n%s\n(see chatload --help)\n", indent(err.Error()))
		return 2
	}
	if o.Procs > 0 {
		runtime.GOMAXPROCS(o.Procs)
	}
	var progress io.Writer
	if tty && !o.JSON {
		progress = stdout
	}
	rep, err := loadgen.Run(ctx, o, progress)
	if err != nil {
		fmt.Fprintln(stderr, "chatload:", err)
		return 2
	}
	if o.JSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "chatload: write report:", err)
		return 1
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// accounts is `chatload accounts`.
func accounts(args []string, stdout, stderr io.Writer) int {
	a, err := loadgen.ParseAccountsFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, loadgen.AccountsUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chatload accounts: bad flags:\n%s\n", indent(err.Error()))
		return 2
	}
	if err := loadgen.WriteAccounts(stdout, a); err != nil {
		fmt.Fprintln(stderr, "chatload accounts:", err)
		return 1
	}
	return 0
}

func indent(s string) string {
	out := "  "
	for _, c := range s {
		out += string(c)
		if c == '\n' {
			out += "  "
		}
	}
	return out
}

// isTerminal reports whether f is a character device, as a terminal is.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
