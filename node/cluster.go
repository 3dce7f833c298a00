package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chatnode/chatnode/actors"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/mq"
)

// clusterLink connects a Hub to RabbitMQ: it publishes the bridge's
// envelopes in the order the bridge made them and feeds deliveries to the
// Hub, dropping redeliveries by event id.
type clusterLink struct {
	link  *mq.Link
	log   *slog.Logger
	out   chan outbound
	wg    sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
	dedup *mq.Dedup
}

type outbound struct {
	key, id string
	headers map[string]string
	body    []byte
}

// dialCluster connects to RabbitMQ and takes this node's name. A name
// already running in the cluster is refused here, before anything starts.
func dialCluster(ctx context.Context, cfg *config.Config, log *slog.Logger, hooks mq.Hooks) (*clusterLink, error) {
	link, err := mq.Dial(ctx, mq.Options{
		URL:     cfg.MQ.URL(),
		Prefix:  cfg.MQ.NodeIDPrefix,
		Cluster: cfg.Cluster.Name,
		Node:    cfg.NodeName,
		Logger:  log,
		Hooks:   hooks,
	})
	if err != nil {
		if errors.Is(err, mq.ErrNodeNameTaken) {
			return nil, fmt.Errorf("--node_name %q: %w", cfg.NodeName, err)
		}
		return nil, fmt.Errorf("RabbitMQ (mq_host %s, mq_port %d, mq_virtual_host %q): %w", cfg.MQ.Host, cfg.MQ.Port, cfg.MQ.VirtualHost, err)
	}
	c := &clusterLink{link: link, log: log, out: make(chan outbound, 1<<16), dedup: mq.NewDedup(0)}
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.publishLoop()
	return c, nil
}

// options are the Hub's cluster options for this node.
func (c *clusterLink) options(cfg *config.Config) *actors.ClusterOptions {
	return &actors.ClusterOptions{
		Self:   cfg.NodeName,
		Master: cfg.Cluster.MasterNodeName,
		Nodes:  cfg.Cluster.NodeNames,
		Publish: func(key, id string, headers map[string]string, body []byte) {
			select {
			case c.out <- outbound{key: key, id: id, headers: headers, body: body}:
			case <-c.ctx.Done():
			}
		},
	}
}

// publishLoop sends envelopes one after another without waiting for each
// confirmation, so their order holds; a second goroutine collects the
// confirmations. A message still unconfirmed when the connection drops is
// sent again by the link after it reconnects.
func (c *clusterLink) publishLoop() {
	defer c.wg.Done()
	confirms := make(chan mq.Pending, 1<<12)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for p := range confirms {
			ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
			if err := p.Wait(ctx); err != nil && c.ctx.Err() == nil {
				c.log.Error("cluster message not confirmed", "err", err)
			}
			cancel()
		}
	}()
	defer close(confirms)
	for {
		select {
		case m := <-c.out:
			p, err := c.link.PublishAsync(c.ctx, m.key, m.id, m.headers, m.body)
			if err != nil {
				if c.ctx.Err() != nil {
					return
				}
				c.log.Error("cluster message not sent", "id", m.id, "err", err)
				continue
			}
			confirms <- p
		case <-c.ctx.Done():
			return
		}
	}
}

// consume feeds deliveries to hub, once each.
func (c *clusterLink) consume(hub *actors.Hub) error {
	return c.link.Consume(func(_ context.Context, d mq.Delivery) error {
		if c.dedup.Seen(d.EventID) {
			return nil
		}
		if err := hub.Deliver(d.Body, d.Headers); err != nil {
			c.log.Error("dropping an undecodable cluster message", "id", d.EventID, "err", err)
		}
		return nil
	})
}

// flush waits up to d for queued envelopes to be handed to the link.
func (c *clusterLink) flush(d time.Duration) {
	deadline := time.Now().Add(d)
	for len(c.out) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// close stops publishing and closes the link.
func (c *clusterLink) close() error {
	c.stop()
	err := c.link.Close()
	c.wg.Wait()
	return err
}
