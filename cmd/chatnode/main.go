// Command chatnode runs one node of the chatnode chat backend.
//
//	chatnode [--config main.ini] [--port N] [-t]
//	chatnode --config main.ini --cluster_config cluster.json --node_name NAME --multinode_mode master|slave
//	chatnode hash-password < password
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/node"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hash-password" {
		if err := hashPassword(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "chatnode hash-password:", err)
			os.Exit(1)
		}
		return
	}
	cfg, checkOnly, err := config.Load(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(os.Stdout)
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatnode: configuration problems:")
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if checkOnly {
		fmt.Println("chatnode: configuration ok:", cfg.Summary())
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	m := node.NewMain(cfg, os.Stderr)
	if err := m.Run(ctx); err != nil {
		m.Logger.Error("chatnode failed to start", "err", err)
		os.Exit(1)
	}
	select {
	case <-ctx.Done():
		m.Logger.Info("chatnode stopping", "signal", "received")
	case err := <-m.Served():
		m.Logger.Error("chatnode stopped serving", "err", err)
	}
	if err := m.Close(); err != nil {
		m.Logger.Error("chatnode stopped with errors", "err", err)
		os.Exit(1)
	}
}
