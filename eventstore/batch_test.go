package eventstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// keyed is a batch of n events on topic, data its index plus offset, each
// with key prefix-i.
func keyed(topic, prefix string, n, offset int) []eventstore.BatchEvent {
	out := make([]eventstore.BatchEvent, n)
	for i := range out {
		out[i] = eventstore.BatchEvent{Event: ev(topic, fmt.Sprint(i+offset)), Key: fmt.Sprintf("%s-%d", prefix, i)}
	}
	return out
}

func mustEach(t *testing.T, s *eventstore.Store, batch []eventstore.BatchEvent, opts ...eventstore.AppendOption) []eventstore.Appended {
	t.Helper()
	res, err := s.AppendEach(ctxT(t), batch, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d events", len(res), len(batch))
	}
	return res
}

// TestAppendEachAtomic: a batch is stored as one atomic batch, its events
// at consecutive sequences in its order, and a retry of the same batch
// (the same keys) stores nothing and answers every event with the
// original.
func TestAppendEachAtomic(t *testing.T) {
	n := syncAlwaysNATS(t)
	s := n.Store(eventstore.Config{})
	batch := keyed("orders", "k", 40, 0)
	res := mustEach(t, s, batch)
	for i, r := range res {
		if r.Err != nil || r.Event.Seq != uint64(i+1) || string(r.Event.Data) != fmt.Sprint(i) || r.Event.ID.IsZero() {
			t.Fatalf("event %d: %+v", i, r)
		}
	}
	hs := rawHeaders(t, n, 1, 40)
	if a, b := hs[0].Get(batchHeader), hs[1].Get(batchHeader); a == "" || a != b {
		t.Errorf("batch ids of the first and last event: %q %q, want one atomic batch", a, b)
	}
	again := mustEach(t, s, batch)
	for i, r := range again {
		if r.Err != nil || r.Event.ID != res[i].Event.ID || r.Event.Seq != res[i].Event.Seq {
			t.Fatalf("retry, event %d: %+v, first stored as %s at %d", i, r, res[i].Event.ID, res[i].Event.Seq)
		}
	}
	if got := collect(t, s, eventstore.Query{}); len(got) != 40 {
		t.Fatalf("stream holds %d events after a retry, want 40", len(got))
	}
}

// TestAppendEachOneBadEvent: an event whose key was used for another event
// fails alone, inside a batch of its own or repeated inside the batch; its
// neighbours are stored, in order, and a key repeated with the same event
// answers with the original.
func TestAppendEachOneBadEvent(t *testing.T) {
	for _, groupCommit := range []bool{true, false} {
		t.Run(fmt.Sprintf("group commit %v", groupCommit), func(t *testing.T) {
			s := testenv.StartNATS(t).Store(eventstore.Config{DisableGroupCommit: !groupCommit})
			first := mustEach(t, s, []eventstore.BatchEvent{{Event: ev("t", "1"), Key: "old"}})[0]
			batch := keyed("t", "new", 30, 100)
			batch[3].Key = "old"                                              // another event under a stored key
			batch[7] = eventstore.BatchEvent{Event: ev("t", "1"), Key: "old"} // the same event again
			batch[12].Key = batch[10].Key                                     // repeated inside the batch, other data
			batch[20] = batch[15]                                             // repeated inside the batch, the same event
			res := mustEach(t, s, batch)
			var last uint64
			for i, r := range res {
				switch i {
				case 3, 12:
					if !errors.Is(r.Err, eventstore.ErrKeyReused) {
						t.Errorf("event %d: %+v, want ErrKeyReused", i, r)
					}
				case 7:
					if r.Err != nil || r.Event.ID != first.Event.ID || r.Event.Seq != first.Event.Seq {
						t.Errorf("event 7, the stored event again: %+v, want %s", r, first.Event.ID)
					}
				case 20:
					if r.Err != nil || r.Event.ID != res[15].Event.ID {
						t.Errorf("event 20, event 15 again: %+v, want %s", r, res[15].Event.ID)
					}
				default:
					if r.Err != nil || r.Event.Seq <= last || string(r.Event.Data) != fmt.Sprint(100+i) {
						t.Errorf("event %d: %+v after sequence %d", i, r, last)
					}
					last = r.Event.Seq
				}
			}
			if got := collect(t, s, eventstore.Query{}); len(got) != 1+30-4 {
				t.Errorf("stream holds %d events, want %d", len(got), 1+30-4)
			}
		})
	}
}

