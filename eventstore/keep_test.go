package eventstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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

// TestKeyedRetryAfterSupersede: under MaxMsgsPerSubject, a retry of an
// append with an idempotency key whose event a newer one has replaced
// returns the original event, as stored, and stores nothing; with other
// data it is ErrKeyReused. A store that does not remember the append
// (another process, a restart) answers ErrSuperseded, which names no
// sequence, never a cursor error. Appends stored by one atomic batch
// (group commit) and retried in one are answered alike.
func TestKeyedRetryAfterSupersede(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{MaxMsgsPerSubject: 1})
	ctx := ctxT(t)
	key := func(i int) eventstore.AppendOption { return eventstore.WithIdempotencyKey(fmt.Sprintf("k%d", i)) }
	topic := func(i int) string { return fmt.Sprintf("dev.%d", i) }

	// 20 keyed appends held together, stored as one batch.
	const n1 = 20
	queued, release := s.HoldCommits()
	var chs []<-chan appended
	for i := range n1 {
		chs = append(chs, queueAppend(t, s, queued, ctx, ev(topic(i), fmt.Sprint(i)), key(i)))
	}
	release()
	orig := make([]eventstore.Event, n1)
	for i, ch := range chs {
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("append %d: %v", i, r.err)
		}
		orig[i] = r.ev
	}
	// A newer event of each topic replaces it.
	for i := range n1 {
		appendN(t, s, topic(i), 1)
	}
	st, err := s.State(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// One retry alone, then the others held together.
	again, err := s.Append(ctx, ev(topic(0), "0"), key(0))
	if err != nil || again.ID != orig[0].ID || again.Seq != orig[0].Seq || string(again.Data) != "0" || again.Topic != topic(0) {
		t.Fatalf("retry alone: %+v, %v; want the original %+v", again, err, orig[0])
	}
	queued, release = s.HoldCommits()
	chs = chs[:0]
	for i := 1; i < n1; i++ {
		chs = append(chs, queueAppend(t, s, queued, ctx, ev(topic(i), fmt.Sprint(i)), key(i)))
	}
	release()
	for j, ch := range chs {
		i := j + 1
		if r := result(t, ch); r.err != nil || r.ev.ID != orig[i].ID || r.ev.Seq != orig[i].Seq || string(r.ev.Data) != fmt.Sprint(i) {
			t.Fatalf("retry %d in a batch: %+v, %v; want the original %+v", i, r.ev, r.err, orig[i])
		}
	}
	if _, err := s.Append(ctx, ev(topic(1), `"other"`), key(1)); !errors.Is(err, eventstore.ErrKeyReused) || !strings.Contains(err.Error(), orig[1].ID.String()) {
		t.Fatalf("the key with other data: %v, want ErrKeyReused naming %s", err, orig[1].ID)
	}
	if after, err := s.State(ctx); err != nil || after.LastSeq != st.LastSeq {
		t.Fatalf("retries stored events: last sequence %d, was %d (%v)", after.LastSeq, st.LastSeq, err)
	}

	// Another store on the same stream remembers nothing of them.
	other := n.Store(eventstore.Config{MaxMsgsPerSubject: 1})
	_, err = other.Append(ctx, ev(topic(2), "2"), key(2))
	if !errors.Is(err, eventstore.ErrSuperseded) || errors.Is(err, eventstore.ErrCursorNotFound) || errors.Is(err, eventstore.ErrCursorExpired) {
		t.Fatalf("retry on another store: %v, want ErrSuperseded alone", err)
	}
	if msg := err.Error(); strings.Contains(msg, "sequence") || strings.Contains(msg, fmt.Sprint(orig[2].Seq)) || !strings.Contains(msg, "not stored again") {
		t.Fatalf("message %q: it says what happened and shows no sequence", msg)
	}
	t.Logf("another store: %v", err)
	if after, err := other.State(ctx); err != nil || after.LastSeq != st.LastSeq {
		t.Fatalf("a retry on another store stored an event: last sequence %d, was %d (%v)", after.LastSeq, st.LastSeq, err)
	}
}
