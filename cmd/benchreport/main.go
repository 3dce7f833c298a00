// Command benchreport is the Go half of scripts/bench.sh (`task bench`):
// small helpers the script needs and the writer of docs/benchmarks.md.
//
//	benchreport freeport                      print a free TCP port on 127.0.0.1
//	benchreport mq-ping [--url URL]           exit 0 when RabbitMQ answers
//	benchreport calibrate [--prefix P]        print what a system call and a
//	                                          loopback round trip cost now
//	benchreport mq-clean --prefix P --cluster C --nodes a,b [--url URL]
//	                                          delete a cluster's queues and exchange
//	benchreport report --dir DIR --out FILE [--notes FILE]
//	                                          write the report from a suite's results
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: benchreport freeport | mq-ping | mq-clean | calibrate | report (see the package comment)")
		return 2
	}
	var err error
	switch args[0] {
	case "freeport":
		err = freePort(stdout)
	case "mq-ping":
		err = mqPing(args[1:])
	case "calibrate":
		err = calibrate(args[1:], stdout)
	case "mq-clean":
		err = mqClean(args[1:], stdout)
	case "report":
		err = report(args[1:], stderr)
	default:
		fmt.Fprintf(stderr, "benchreport: unknown command %q\n", args[0])
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchreport %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// freePort prints a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(w io.Writer) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	_, err = fmt.Fprintln(w, l.Addr().(*net.TCPAddr).Port)
	return err
}