// TestAppendEachRefusesBeforeStoring: an invalid event, key or declared
// type anywhere in a batch refuses all of it, naming its index, and stores
// nothing.
func TestAppendEachRefusesBeforeStoring(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{MaxPayload: 1024, Check: func(ev eventstore.Event) error {
		if string(ev.Data) == `"typed wrong"` {
			return errors.New("does not fit its type")
		}
		return nil
	}})
	for _, tc := range []struct {
		name string
		bad  eventstore.BatchEvent
		want error
	}{
		{"topic", eventstore.BatchEvent{Event: ev("a..b", "1")}, eventstore.ErrInvalidTopic},
		{"data", eventstore.BatchEvent{Event: ev("t", "{")}, eventstore.ErrInvalidEvent},
		{"size", eventstore.BatchEvent{Event: ev("t", `"`+strings.Repeat("x", 2000)+`"`)}, eventstore.ErrPayloadTooLarge},
		{"key", eventstore.BatchEvent{Event: ev("t", "1"), Key: " spaced"}, eventstore.ErrInvalidEvent},
		{"declared type", eventstore.BatchEvent{Event: ev("t", `"typed wrong"`)}, eventstore.ErrInvalidEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batch := keyed("t", tc.name, 20, 0)
			batch[17] = tc.bad
			_, err := s.AppendEach(ctxT(t), batch)
			if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), "event 17: ") {
				t.Fatalf("got %v, want event 17: %v", err, tc.want)
			}
		})
	}
	if _, err := s.AppendEach(ctxT(t), keyed("t", "x", 2, 0), eventstore.WithIdempotencyKey("k")); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("one key for a batch: %v, want ErrInvalidEvent", err)
	}
	if st, err := s.State(ctxT(t)); err != nil || st.Events != 0 {
		t.Fatalf("stream holds %d events (%v) after refused batches", st.Events, err)
	}
}

// TestAppendEachScopes: a key is its scope's own, in batches as in Append.
func TestAppendEachScopes(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	batch := []eventstore.BatchEvent{{Event: ev("t", "1"), Key: "k"}}
	a := mustEach(t, s, batch, eventstore.WithIdempotencyScope("alice"))[0]
	b := mustEach(t, s, batch, eventstore.WithIdempotencyScope("bob"))[0]
	again, err := s.Append(ctxT(t), ev("t", "1"), eventstore.WithIdempotencyKey("k"), eventstore.WithIdempotencyScope("alice"))
	if a.Err != nil || b.Err != nil || err != nil || a.Event.ID == b.Event.ID || again.ID != a.Event.ID {
		t.Fatalf("alice %+v, bob %+v, alice's Append again %s (%v)", a, b, again.ID, err)
	}
}

// TestAppendEachConcurrent: batches from many requests at once are each
// stored whole by an atomic batch, at consecutive sequences.
func TestAppendEachConcurrent(t *testing.T) {
	n := syncAlwaysNATS(t)
	s := n.Store(eventstore.Config{})
	const batches, size = 80, 20
	res := make([][]eventstore.Appended, batches)
	var wg sync.WaitGroup
	for b := range batches {
		wg.Go(func() {
			r, err := s.AppendEach(ctxT(t), keyed(fmt.Sprintf("t%d", b), "k", size, 0))
			if err != nil {
				t.Error(err)
			}
			res[b] = r
		})
	}
	wg.Wait()
	var seqs []uint64
	for b, r := range res {
		for i, a := range r {
			if a.Err != nil || i > 0 && a.Event.Seq != r[i-1].Event.Seq+1 {
				t.Fatalf("batch %d, event %d: %+v", b, i, a)
			}
			seqs = append(seqs, a.Event.Seq)
		}
	}
	for i, h := range rawHeaders(t, n, seqs...) {
		if h.Get(batchHeader) == "" {
			t.Fatalf("event at sequence %d was not stored by an atomic batch", seqs[i])
		}
	}
}
