package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
	"github.com/rewind-dev/rewind/replay"
)

// A subscription from the zero cursor first replays the stored events, then
// follows the live tail: the event appended once it has caught up arrives
// next, with no gap and no duplicate. The hub and the subscription are each
// owned by a context.
func ExampleHub_Subscribe() {
	dir, err := os.MkdirTemp("", "replay-example")
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := eventstore.Open(ctx, nc, eventstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	appendEvent := func(data string) {
		ev := eventstore.Event{Topic: "orders.eu", Type: "OrderPlaced", Data: json.RawMessage(data)}
		if _, err := store.Append(ctx, ev); err != nil {
			log.Fatal(err)
		}
	}
	appendEvent(`{"id":1}`) // stored before anyone subscribes

	hub := replay.NewHub(store, replay.Config{}, slog.New(slog.DiscardHandler))
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(ctx) }()
	<-hub.Ready()

	subCtx, endSub := context.WithCancel(ctx)
	caughtUp := make(chan uint64, 1)
	sub, err := hub.Subscribe(subCtx, replay.Request{Topics: []string{"orders.>"}, After: 0},
		replay.OnCaughtUp(func(seq uint64) { caughtUp <- seq }))
	if err != nil {
		log.Fatal(err)
	}

	ev := <-sub.C
	fmt.Println("replayed:", ev.Seq, string(ev.Data))
	fmt.Println("caught up at:", <-caughtUp)

	appendEvent(`{"id":2}`)
	ev = <-sub.C
	fmt.Println("live:", ev.Seq, string(ev.Data))

	endSub()
	for range sub.C { // C closes once the subscription has let go
	}
	fmt.Println("subscription error after cancel:", sub.Err())

	cancel()
	<-hubDone
	// Output:
	// replayed: 1 {"id":1}
	// caught up at: 1
	// live: 2 {"id":2}
	// subscription error after cancel: <nil>
}
