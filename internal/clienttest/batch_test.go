package clienttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/client"
)

// TestPublishBatch: PublishBatch stores its messages in order through
// POST /publish, answers each at its index (a key sent again answers the
// original, a key reused for other data fails alone), and a batch the
// server refuses whole stores nothing and names the message.
func TestPublishBatch(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s.url, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	first, err := c.PublishBatch(ctx, []client.Message{
		{Topic: "batch.a", Data: map[string]int{"n": 0}, IdempotencyKey: "k0"},
		{Topic: "batch.a", Type: "created", Data: map[string]int{"n": 1}},
		{Topic: "batch.b", Data: "two"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 {
		t.Fatalf("%d results for 3 messages", len(first))
	}
	for i, st := range first {
		if st.Err != nil || st.ID == "" || (i > 0 && st.Seq != first[i-1].Seq+1) {
			t.Fatalf("message %d: %+v (results %+v)", i, st, first)
		}
	}

	_, err = c.PublishBatch(ctx, []client.Message{
		{Topic: "batch.a", Data: 3},
		{Topic: "batch a", Data: 4}, // a space: not a topic
	})
	var be *client.BatchError
	var ce *client.Error
	if !errors.As(err, &be) || be.Index != 1 || !errors.As(err, &ce) || ce.Code != "BAD_USER_INPUT" || !client.Fatal(err) {
		t.Fatalf("a bad topic at index 1: got %v (%#v)", err, be)
	}

	again, err := c.PublishBatch(ctx, []client.Message{
		{Topic: "batch.a", Data: map[string]int{"n": 0}, IdempotencyKey: "k0"}, // sent again
		{Topic: "batch.a", Data: map[string]int{"n": 9}, IdempotencyKey: "k0"}, // reused for other data
		{Topic: "batch.a", Data: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Err != nil || again[0].ID != first[0].ID {
		t.Errorf("a key sent again: %+v, want the original %s", again[0], first[0].ID)
	}
	if !errors.As(again[1].Err, &ce) || ce.Code != "IDEMPOTENCY_KEY_REUSED" || again[1].ID != "" {
		t.Errorf("a key reused for other data: %+v, want IDEMPOTENCY_KEY_REUSED", again[1])
	}
	// The refused batch stored nothing: the next event follows the first
	// batch's.
	if again[2].Err != nil || again[2].Seq != first[2].Seq+1 {
		t.Errorf("the next stored event: %+v, want sequence %d", again[2], first[2].Seq+1)
	}

	col := collect(ctx, c, client.Request{Topics: []string{"batch.*"}, After: client.Zero})
	col.wait(t, 4)
	want := []string{first[0].ID, first[1].ID, first[2].ID, again[2].ID}
	if got := col.ids(); len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("subscribed: %v, want %v", got, want)
	}
	if none, err := c.PublishBatch(ctx, nil); none != nil || err != nil {
		t.Errorf("an empty batch: %v, %v; want nothing sent", none, err)
	}
}
