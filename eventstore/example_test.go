package eventstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
)

// Open a Store on an embedded JetStream, append two events and read them
// back in stream order. Append returns the stored event with its ID and
// stream sequence; Resolve maps an ID (a client's cursor) back to that
// sequence.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eventstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	store, err := eventstore.Open(ctx, nc, eventstore.Config{})
	if err != nil {
		log.Fatal(err)
	}

	if _, err := store.Append(ctx, eventstore.Event{
		Topic: "orders.eu", Type: "OrderPlaced", Data: json.RawMessage(`{"id":1}`),
	}); err != nil {
		log.Fatal(err)
	}
	second, err := store.Append(ctx, eventstore.Event{
		Topic: "orders.us", Type: "OrderPlaced", Data: json.RawMessage(`{"id":2}`),
	})
	if err != nil {
		log.Fatal(err)
	}

	for ev, err := range store.Read(ctx, eventstore.Query{Topics: []string{"orders.>"}}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Seq, ev.Topic, ev.Type, string(ev.Data))
	}

	seq, err := store.Resolve(ctx, second.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second event's sequence:", seq)
	// Output:
	// 1 orders.eu OrderPlaced {"id":1}
	// 2 orders.us OrderPlaced {"id":2}
	// second event's sequence: 2
}
