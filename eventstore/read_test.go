package eventstore_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestReadRanges: reads of every shape around the first batch a read
// takes before its consumer (ranges ending inside it, at its edge and past
// it, one topic or all, with a limit, with removed events) yield exactly
// the stored events they select, in order, without a gap or a repeat
// where the consumer takes over.
func TestReadRanges(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	evs := make([]eventstore.Event, 300)
	for i := range evs {
		topic := "a"
		if i%3 == 2 {
			topic = "b"
		}
		evs[i] = eventstore.Event{Topic: topic, Type: "x", Data: json.RawMessage(fmt.Sprint(i))}
	}
	evs, err := s.AppendBatch(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(n.Connect())
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "REWIND")
	if err != nil {
		t.Fatal(err)
	}
	removed := map[uint64]bool{}
	for _, seq := range []uint64{10, 33, 34, 200} {
		if err := stream.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
		removed[seq] = true
	}
	want := func(q eventstore.Query) []string {
		var out []eventstore.Event
		for _, ev := range evs {
			if ev.Seq > q.After && (q.Until == 0 || ev.Seq <= q.Until) && !removed[ev.Seq] && q.Matches(ev) {
				out = append(out, ev)
			}
		}
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		return ids(out)
	}
	var queries []eventstore.Query
	for _, topics := range [][]string{nil, {"a"}, {"b"}, {"a", "b"}, {">"}} {
		for _, after := range []uint64{0, 9, 31, 32, 33, 150} {
			for _, until := range []uint64{0, 10, 32, 33, 34, 40, 64, 65, 200, 299, 300, 400} {
				if until != 0 && until <= after {
					continue
				}
				queries = append(queries, eventstore.Query{Topics: topics, After: after, Until: until})
			}
		}
	}
	queries = append(queries,
		eventstore.Query{Until: 300, Limit: 1},
		eventstore.Query{Until: 300, Limit: 32},
		eventstore.Query{Until: 300, Limit: 33},
		eventstore.Query{Topics: []string{"b"}, Until: 300, Limit: 40},
		eventstore.Query{Types: []string{"y"}, Until: 300},
	)
	for _, q := range queries {
		got, w := ids(collect(t, s, q)), want(q)
		if !slices.Equal(got, w) {
			t.Errorf("%+v: got %d events, want %d\n got %v\nwant %v", q, len(got), len(w), got, w)
		}
	}
}

// TestReadSurvivesJetStreamRestart: a read whose consumer dies with its
// JetStream server goes on, once the server is back, after the last event
// it yielded: no error, no gap, no repeat.
func TestReadSurvivesJetStreamRestart(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	evs := make([]eventstore.Event, 2000)
	for i := range evs {
		evs[i] = eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(fmt.Sprint(i))}
	}
	evs, err := s.AppendBatch(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	var got []eventstore.Event
	for ev, err := range s.Read(ctx, eventstore.Query{Topics: []string{"t"}, Until: evs[len(evs)-1].Seq}) {
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		got = append(got, ev)
		if len(got) == 300 {
			n.Stop()
			n.Start()
		}
	}
	if !slices.Equal(ids(got), ids(evs)) {
		t.Fatalf("got %d events, want %d", len(got), len(evs))
	}
}
