package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestReadLimit: reads made with a limited context hold at most its slots
// at once; a read beyond them waits for one to be given back, and reads
// with another client's context do not wait for them.
func TestReadLimit(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	if _, err := s.Append(ctx, eventstore.Event{Topic: "a", Type: "x", Data: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	client := eventstore.WithReadLimit(ctx, 2)
	if eventstore.WithReadLimit(client, 100) != client {
		t.Fatal("a nested limit replaced the client's")
	}

	// Two reads stop inside their first event, each holding a slot.
	holding := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 2)
	for range 2 {
		go func() {
			for _, err := range s.Read(client, eventstore.Query{}) {
				if err != nil {
					done <- err
					return
				}
				holding <- struct{}{}
				<-release
			}
			done <- nil
		}()
	}
	<-holding
	<-holding

	// A third read of the same client cannot start until one ends.
	short, cancel := context.WithTimeout(client, 200*time.Millisecond)
	defer cancel()
	for _, err := range s.Read(short, eventstore.Query{}) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("third read of a client with 2 slots: %v, want it to wait", err)
		}
		break
	}
	// Another client reads at once.
	for _, err := range s.Read(eventstore.WithReadLimit(ctx, 2), eventstore.Query{}) {
		if err != nil {
			t.Fatalf("another client: %v", err)
		}
		break
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range s.Read(client, eventstore.Query{}) {
		if err != nil {
			t.Fatalf("after the slots were given back: %v", err)
		}
		break
	}
}
