package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/rewind-dev/rewind/client"
)

// A consumer publishes an event, then follows a topic from the cursor it
// saved last time. Subscribe reconnects by itself; the loop sees each event
// once, in order, and saves its id after handling it.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New(client.Config{
		URL:         "http://localhost:8080/graphql",
		InitPayload: map[string]any{"authorization": "Bearer <JWT>"},
	})
	if err != nil {
		log.Fatal(err)
	}

	ev, err := c.Publish(ctx, "orders.eu", map[string]any{"sku": "A-1", "qty": 2},
		client.WithType("order.placed"), client.WithIdempotencyKey("order-42"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored", ev.ID)

	cursor := client.Zero // or the id saved after the last event handled
	for ev, err := range c.Subscribe(ctx, client.Request{Topics: []string{"orders.>"}, After: cursor}) {
		if err != nil {
			// Only an error retrying cannot fix ends the loop with one: an
			// unknown or expired cursor, a bad topic, no permission.
			log.Fatal(err)
		}
		fmt.Println(ev.ID, ev.Type, string(ev.Data))
		cursor = ev.ID // save it where the next run will find it
	}
}

// The server goes away after every second event (here a stand-in that
// closes with 1001, as Rewind does on SIGTERM); the subscription
// reconnects and resumes after the last event it delivered, so nothing is
// lost or repeated.
func ExampleClient_Subscribe() {
	srv := startFlakyServer(5, 2)
	defer srv.Close()

	retries := 0
	c, err := client.New(client.Config{
		URL:        srv.URL + "/graphql",
		MinBackoff: time.Millisecond,
		OnRetry:    func(error, time.Duration) { retries++ },
	})
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	for ev, err := range c.Subscribe(context.Background(), client.Request{Topics: []string{"orders"}, After: client.Zero}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.ID, string(ev.Data))
		if n++; n == 5 {
			break
		}
	}
	fmt.Println("reconnections:", retries)
	// Output:
	// 01KDX000000000000000000001 {"n":1}
	// 01KDX000000000000000000002 {"n":2}
	// 01KDX000000000000000000003 {"n":3}
	// 01KDX000000000000000000004 {"n":4}
	// 01KDX000000000000000000005 {"n":5}
	// reconnections: 2
}
