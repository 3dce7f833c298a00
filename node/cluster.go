package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/chatnode/chatnode/actors"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/pace"
	"github.com/chatnode/chatnode/messages"
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
		Peers:   cfg.Cluster.NodeNames,
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

// Batching: envelopes for the same destination that are queued one after
// another travel in one broker message, up to these bounds. Each broker
// message costs RabbitMQ a persistent write and a confirmation, and each
// node a delivery and an acknowledgement, whatever its size.
const (
	batchHeader   = "chatnode-batch"
	maxBatchItems = 512
	maxBatchBytes = 1 << 20
)

// publishInterval is the shortest time between the starts of two
// publishes. Under load the publish loop waits out the rest of it, so the
// envelopes queued meanwhile share one broker message; an envelope after a
// quiet spell leaves at once. In the cluster load run RabbitMQ took half
// the processor time with it (the master's broker messages fell from about
// 400 to 100 a second) and the cluster delivered about 9% more, for at
// most this much more latency on each crossing.
const publishInterval = 10 * time.Millisecond

// publishLoop sends envelopes one after another without waiting for each
// confirmation, so their order holds, and starts at most one broker message
// every publishInterval; a second goroutine collects the confirmations. A
// message still unconfirmed when the connection drops is
// sent again by the link after it reconnects. Consecutive envelopes with
// the same routing key go out as one Batch: order across routing keys is
// kept, because a batch never reaches past an envelope for another key.
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
	var (
		batch []outbound
		next  *outbound // taken from c.out but for another key: the next batch's first
		pacer = pace.Pacer{Interval: publishInterval}
	)
	for {
		var first outbound
		if next != nil {
			first, next = *next, nil
		} else {
			select {
			case first = <-c.out:
			case <-c.ctx.Done():
				return
			}
		}
		pacer.Wait()
		batch, next = takeBatch(batch[:0], first, c.out)
		m := first
		if len(batch) > 1 {
			m = packBatch(batch)
		}
		p, err := c.link.PublishAsync(c.ctx, m.key, m.id, m.headers, m.body)
		clear(batch)
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.log.Error("cluster message not sent", "id", m.id, "err", err)
			continue
		}
		confirms <- p
	}
}

// takeBatch appends first, and after it the envelopes queued on in for the
// same routing key, to batch. It stops at the bounds, when nothing more is
// queued, or at an envelope for another key, which it returns as next.
func takeBatch(batch []outbound, first outbound, in <-chan outbound) (_ []outbound, next *outbound) {
	batch = append(batch, first)
	size := len(first.body)
	for len(batch) < maxBatchItems && size < maxBatchBytes {
		select {
		case m := <-in:
			if m.key != first.key {
				return batch, &m
			}
			batch = append(batch, m)
			size += len(m.body)
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// packBatch makes one broker message of envelopes for one routing key. It
// carries the last envelope's event id, which no other message has.
func packBatch(batch []outbound) outbound {
	b := &messages.Batch{Items: make([]*messages.BatchItem, len(batch))}
	for i, m := range batch {
		b.Items[i] = &messages.BatchItem{Envelope: m.body, Headers: m.headers}
	}
	body, err := proto.Marshal(b)
	if err != nil {
		panic(err) // bytes and strings always encode
	}
	last := batch[len(batch)-1]
	return outbound{key: last.key, id: last.id, headers: map[string]string{batchHeader: "1"}, body: body}
}

// consume feeds deliveries to hub, once each, unpacking batches.
func (c *clusterLink) consume(hub *actors.Hub) error {
	return c.link.Consume(func(_ context.Context, d mq.Delivery) error {
		if c.dedup.Seen(d.EventID) {
			return nil
		}
		if err := unpack(d, hub.Deliver); err != nil {
			c.log.Error("dropping an undecodable cluster message", "id", d.EventID, "err", err)
		}
		return nil
	})
}

// unpack hands deliver each envelope of a delivery, with its headers: the
// delivery's own, or each batch item's.
func unpack(d mq.Delivery, deliver func(body []byte, headers map[string]string) error) error {
	if d.Headers[batchHeader] == "" {
		return deliver(d.Body, d.Headers)
	}
	var b messages.Batch
	if err := proto.Unmarshal(d.Body, &b); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	var errs []error
	for _, it := range b.Items {
		errs = append(errs, deliver(it.Envelope, it.Headers))
	}
	return errors.Join(errs...)
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
