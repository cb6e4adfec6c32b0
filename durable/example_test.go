package durable_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/rewind-dev/rewind/durable"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
	"github.com/rewind-dev/rewind/replay"
)

type OrderPlaced struct {
	OrderID string  `json:"orderId"`
	Total   float64 `json:"total"`
}

// OrderEvent stands for the type gqlgen generates for
// `type OrderEvent { id: ID! live: Boolean! order: OrderPlaced! }`.
type OrderEvent struct {
	ID    string
	Live  bool
	Order *OrderPlaced
}

// A subscription resolver's body: replay after a cursor, then live. Here
// the first order is the cursor, so the second is replayed and the third
// arrives live.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "durable-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ns, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := ns.Connect()
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	store, err := eventstore.Open(ctx, nc, eventstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	first, err := durable.Publish(ctx, store, "orders", "OrderPlaced", OrderPlaced{OrderID: "o1", Total: 10})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := durable.Publish(ctx, store, "orders", "OrderPlaced", OrderPlaced{OrderID: "o2", Total: 20}); err != nil {
		log.Fatal(err)
	}

	// The hub starts after the first two orders were stored (as after a
	// restart), so the second is certainly replayed, not live.
	hub := replay.NewHub(store, replay.Config{}, slog.New(slog.DiscardHandler))
	go hub.Run(ctx)
	<-hub.Ready()

	// What the resolver for orderEvents(afterId: ID, last: Int) returns.
	after := first.ID.String()
	events, err := durable.Subscribe(ctx, durable.Source{Store: store, Hub: hub},
		durable.Request{Topics: []string{"orders"}, AfterID: &after},
		func(e durable.Event[OrderPlaced]) *OrderEvent {
			return &OrderEvent{ID: e.ID, Live: e.Live, Order: &e.Data}
		})
	if err != nil {
		log.Fatal(err)
	}

	ev := <-events
	fmt.Println(ev.Order.OrderID, ev.Order.Total, "live:", ev.Live)
	if _, err := durable.Publish(ctx, store, "orders", "OrderPlaced", OrderPlaced{OrderID: "o3", Total: 30}); err != nil {
		log.Fatal(err)
	}
	ev = <-events
	fmt.Println(ev.Order.OrderID, ev.Order.Total, "live:", ev.Live)
	// Output:
	// o2 20 live: false
	// o3 30 live: true
}
