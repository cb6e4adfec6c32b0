package durable_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/durable"
	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// TestStartErrors: a request a client cannot resume from is refused before
// it starts, with the code Rewind's own API gives it.
func TestStartErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := testenv.StartNATS(t).Store(eventstore.Config{})
	hub := replay.NewHub(store, replay.Config{}, slog.New(slog.DiscardHandler))
	go hub.Run(ctx)
	src := durable.Source{Store: store, Hub: hub}
	unknown, malformed, zero, last, three, yes := "01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope", 0, 0, 3, true
	keep := func(e durable.Event[map[string]any]) map[string]any { return e.Data }
	for _, tc := range []struct {
		name string
		req  durable.Request
		code string
	}{
		{"two start points", durable.Request{AfterID: &unknown, Last: &zero}, "BAD_USER_INPUT"},
		{"unknown cursor", durable.Request{AfterID: &unknown}, "CURSOR_NOT_FOUND"},
		{"malformed cursor", durable.Request{AfterID: &malformed}, "BAD_USER_INPUT"},
		{"last out of range", durable.Request{Last: &last}, "BAD_USER_INPUT"},
		{"latest and last", durable.Request{Latest: &yes, Last: &three}, "BAD_USER_INPUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Topics = []string{"orders"}
			_, err := durable.Subscribe(ctx, src, tc.req, keep)
			if err == nil {
				t.Fatal("subscribed")
			}
			if got := durable.ErrorPresenter(nil)(ctx, err).Extensions["code"]; got != tc.code {
				t.Fatalf("code %v for %v, want %s", got, err, tc.code)
			}
		})
	}
	if _, err := durable.Subscribe(ctx, src, durable.Request{Topics: []string{"orders"}, AfterID: &unknown, Last: &zero}, keep); !errors.Is(err, durable.ErrStart) {
		t.Fatalf("two start points: %v, want ErrStart", err)
	}
}

// TestPresenterLeavesOtherErrors: the presenter codes Rewind's errors only;
// the application's own go to the presenter it wraps.
func TestPresenterLeavesOtherErrors(t *testing.T) {
	e := durable.ErrorPresenter(nil)(context.Background(), errors.New("out of stock"))
	if e.Message != "out of stock" || e.Extensions["code"] != nil {
		t.Fatalf("got %q %v", e.Message, e.Extensions)
	}
}

// TestSlowConsumer: a reader that takes nothing for the hub's StallTimeout
// has its subscription ended with SLOW_CONSUMER, reported while it still
// reads nothing.
func TestSlowConsumer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := testenv.StartNATS(t).Store(eventstore.Config{})
	for i := range 3 {
		if _, err := durable.Publish(ctx, store, "orders", "OrderPlaced", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	hub := replay.NewHub(store, replay.Config{StallTimeout: 50 * time.Millisecond}, slog.New(slog.DiscardHandler))
	go hub.Run(ctx)
	reported := make(chan string, 1)
	src := durable.Source{Store: store, Hub: hub, ErrorPresenter: func(ctx context.Context, err error) *gqlerror.Error {
		e := durable.ErrorPresenter(nil)(ctx, err)
		reported <- e.Extensions["code"].(string)
		return e
	}}
	zero := "00000000000000000000000000"
	events, err := durable.Subscribe(ctx, src, durable.Request{Topics: []string{"orders"}, AfterID: &zero},
		func(e durable.Event[map[string]int]) int { return e.Data["n"] })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-reported:
		if code != "SLOW_CONSUMER" {
			t.Fatalf("reported %s, want SLOW_CONSUMER", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no error reported 10s after the reader stalled")
	}
	for range events { // closed once reported
	}
}

// TestWhere: a typed subscription with a filter gets the events whose data
// passes, replayed then live.
func TestWhere(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := testenv.StartNATS(t).Store(eventstore.Config{})
	for i := range 6 {
		if _, err := durable.Publish(ctx, store, "orders", "OrderPlaced", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	hub := replay.NewHub(store, replay.Config{}, slog.New(slog.DiscardHandler))
	go hub.Run(ctx)
	where, err := eventfilter.Compile(&eventfilter.Spec{Or: []*eventfilter.Spec{{Path: "n", Lt: ptr(2.0)}, {Path: "n", Gte: ptr(5.0)}}})
	if err != nil {
		t.Fatal(err)
	}
	zero := "00000000000000000000000000"
	events, err := durable.Subscribe(ctx, durable.Source{Store: store, Hub: hub}, durable.Request{Topics: []string{"orders"}, AfterID: &zero, Where: where},
		func(e durable.Event[map[string]int]) int { return e.Data["n"] })
	if err != nil {
		t.Fatal(err)
	}
	next := func() int {
		select {
		case n := <-events:
			return n
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
			return 0
		}
	}
	var got []int
	for len(got) < 3 {
		got = append(got, next())
	}
	for _, n := range []int{2, 9, 3} {
		if _, err := durable.Publish(ctx, store, "orders", "OrderPlaced", map[string]int{"n": n}); err != nil {
			t.Fatal(err)
		}
	}
	got = append(got, next())
	if want := []int{0, 1, 5, 9}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func ptr[T any](v T) *T { return &v }
