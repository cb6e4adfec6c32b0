package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

func appendTyped(t *testing.T, s *eventstore.Store, topic, typ string) eventstore.Event {
	t.Helper()
	ev, err := s.Append(ctxT(t), eventstore.Event{Topic: topic, Type: typ, Data: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return ev
}

func readLatest(t *testing.T, s *eventstore.Store, q eventstore.Query) []uint64 {
	t.Helper()
	var out []uint64
	for ev, err := range s.ReadLatest(ctxT(t), q) {
		if err != nil {
			t.Fatalf("read latest %+v: %v", q, err)
		}
		out = append(out, ev.Seq)
	}
	return out
}

// TestReadLatest: the newest event of each matching topic, in stream
// order, across wildcards, with types (a topic whose newest event is of
// another type is left out) and bounded by Until.
func TestReadLatest(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	appendTyped(t, s, "dev.b", "state")   // 1
	appendTyped(t, s, "dev.a", "state")   // 2: dev.a's only event
	appendTyped(t, s, "dev.b", "state")   // 3
	appendTyped(t, s, "other.x", "state") // 4
	appendTyped(t, s, "dev.c.d", "state") // 5
	appendTyped(t, s, "dev.b", "state")   // 6: dev.b's newest
	appendTyped(t, s, "dev.c.d", "alarm") // 7: dev.c.d's newest, another type
	appendTyped(t, s, "other.x", "state") // 8
	appendTyped(t, s, "dev.e", "alarm")   // 9
	for _, tc := range []struct {
		name string
		q    eventstore.Query
		want []uint64
	}{
		{"every topic", eventstore.Query{}, []uint64{2, 6, 7, 8, 9}},
		{"dev.>", eventstore.Query{Topics: []string{"dev.>"}}, []uint64{2, 6, 7, 9}},
		{"dev.*", eventstore.Query{Topics: []string{"dev.*"}}, []uint64{2, 6, 9}},
		{"one topic", eventstore.Query{Topics: []string{"dev.b"}}, []uint64{6}},
		{"two disjoint", eventstore.Query{Topics: []string{"dev.a", "other.*"}}, []uint64{2, 8}},
		{"overlapping", eventstore.Query{Topics: []string{"dev.>", "dev.*"}}, []uint64{2, 6, 7, 9}},
		{"types", eventstore.Query{Topics: []string{"dev.>"}, Types: []string{"state"}}, []uint64{2, 6}},
		{"until", eventstore.Query{Topics: []string{"dev.>"}, Until: 6}, []uint64{2, 6}},
		{"until before newer", eventstore.Query{Topics: []string{"dev.>"}, Until: 5}, []uint64{2}},
		{"nothing stored", eventstore.Query{Topics: []string{"none.>"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readLatest(t, s, tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStartLatest: latest is a fourth start point, excluding the others,
// and no position for StartAfter.
func TestStartLatest(t *testing.T) {
	yes, last := true, 3
	st, err := eventstore.ParseStart(nil, nil, nil, &yes)
	if err != nil || !st.Latest {
		t.Fatalf("ParseStart latest: %+v, %v", st, err)
	}
	if _, err := eventstore.ParseStart(nil, &last, nil, &yes); !errors.Is(err, eventstore.ErrStartConflict) {
		t.Errorf("last and latest: %v, want ErrStartConflict", err)
	}
	no := false
	if st, err := eventstore.ParseStart(nil, &last, nil, &no); err != nil || st.Latest {
		t.Errorf("latest false is not given: %+v, %v", st, err)
	}
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	if _, _, err := s.StartAfter(context.Background(), eventstore.Query{}, eventstore.Start{Latest: true}); !errors.Is(err, eventstore.ErrInvalidStart) {
		t.Errorf("StartAfter latest: %v, want ErrInvalidStart", err)
	}
}
