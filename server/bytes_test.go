package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/docgen"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// Bytes are part of the cost: selections that would render an event's
// data many times are refused before anything runs, over every transport;
// a query's events are charged their stored size against the operation's
// budget; and a typed projection stops at the limit.

// bigSchema declares a typed event whose data can be large.
const bigSchema = `
type Blob @event(topics: "blobs.*", type: "blob") {
  s: String
  parts: [Part!]
}
type Part { x: String }
`

// startBig serves a store taking events of up to 1 MiB (so the response
// limit is the default 8 MiB) with bigSchema declared, and federation on.
func startBig(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blob.graphqls")
	if err := os.WriteFile(path, []byte(bigSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := eventschema.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, eventstore.Config{MaxPayload: 1 << 20, Check: s.Check}, api.Config{Events: s, Federation: true}, replay.Config{})
}

// allocated returns the bytes the test process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestResponseAmplificationRefused(t *testing.T) {
	e := startBig(t)
	big := strings.Repeat("x", 500<<10)
	ev := e.publish(t, "blobs.a", map[string]any{"s": big})
	typedID := e.publishBlob(t, "blobs.b", map[string]any{"s": big})

	refused := []struct{ name, query string }{
		{"event", `{ event(id: "` + ev.ID + `") {` + docgen.Aliases(1500, "data") + ` } }`},
		{"history page", `{ events(topic: "blobs.*") { edges { node {` + docgen.Aliases(9, "data") + ` } } } }`},
		{"edges twice", `{ events(topic: "blobs.*") {` + docgen.Aliases(9, "edges { node { data } }") + ` } }`},
		{"fragments", `{ event(id: "` + ev.ID + `") { ...A ...B } } fragment A on Event {` + docgen.Aliases(5, "data") + ` } fragment B on Event { b1: data b2: data b3: data b4: data }`},
		{"typed data", `{ blob { edges { node {` + docgen.Aliases(9, "data { s }") + ` } } } }`},
		{"typed field", `{ blob { edges { node { data {` + docgen.Aliases(9, "s") + ` } } } } }`},
		{"entities", `query($r: [_Any!]!) { _entities(representations: $r) { ... on Event {` + docgen.Aliases(9, "data") + ` } } }`},
		{"mutation result", `mutation { publish(topic: "blobs.c", data: {s: "tiny"}) {` + docgen.Aliases(9, "data") + ` } }`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			var r gqlResponse
			n := allocated(func() {
				r = e.query(t, tc.query, map[string]any{"r": []any{map[string]any{"__typename": "Event", "id": ev.ID}}})
			})
			if got := codes(r); !slices.Equal(got, []string{"RESPONSE_TOO_LARGE"}) || len(r.Data) > 0 && string(r.Data[firstKey(r.Data)]) != "null" {
				t.Fatalf("codes %v, data %.200s", got, r.Data)
			}
			if !strings.Contains(r.Errors[0].Message, "the limit is 8388608") {
				t.Errorf("message %q does not name the limit", r.Errors[0].Message)
			}
			if n > 64<<20 {
				t.Errorf("refusing it allocated %d MiB", n>>20)
			}
		})
	}
	// Nothing was stored by the refused mutation.
	if r := e.query(t, `{ events(topic: "blobs.c") { edges { cursor } } }`, nil); len(r.Errors) > 0 || !strings.Contains(string(r.Data["events"]), `"edges":[]`) {
		t.Fatalf("the refused mutation stored something: %s %+v", r.Data["events"], r.Errors)
	}

	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		t.Run("subscription over "+proto, func(t *testing.T) {
			c := wstest.Dial(t, e.url, proto, nil)
			c.Init()
			c.Subscribe("1", `subscription { events(topics: ["blobs.*"], afterId: "00000000000000000000000000") {`+docgen.Aliases(9, "data")+` } }`, nil)
			m := c.Read(5 * time.Second)
			if got := wstest.ErrorCodes(t, m); !slices.Equal(got, []string{"RESPONSE_TOO_LARGE"}) {
				t.Fatalf("got %+v", m)
			}
		})
	}
	t.Run("subscription over SSE", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s := openSSE(t, ctx, http.MethodPost, e.url, nil, `subscription { blob(afterId: "00000000000000000000000000") {`+docgen.Aliases(9, "data { s }")+` } }`, nil)
		m, _ := s.next(10 * time.Second)
		if !strings.Contains(m.Data, "RESPONSE_TOO_LARGE") {
			t.Fatalf("stream: %+v", m)
		}
	})

	// What fits is served: one event's data twice, and the typed event.
	if r := e.query(t, `{ event(id: "`+ev.ID+`") { a: data b: data } }`, nil); len(r.Errors) > 0 || len(r.Data["event"]) < 1_000_000 {
		t.Fatalf("data twice: %d bytes, %+v", len(r.Data["event"]), r.Errors)
	}
	if r := e.query(t, `{ event(id: "`+typedID+`") { id } }`, nil); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
}

