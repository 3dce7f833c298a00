package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/chatnode/chatnode/mq"
)

const defaultMQURL = "amqp://guest:guest@127.0.0.1:5672/"

// mqPing succeeds when the broker's port accepts a connection.
func mqPing(args []string) error {
	fs := flag.NewFlagSet("mq-ping", flag.ContinueOnError)
	raw := fs.String("url", defaultMQURL, "broker URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*raw)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// mqClean deletes what a benchmark cluster declared: the node queues, the
// lock queues and the exchange (mq.DeleteCluster).
func mqClean(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("mq-clean", flag.ContinueOnError)
	raw := fs.String("url", defaultMQURL, "broker URL")
	prefix := fs.String("prefix", "", "mq_node_id_prefix of the cluster")
	cluster := fs.String("cluster", "", "cluster_name of the cluster")
	nodes := fs.String("nodes", "", "comma-separated node names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *prefix == "" || *cluster == "" || *nodes == "" {
		return errors.New("--prefix, --cluster and --nodes are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mq.DeleteCluster(ctx, *raw, *prefix, *cluster, strings.Split(*nodes, ",")); err != nil {
		return err
	}
	fmt.Fprintf(w, "deleted the RabbitMQ objects of %s.%s\n", *prefix, *cluster)
	return nil
}
