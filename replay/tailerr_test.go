package replay_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// TestTailErr: while the live tail fails at every attempt, TailErr says
// why, and readiness with it; an event delivered clears it at once. (A
// NATS server cut off from its cluster's majority answers stream info
// but refuses consumers: /readyz stayed 200 through such a split in
// cmd/server TestNetworkFaults before it asked the tail.)
func TestTailErr(t *testing.T) {
	e := start(t, replay.Config{})
	if err := e.hub.TailErr(); err != nil {
		t.Fatalf("a new hub's tail: %v", err)
	}
	e.publish(t, "t", 0)
	js, err := jetstream.New(e.nats.Connect())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "REWIND"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "TailErr to report the failing tail", func() bool { return e.hub.TailErr() != nil })
	t.Logf("tail error: %v", e.hub.TailErr())
	// A store opened again creates the stream; the tail's next attempt
	// runs, and its first event clears the error.
	store := e.nats.Store(eventstore.Config{})
	testenv.Eventually(t, 15*time.Second, "the tail to deliver again", func() bool {
		if _, err := store.Append(context.Background(), eventstore.Event{Topic: "t", Type: "n", Data: []byte("1")}); err != nil {
			return false
		}
		return e.hub.TailErr() == nil
	})
}
