package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestResolveScansBounded: however many lookups of unknown ids run at
// once, and wherever their times fall (inside the stream's span, where
// the window scans read, or far past it), no more than the store's bound
// of scans runs at once, and each still answers ErrCursorNotFound.
func TestResolveScansBounded(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	begin := time.Now()
	evs := make([]eventstore.Event, 3000)
	for i := range evs {
		evs[i] = eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`{}`)}
	}
	if _, err := n.Store(eventstore.Config{}).AppendBatch(ctx, evs); err != nil {
		t.Fatal(err)
	}
	span := time.Since(begin)
	reader := n.Store(eventstore.Config{})
	const lookups = 8
	var wg sync.WaitGroup
	errs := make([]error, lookups)
	for i := range lookups {
		at := begin.Add(span * time.Duration(i) / lookups) // inside the stream's span
		if i%4 == 3 {
			at = time.Date(2300+i, 1, 1, 0, 0, 0, 0, time.UTC) // past 2262
		}
		id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy())
		wg.Go(func() { _, errs[i] = reader.Resolve(ctx, id) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, eventstore.ErrCursorNotFound) {
			t.Errorf("lookup %d: %v, want ErrCursorNotFound", i, err)
		}
	}
	if peak := reader.PeakScans(); peak > eventstore.MaxScans || peak == 0 {
		t.Fatalf("%d scans ran at once, want at least 1 and at most %d", peak, eventstore.MaxScans)
	}
}

// TestResolveWaitHonoursContext: a lookup waiting for its turn to scan
// gives up when its context ends; one that needs no scan does not wait.
func TestResolveWaitHonoursContext(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	known := appendN(t, s, "t", 3)
	reader := n.Store(eventstore.Config{})
	release, err := reader.HoldScans(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if seq, err := reader.Resolve(ctxT(t), known[1].ID); err != nil || seq != known[1].Seq {
		t.Fatalf("known id while the scans are taken: %d, %v; want %d", seq, err, known[1].Seq)
	}
	ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
	defer cancel()
	unknown := ulid.MustNew(ulid.Now(), ulid.DefaultEntropy())
	if _, err := reader.Resolve(ctx, unknown); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unknown id while the scans are taken: %v, want the context's deadline", err)
	}
}

// TestResolveAnyTime: ids of any time the ULID format allows, stored by
// writers whose clocks are centuries off, are found; ids of such times that
// are not stored are not found, rather than making JetStream unavailable.
func TestResolveAnyTime(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	times := []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 1e6, time.UTC),
		time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC),
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	writer := n.Store(eventstore.Config{})
	appendN(t, writer, "t", 5)
	var stored []eventstore.Event
	for _, at := range times {
		ev, err := writer.Append(ctx, eventstore.Event{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()), Topic: "t", Type: "x", Data: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatalf("append an id of %v: %v", at, err)
		}
		stored = append(stored, ev)
	}
	appendN(t, writer, "t", 5)
	reader := n.Store(eventstore.Config{})
	for _, ev := range stored {
		if seq, err := reader.Resolve(ctx, ev.ID); err != nil || seq != ev.Seq {
			t.Errorf("stored id of %v: %d, %v; want %d", ev.Time(), seq, err, ev.Seq)
		}
		unknown := ulid.MustNew(ev.ID.Time(), ulid.DefaultEntropy())
		if _, err := reader.Resolve(ctx, unknown); !errors.Is(err, eventstore.ErrCursorNotFound) {
			t.Errorf("unknown id of %v: %v, want ErrCursorNotFound", ev.Time(), err)
		}
	}
}
