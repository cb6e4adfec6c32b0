package eventstore_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestKeepPerTopic: MaxMsgsPerSubject 2 keeps exactly the newest 2 of each
// topic; a remembered cursor whose event was superseded is expired, one
// still stored resolves.
func TestKeepPerTopic(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{MaxMsgsPerSubject: 2})
	var all []eventstore.Event
	for range 5 {
		for _, topic := range []string{"dev.a", "dev.b", "dev.c"} {
			all = append(all, appendN(t, s, topic, 1)...)
		}
	}
	// Appended round-robin: the last 6 appends are the newest 2 of each topic.
	want := ids(all[len(all)-6:])
	if got := ids(collect(t, s, eventstore.Query{})); !slices.Equal(got, want) {
		t.Fatalf("kept %v, want the newest 2 of each topic %v", got, want)
	}
	for _, topic := range []string{"dev.a", "dev.b", "dev.c"} {
		if got := collect(t, s, eventstore.Query{Topics: []string{topic}}); len(got) != 2 {
			t.Errorf("topic %s keeps %d events, want 2", topic, len(got))
		}
	}
	if _, err := s.Resolve(ctxT(t), all[0].ID); !errors.Is(err, eventstore.ErrCursorExpired) {
		t.Errorf("resolve a superseded event: %v, want ErrCursorExpired", err)
	}
	// An event superseded in the middle of the stream, after the oldest one
	// kept (dev.stale's): its sequence is above the stream's first.
	appendN(t, s, "dev.stale", 1)
	busy := appendN(t, s, "dev.busy", 3)
	if _, err := s.Resolve(ctxT(t), busy[0].ID); !errors.Is(err, eventstore.ErrCursorExpired) {
		t.Errorf("resolve a superseded event after the first stored one: %v, want ErrCursorExpired", err)
	}
	if seq, err := s.Resolve(ctxT(t), all[len(all)-6].ID); err != nil || seq != all[len(all)-6].Seq {
		t.Errorf("resolve a kept event: %d, %v, want %d", seq, err, all[len(all)-6].Seq)
	}
}

// TestKeepPerTopicReconciled: a per-topic limit set on an existing stream
// is applied to it, and 0 takes it away again.
func TestKeepPerTopicReconciled(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	appendN(t, s, "dev.a", 5)
	s = n.Store(eventstore.Config{MaxMsgsPerSubject: 1})
	if got := collect(t, s, eventstore.Query{}); len(got) != 1 {
		t.Fatalf("after setting keep per topic 1 the stream holds %d events, want 1", len(got))
	}
	s = n.Store(eventstore.Config{})
	appendN(t, s, "dev.a", 3)
	if got := collect(t, s, eventstore.Query{}); len(got) != 4 {
		t.Fatalf("after removing the limit the stream holds %d events, want 4", len(got))
	}
}
