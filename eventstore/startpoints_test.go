package eventstore_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestAfterLast: the last n matching events, found however far back they
// lie behind other topics.
func TestAfterLast(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	if after, err := s.AfterLast(ctx, eventstore.Query{Topics: []string{"rare"}}, 3); err != nil || after != 0 {
		t.Fatalf("empty stream: %d %v", after, err)
	}
	rare := appendN(t, s, "rare", 5)
	batch := make([]eventstore.Event, 5000)
	for i := range batch {
		batch[i] = eventstore.Event{Topic: "noise", Type: "n", Data: json.RawMessage(`1`)}
	}
	if _, err := s.AppendBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    eventstore.Query
		n    int
		want uint64
	}{
		{eventstore.Query{Topics: []string{"rare"}}, 3, rare[1].Seq},
		{eventstore.Query{Topics: []string{"rare"}}, 5, rare[0].Seq - 1},
		{eventstore.Query{Topics: []string{"rare"}}, 50, 0},
		{eventstore.Query{Topics: []string{"noise"}}, 1, rare[4].Seq + 4999},
		{eventstore.Query{Types: []string{"message"}}, 2, rare[2].Seq},
	} {
		if got, err := s.AfterLast(ctx, tc.q, tc.n); err != nil || got != tc.want {
			t.Errorf("AfterLast(%+v, %d) = %d, %v; want %d", tc.q, tc.n, got, err, tc.want)
		}
	}
	if _, err := s.AfterLast(ctx, eventstore.Query{}, 0); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("n = 0: %v", err)
	}
}