// publishBlob publishes data as a Blob and returns its id.
func (e *env) publishBlob(t *testing.T, topic string, data any) string {
	t.Helper()
	r := e.query(t, `mutation($t: String!, $d: JSON!) { publish(topic: $t, type: "blob", data: $d) { id } }`, map[string]any{"t": topic, "d": data})
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	var v struct{ ID string }
	if err := json.Unmarshal(r.Data["publish"], &v); err != nil {
		t.Fatal(err)
	}
	return v.ID
}

// firstKey returns a key of m.
func firstKey(m map[string]json.RawMessage) string {
	for k := range m {
		return k
	}
	return ""
}

// TestPagesStopAtTheBudget: a page of large events ends once the next
// event would take the response past its limit, with hasNextPage, and the
// pages that follow give every event once; a page that selects no data
// is not limited by the events' size.
func TestPagesStopAtTheBudget(t *testing.T) {
	e := startBig(t)
	big := strings.Repeat("y", 500<<10)
	var want []string
	for range 30 {
		want = append(want, e.publishBlob(t, "blobs.p", map[string]any{"s": big}))
	}
	type pageResp struct {
		Edges []struct {
			Cursor string
			Node   struct{ ID string }
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
	read := func(query, field string, after *string) pageResp {
		r := e.query(t, query, map[string]any{"after": after})
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		var p pageResp
		if err := json.Unmarshal(r.Data[field], &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ name, query, field string }{
		{"events", `query($after: ID) { events(topic: "blobs.p", first: 50, after: $after) { edges { cursor node { id data } } pageInfo { hasNextPage endCursor } } }`, "events"},
		{"typed", `query($after: ID) { blob(topic: "blobs.p", first: 50, after: $after) { edges { cursor node { id data { s } } } pageInfo { hasNextPage endCursor } } }`, "blob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var after *string
			pages := 0
			for {
				p := read(tc.query, tc.field, after)
				pages++
				for _, edge := range p.Edges {
					got = append(got, edge.Node.ID)
				}
				if !p.PageInfo.HasNextPage {
					break
				}
				if len(p.Edges) == 0 || len(p.Edges) > 16 {
					t.Fatalf("page %d holds %d events of 500 KiB", pages, len(p.Edges))
				}
				after = p.PageInfo.EndCursor
			}
			if !slices.Equal(got, want) || pages < 2 {
				t.Fatalf("%d pages gave %d events, want all %d in order", pages, len(got), len(want))
			}
		})
	}
	if p := read(`query($after: ID) { events(topic: "blobs.p", first: 50, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, "events", nil); len(p.Edges) != 30 || p.PageInfo.HasNextPage {
		t.Fatalf("a page of ids: %d events, hasNextPage %v", len(p.Edges), p.PageInfo.HasNextPage)
	}
}

// TestEntitiesStopAtTheBudget: _entities of many large events renders
// those that fit and answers the others null with RESPONSE_TOO_LARGE.
func TestEntitiesStopAtTheBudget(t *testing.T) {
	e := startBig(t)
	ev := e.publish(t, "blobs.e", map[string]any{"s": strings.Repeat("z", 500<<10)})
	reps := make([]any, 400)
	for i := range reps {
		reps[i] = map[string]any{"__typename": "Event", "id": ev.ID}
	}
	r := e.fedPost(t, "", `query($r: [_Any!]!) { _entities(representations: $r) { ... on Event { id data } } }`, map[string]any{"r": reps})
	var entities []json.RawMessage
	if err := json.Unmarshal(r.Data["_entities"], &entities); err != nil || len(entities) != 400 {
		t.Fatalf("entities: %v (%d)", err, len(entities))
	}
	served := 0
	for _, ent := range entities {
		if string(ent) != "null" {
			served++
		}
	}
	if served == 0 || served > 16 || len(r.Errors) != 400-served {
		t.Fatalf("%d served, %d errors", served, len(r.Errors))
	}
	if code := r.Errors[0].Extensions["code"]; code != "RESPONSE_TOO_LARGE" {
		t.Fatalf("code %v", code)
	}
}

// TestTypedRenderStopsAtTheLimit: a typed selection within the estimate
// whose projection writes more (a key and a null for each element of a
// long list) stops at the limit with RESPONSE_TOO_LARGE naming the event.
func TestTypedRenderStopsAtTheLimit(t *testing.T) {
	e := startBig(t)
	parts := make([]any, 100_000)
	for i := range parts {
		parts[i] = map[string]any{}
	}
	e.publishBlob(t, "blobs.l", map[string]any{"parts": parts})
	long := strings.Repeat("k", 100)
	sel := ""
	for i := range 4 { // within the estimate: x's value rendered 4 times
		sel += fmt.Sprintf(" %s%d: x", long, i)
	}
	var r gqlResponse
	n := allocated(func() {
		r = e.query(t, `{ blob(topic: "blobs.l") { edges { node { id data { parts {`+sel+` } } } } } }`, nil)
	})
	if got := codes(r); !slices.Equal(got, []string{"RESPONSE_TOO_LARGE"}) || !strings.Contains(r.Errors[0].Message, "renders more than 8388608 bytes") {
		t.Fatalf("codes %v: %+v", got, r.Errors)
	}
	if n > 128<<20 {
		t.Errorf("the render allocated %d MiB", n>>20)
	}
}
