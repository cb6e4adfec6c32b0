package eventstore_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

func TestLoadConfig(t *testing.T) {
	n := testenv.StartNATS(t)
	nc := n.Connect()
	if _, err := eventstore.LoadConfig(ctxT(t), nc, "REWIND"); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("no stream: %v, want ErrStreamNotFound", err)
	}
	want := eventstore.Config{Stream: "EV", SubjectPrefix: "ev", MaxPayload: 4096, MaxAge: time.Hour, MaxMsgs: 1000, MaxMsgsPerSubject: 3, Duplicates: time.Minute}
	n.Store(want)
	js, _ := jetstream.New(nc)
	before, err := js.Stream(ctxT(t), "EV")
	if err != nil {
		t.Fatal(err)
	}
	got, err := eventstore.LoadConfig(ctxT(t), nc, "EV")
	if err != nil {
		t.Fatal(err)
	}
	if got.Stream != "EV" || got.SubjectPrefix != "ev" || got.MaxPayload != 4096 || got.MaxAge != time.Hour ||
		got.MaxMsgs != 1000 || got.MaxMsgsPerSubject != 3 || got.MaxBytes != 0 || got.Duplicates != time.Minute || got.Replicas != 1 || got.Storage != jetstream.FileStorage {
		t.Errorf("LoadConfig = %+v", got)
	}
	if _, err := eventstore.Open(ctxT(t), nc, got); err != nil {
		t.Fatal(err)
	}
	after, _ := js.Stream(ctxT(t), "EV")
	// Every setting: a field LoadConfig forgot (the per-topic limit once)
	// was reset by every tool that opened the store.
	if b, a := before.CachedInfo().Config, after.CachedInfo().Config; !reflect.DeepEqual(b, a) {
		t.Errorf("opening with the loaded config changed the stream: %+v -> %+v", b, a)
	}

	// A stream Rewind did not make is not opened behind its owner's back.
	if _, err := js.CreateStream(ctxT(t), jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	if _, err := eventstore.LoadConfig(ctxT(t), nc, "OTHER"); !errors.Is(err, eventstore.ErrStreamMismatch) {
		t.Errorf("foreign stream: %v, want ErrStreamMismatch", err)
	}
}

func TestAdminReads(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	a := appendN(t, s, "orders.eu", 3)
	mid := time.Now()
	b := appendN(t, s, "orders.us", 2)

	var got []eventstore.Header
	for h, err := range s.Headers(ctxT(t), eventstore.Query{Topics: []string{"orders.*"}, After: a[0].Seq}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	if len(got) != 4 || got[0].ID != a[1].ID || got[0].Seq != a[1].Seq || got[0].Topic != "orders.eu" ||
		got[0].Type != "message" || got[0].Size != len(a[1].Data) || got[0].Stored.IsZero() || got[3].ID != b[1].ID {
		t.Errorf("headers: %+v", got)
	}

	counts, err := s.CountTopics(ctxT(t), "orders.>")
	if err != nil || len(counts) != 2 || counts["orders.eu"] != 3 || counts["orders.us"] != 2 {
		t.Errorf("CountTopics = %v, %v", counts, err)
	}
	if counts, err := s.CountTopics(ctxT(t), "payments.*"); err != nil || len(counts) != 0 {
		t.Errorf("CountTopics(nothing) = %v, %v", counts, err)
	}

	for _, tc := range []struct {
		at   time.Time
		want uint64
	}{
		{time.Time{}, 1},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(1677, 9, 21, 0, 0, 0, 0, time.UTC), 1}, // before Unix nanoseconds begin
		{mid, b[0].Seq},
		{time.Now().Add(time.Hour), b[1].Seq + 1},
		// Past the end of Unix nanoseconds (2262-04-11T23:47:16Z), where
		// JetStream's start times wrap: still after the end.
		{time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC), b[1].Seq + 1},
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), b[1].Seq + 1},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), b[1].Seq + 1},
	} {
		if seq, err := s.SeqAt(ctxT(t), tc.at); err != nil || seq != tc.want {
			t.Errorf("SeqAt(%v) = %d, %v; want %d", tc.at, seq, err, tc.want)
		}
	}

	st, err := s.Stats(ctxT(t))
	if err != nil || st.Events != 5 || st.Topics != 2 || st.LastSeq != b[1].Seq || st.Retention != "limits" ||
		st.Discard != "old" || st.Storage != "file" || len(st.Consumers) != 0 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
}
