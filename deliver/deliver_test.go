package deliver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/deliver"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport"
)

// TestImports: deliver imports replay, eventstore, transport and gqlgen's
// error types, nothing else of Rewind's, so that a library (package
// durable) links no GraphQL API of Rewind's through it.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"replay", "eventstore", "eventfilter", "transport"}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			ours, ok := strings.CutPrefix(imp, "github.com/rewind-dev/rewind/")
			if ok && !slices.Contains(allowed, ours) {
				t.Errorf("%s imports %s", path, imp)
			}
		}
	}
}

// source starts JetStream, a store holding n events on topic t and a hub
// configured by hcfg.
func source(t *testing.T, n int, hcfg replay.Config) (deliver.Source, []eventstore.Event) {
	t.Helper()
	store := testenv.StartNATS(t).Store(eventstore.Config{})
	var evs []eventstore.Event
	for i := range n {
		ev, err := store.Append(context.Background(), eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	hub := replay.NewHub(store, hcfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-hub.Ready()
	present := func(_ context.Context, err error) *gqlerror.Error {
		return &gqlerror.Error{Message: err.Error(), Extensions: map[string]any{"code": codes.Of(err)}}
	}
	return deliver.Source{Store: store, Hub: hub, Present: present}, evs
}

// sseLike is a delivery with a resume point and event ids, as SSE's.
type sseLike struct {
	resume string

	mu   sync.Mutex
	ids  []string
	errs gqlerror.List
}

func (d *sseLike) ReportError(err *gqlerror.Error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs = append(d.errs, err)
}
func (d *sseLike) ResumeAfter() (string, bool) { return d.resume, d.resume != "" }
func (d *sseLike) Delivering(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, id)
}

func (d *sseLike) given() ([]string, gqlerror.List) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ids), slices.Clone(d.errs)
}

var zero = "00000000000000000000000000"

// TestRequestResumes: a delivery's resume point (SSE's Last-Event-ID)
// replaces the start point the operation asked for.
func TestRequestResumes(t *testing.T) {
	src, evs := source(t, 5, replay.Config{})
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		after uint64
	}{
		{"no delivery", context.Background(), 0},
		{"a delivery without a resume point", transport.With(context.Background(), &sseLike{}), 0},
		{"a resume point", transport.With(context.Background(), &sseLike{resume: evs[2].ID.String()}), evs[2].Seq},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := replay.Request{Topics: []string{"t"}}
			if err := src.Request(tc.ctx, &req, deliver.Start{AfterID: &zero}); err != nil || req.After != tc.after {
				t.Fatalf("after %d (%v), want %d", req.After, err, tc.after)
			}
		})
	}
	req := replay.Request{Topics: []string{"t"}}
	two := 2
	if err := src.Request(context.Background(), &req, deliver.Start{AfterID: &zero, Last: &two}); !errors.Is(err, eventstore.ErrStartConflict) {
		t.Fatalf("two start points: %v", err)
	}
	checked := errors.New("not yours")
	src.CheckCursor = func(context.Context, ulid.ULID) error { return checked }
	id := evs[1].ID.String()
	if err := src.Request(context.Background(), &req, deliver.Start{AfterID: &id}); !errors.Is(err, checked) {
		t.Fatalf("a checked cursor: %v", err)
	}
}

// TestRelayGivesIDsFirst: the relay hands every event once, in order,
// after telling an id-writing delivery its id, with live set from the
// first event that came live.
func TestRelayGivesIDsFirst(t *testing.T) {
	src, _ := source(t, 5, replay.Config{})
	d := &sseLike{}
	ctx, cancel := context.WithCancel(transport.With(context.Background(), d))
	defer cancel()
	type got struct {
		id   string
		live bool
	}
	c, err := deliver.Relay(ctx, src, replay.Request{Topics: []string{"t"}, Live: true}, func(ev *eventstore.Event, live bool) (got, bool, error) {
		return got{ev.ID.String(), live}, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Live means after what is stored once the subscription has started.
	testenv.Eventually(t, 10*time.Second, "the subscription to start", func() bool { return src.Hub.Subscribers() == 1 })
	var ids []string
	for range 3 {
		ev, err := src.Store.Append(ctx, eventstore.Event{Topic: "t", Type: "x", Data: json.RawMessage(`1`)})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-c:
			if g.id != ev.ID.String() || !g.live {
				t.Fatalf("got %+v, want %s live", g, ev.ID)
			}
			ids = append(ids, g.id)
			if given, _ := d.given(); !slices.Equal(given, ids) {
				t.Fatalf("ids given %v, values handed %v", given, ids)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
	}
}

// TestRelayEndsOnce: an error of the conversion ends the relay, reported
// once, after the values before it; the channel closes.
func TestRelayEndsOnce(t *testing.T) {
	src, _ := source(t, 5, replay.Config{})
	d := &sseLike{}
	ctx := transport.With(context.Background(), d)
	n := 0
	c, err := deliver.Relay(ctx, src, replay.Request{Topics: []string{"t"}, After: 0}, func(ev *eventstore.Event, _ bool) (int, bool, error) {
		if n++; n == 3 {
			return 0, false, fmt.Errorf("%w: third", eventstore.ErrUnavailable)
		}
		return n, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for v := range c {
		got = append(got, v)
	}
	_, errs := d.given()
	if !slices.Equal(got, []int{1, 2}) || len(errs) != 1 || errs[0].Extensions["code"] != codes.Unavailable {
		t.Fatalf("got %v, errors %v", got, errs)
	}
}

// TestRelayEndsSlowReader: a reader that takes nothing while the hub has
// events for it is ended by the hub's rule, SLOW_CONSUMER, even while the
// relay waits on the channel holding an event.
func TestRelayEndsSlowReader(t *testing.T) {
	src, _ := source(t, 200, replay.Config{Buffer: 4, StallTimeout: 200 * time.Millisecond})
	d := &sseLike{}
	ctx := transport.With(context.Background(), d)
	c, err := deliver.Relay(ctx, src, replay.Request{Topics: []string{"t"}}, func(ev *eventstore.Event, _ bool) (*eventstore.Event, bool, error) {
		return ev, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Replay from the start: the hub must hand the reader 200 events.
	testenv.Eventually(t, 10*time.Second, "the reader cut off", func() bool {
		_, errs := d.given()
		return len(errs) == 1
	})
	_, errs := d.given()
	if errs[0].Extensions["code"] != codes.SlowConsumer {
		t.Fatalf("ended with %v", errs)
	}
	n := 0
	for range c {
		n++
	}
	if n >= 200 {
		t.Fatalf("the slow reader got all %d events", n)
	}
}

// TestStreamNeedsAResultSink: a delivery that takes no result stream is
// served by Relay, and nothing is started.
func TestStreamNeedsAResultSink(t *testing.T) {
	src, _ := source(t, 1, replay.Config{})
	ctx := transport.With(context.Background(), &sseLike{})
	if native, err := src.Stream(ctx, replay.Request{Topics: []string{"t"}}, nil, nil); native || err != nil {
		t.Fatalf("native %v, %v", native, err)
	}
	if n := src.Hub.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers started", n)
	}
}
