package mq_test

import (
	"context"
	"log"

	"github.com/chatnode/chatnode/mq"
)

func Example() {
	ctx := context.Background()
	link, err := mq.Dial(ctx, mq.Options{
		URL:     "amqp://guest:guest@127.0.0.1:5672/",
		Prefix:  "chatnode",
		Cluster: "default",
		Node:    "master",
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, mq.ErrNodeNameTaken) when "master" already runs
	}
	defer link.Close()

	seen := mq.NewDedup(0) // used only by the consumer goroutine
	err = link.Consume(func(ctx context.Context, d mq.Delivery) error {
		if seen.Seen(d.EventID) {
			return nil // a redelivery already applied
		}
		log.Printf("%s from %s: %d bytes", d.EventID, d.Headers["node"], len(d.Body))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	headers := map[string]string{"node": "master"}
	if err := link.Publish(ctx, mq.RouteNode("slave"), mq.NewEventID(), headers, []byte("event")); err != nil {
		log.Print(err)
	}
}
