package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/oklog/ulid/v2"
	gqlparser "github.com/vektah/gqlparser/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/generated"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// program compiles the root field of query against Rewind's schema.
func program(t testing.TB, query string, vars map[string]any) *Program {
	t.Helper()
	schema := generated.Schema()
	doc, errs := gqlparser.LoadQuery(schema, query)
	if errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	op := doc.Operations[0]
	oc := &graphql.OperationContext{RawQuery: query, Doc: doc, Operation: op, Variables: vars}
	f := graphql.CollectFields(oc, op.SelectionSet, []string{"Subscription"})[0]
	p, err := Compile(oc, schema, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCacheSharing: renderers of one shape share rendered events, whatever
// the query's text; different shapes do not; a shape is forgotten when
// its last subscription ends.
func TestCacheSharing(t *testing.T) {
	var c Cache
	ctxA, endA := context.WithCancel(context.Background())
	ctxB, endB := context.WithCancel(context.Background())
	ctxC, endC := context.WithCancel(context.Background())
	defer endC()
	a := c.Renderer(ctxA, program(t, `subscription { events(topics: ["a"]) { id topic live } }`, nil))
	b := c.Renderer(ctxB, program(t, `subscription($v: Boolean!) { events(topics: ["b", "c"], types: ["t"]) { ...F x: data @skip(if: $v) } } fragment F on Event { id ... on Event { topic live } }`,
		map[string]any{"v": true}))
	other := c.Renderer(ctxC, program(t, `subscription { e: events(topics: ["a"]) { id topic live } }`, nil))
	if a.shape != b.shape {
		t.Fatal("renderers of one shape do not share it")
	}
	if a.shape == other.shape {
		t.Fatal("renderers of different root aliases share a shape")
	}
	if c.Renderer(ctxC, program(t, `subscription { x: events(topics: ["a"]) { __typename } }`, nil)).shape ==
		c.Renderer(ctxC, program(t, `subscription { x: realTimeMessages { __typename } }`, nil)).shape {
		t.Fatal("an Event and a Message renderer share a shape")
	}

	ev := &eventstore.Event{ID: ulid.Make(), Seq: 1, Topic: "a", Type: "t", Data: json.RawMessage(`{}`)}
	want, _ := a.shape.prog.Render(nil, ev, true)
	for i, r := range []*Renderer{a, b, a, b} {
		if out, _ := r.AppendResult(nil, ev, true); !bytes.Equal(out, want) {
			t.Fatalf("render %d: %s, want %s", i, out, want)
		}
	}
	if n := a.shape.stored.Load(); n != 1 {
		t.Errorf("one event for two subscribers rendered %d times", n)
	}
	b.AppendResult(nil, ev, false) // another value of live: another rendering
	b.AppendResult(nil, &eventstore.Event{ID: ulid.Make(), Seq: 1, Topic: "a", Data: json.RawMessage(`1`)}, true)
	if n := a.shape.stored.Load(); n != 3 {
		t.Errorf("stored %d renderings, want 3: live and the event id are part of the key", n)
	}
	other.AppendResult(nil, ev, true)
	if n := other.shape.stored.Load(); n != 0 {
		t.Errorf("a lone subscriber's renderings are cached (%d)", n)
	}

	endA()
	testenv.Eventually(t, 5*time.Second, "a subscription to release its shape", func() bool { return b.shape.refs.Load() == 1 })
	endB()
	testenv.Eventually(t, 5*time.Second, "the shape to be forgotten", func() bool { return c.Shapes() == 3 })
	if out, _ := b.AppendResult(nil, ev, true); !bytes.Equal(out, want) {
		t.Errorf("a released renderer writes %s, want %s", out, want)
	}
	if d := c.Renderer(ctxC, program(t, `subscription { events(topics: ["a"]) { id topic live } }`, nil)); d.shape == b.shape {
		t.Error("a forgotten shape came back")
	}
}

// TestCacheBurst: subscribers of one shape draining a burst of 64 events
// in order, one after another, render each event once; a result over
// maxShared is not kept.
func TestCacheBurst(t *testing.T) {
	var c Cache
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := program(t, `subscription { events(topics: ["a"]) { id data } }`, nil)
	rs := []*Renderer{c.Renderer(ctx, p), c.Renderer(ctx, p), c.Renderer(ctx, p)}
	var evs []*eventstore.Event
	const burst = 64
	for i := range burst {
		evs = append(evs, &eventstore.Event{ID: ulid.Make(), Seq: uint64(100 + i), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	for _, r := range rs {
		for _, ev := range evs {
			r.AppendResult(nil, ev, true)
		}
	}
	if n := rs[0].shape.stored.Load(); n != burst {
		t.Fatalf("%d events drained by %d subscribers in turn rendered %d times, want once each", burst, len(rs), n)
	}
	big := &eventstore.Event{ID: ulid.Make(), Seq: 1, Data: json.RawMessage(`"` + strings.Repeat("x", maxShared) + `"`)}
	for _, r := range rs {
		r.AppendResult(nil, big, true)
	}
	if n := rs[0].shape.stored.Load(); n != burst {
		t.Fatalf("a result over %d bytes was kept", maxShared)
	}
}

// TestCacheConcurrent renders events through renderers of one shape from
// many goroutines at once, as a fan-out does: every output is the event's,
// whoever rendered and cached it.
func TestCacheConcurrent(t *testing.T) {
	var c Cache
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := program(t, `subscription { events(topics: ["a"]) { id data live } }`, nil)
	rs := []*Renderer{c.Renderer(ctx, p), c.Renderer(ctx, p), c.Renderer(ctx, p)}
	var evs []*eventstore.Event
	for i := range 3 * renderRing {
		evs = append(evs, &eventstore.Event{ID: ulid.Make(), Seq: uint64(i + 1), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var buf []byte
			for i := range 2000 {
				ev, live := evs[(i/7+g)%len(evs)], i%3 == 0
				buf, _ = rs[(i+g)%len(rs)].AppendResult(buf[:0], ev, live)
				if want, _ := p.Render(nil, ev, live); !bytes.Equal(buf, want) {
					t.Errorf("got %s, want %s", buf, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzAppendQuoted checks AppendQuoted against gqlgen's string marshaler.
func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\t\r\n\b\f\x00\x1f\x7f", "ü 日本 😀 \u2028", "</script>", "\xff\xfe bad \xc3 utf-8 \xe2\x82", "\xc3\x22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		graphql.MarshalString(s).MarshalGQL(&want)
		if got := AppendQuoted(nil, s); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("AppendQuoted(%q) = %s, gqlgen writes %s", s, got, want.Bytes())
		}
	})
}
