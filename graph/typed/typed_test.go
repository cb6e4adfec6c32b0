package typed

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/oklog/ulid/v2"
	gqlparser "github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/deliver"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/graph/generated"
	"github.com/rewind-dev/rewind/graph/render"
)

const testTypes = `
enum Size { S M L }
type Item { sku: String!  qty: Int!  size: Size }
type Placed @event(topics: "orders.*", type: "placed") {
  id: ID!
  total: Float!
  ok: Boolean
  at: Time
  extra: JSON
  items: [Item!]!
  tags: [String]
  note: String
}
type Shipped @event(topics: "orders.*", type: "shipped") { id: ID!  carrier: String! }
union OrderEvent @events = Placed | Shipped
`

func typedAPIFor(t testing.TB, sdl string) *API {
	t.Helper()
	s, err := eventschema.Parse(&ast.Source{Name: "test.graphqls", Input: sdl})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Build(generated.Sources(), s, false)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// present presents errors as the API does.
var present = graph.ErrorPresenter(slog.New(slog.DiscardHandler))

// programFor compiles the root field of query against a's schema.
func programFor(t testing.TB, a *API, query string, vars map[string]any) *render.Program {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(a.schema, query)
	if errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	op := doc.Operations[0]
	oc := &graphql.OperationContext{RawQuery: query, Doc: doc, Operation: op, Variables: vars}
	root := render.RootType(op.Operation)
	f := graphql.CollectFields(oc, op.SelectionSet, []string{root})[0]
	s := &schema{api: a, deps: Deps{Source: deliver.Source{Present: present}}}
	p, err := render.Compile(oc, a.schema, f, s.renderOptions(context.Background(), a.field(root, f.Name)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func placedEvent(data string) *eventstore.Event {
	return &eventstore.Event{ID: ulid.MustParse("01KBE3NQ2SW8ZPKN0W8K7YB5X3"), Seq: 7, Topic: "orders.eu", Type: "placed", Data: json.RawMessage(data)}
}

// TestTypedRenderSelections: aliases, fragments, inline fragments,
// @skip/@include and __typename render as gqlgen writes a field set: in
// selection order, compact, each alias once.
func TestTypedRenderSelections(t *testing.T) {
	a := typedAPIFor(t, testTypes)
	ev := placedEvent(` { "note": null, "items": [ {"qty": 2, "sku": "A-1", "size": "M"}, {"sku":"B","qty":1e0} ], "id": "p-1", "total": 12.50, "tags": "one", "x": {"deep": [1,2]} } `)
	cases := []struct {
		name, query string
		vars        map[string]any
		want        string
	}{
		{"aliases and order",
			`subscription { p: placed { t: __typename data { b: total a: id items { qty sku } } } }`, nil,
			`{"p":{"t":"PlacedEvent","data":{"b":12.5,"a":"p-1","items":[{"qty":2,"sku":"A-1"},{"qty":1,"sku":"B"}]}}}`},
		{"fragments merge",
			`subscription { placed { data { ...F items { size } ... on Placed { id } } } } fragment F on Placed { items { sku } id }`, nil,
			`{"placed":{"data":{"items":[{"sku":"A-1","size":"M"},{"sku":"B","size":null}],"id":"p-1"}}}`},
		{"skip and include",
			`subscription($yes: Boolean!) { placed { data { id @skip(if: $yes) note @include(if: $yes) total } } }`, map[string]any{"yes": true},
			`{"placed":{"data":{"note":null,"total":12.5}}}`},
		{"a single value for a list, absent nullable fields",
			`subscription { placed { data { tags ok at extra } } }`, nil,
			`{"placed":{"data":{"tags":["one"],"ok":null,"at":null,"extra":null}}}`},
		{"the envelope",
			`subscription { placed { id topic time live } }`, nil,
			`{"placed":{"id":"01KBE3NQ2SW8ZPKN0W8K7YB5X3","topic":"orders.eu","time":"` + ev.Time().Format(time.RFC3339Nano) + `","live":true}}`},
		{"the union by the event's type",
			`subscription { orderEvent { data { __typename ... on Shipped { carrier } ... on Placed { id } } } }`, nil,
			`{"orderEvent":{"data":{"__typename":"Placed","id":"p-1"}}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := programFor(t, a, c.query, c.vars)
			got, errs := p.Render(nil, ev, true)
			if string(got) != c.want || len(errs) > 0 {
				t.Fatalf("got  %s %v\nwant %s", got, errs, c.want)
			}
		})
	}
}

// TestTypedShapeMismatchPropagates: a missing non-null field nulls its
// nearest nullable parent, with one error naming the path and the event.
func TestTypedShapeMismatchPropagates(t *testing.T) {
	a := typedAPIFor(t, testTypes)
	cases := []struct {
		data, want, path string // path "": no error
	}{
		{`{"id":"p","total":1,"items":[{"sku":"A"}]}`, `null`, "data.items[0].qty"},
		{`{"id":"p","total":1,"items":[],"note":5}`, `{"placed":{"data":{"id":"p","note":null,"items":[]}}}`, "data.note"},
		// Fields not selected are not checked.
		{`{"id":"p","total":1,"items":[],"note":"x","tags":[1]}`, `{"placed":{"data":{"id":"p","note":"x","items":[]}}}`, ""},
		{`[1]`, `null`, "data"},
		// size is nullable: the item stays, size is null.
		{`{"id":"p","items":[{"sku":"A","qty":1,"size":"XL"}]}`, `{"placed":{"data":{"id":"p","note":null,"items":[{"qty":1,"size":null}]}}}`, "data.items[0].size"},
	}
	p := programFor(t, a, `subscription { placed { data { id note items { qty size } } } }`, nil)
	for _, c := range cases {
		ev := placedEvent(c.data)
		got, errs := p.Render(nil, ev, false)
		if c.path == "" {
			if string(got) != c.want || len(errs) != 0 {
				t.Errorf("%s: got %s %v, want %s", c.data, got, errs, c.want)
			}
			continue
		}
		if string(got) != c.want || len(errs) != 1 {
			t.Fatalf("%s: got %s %v, want %s and one error", c.data, got, errs, c.want)
		}
		var se *render.ShapeError
		if !errors.As(errs[0], &se) || se.Path != c.path || se.EventID != ev.ID.String() ||
			errs[0].Extensions["code"] != codes.EventShapeMismatch || errs[0].Extensions["eventId"] != ev.ID.String() {
			t.Errorf("%s: error %+v (%+v), want path %s", c.data, errs[0], se, c.path)
		}
	}
}

// TestTypedHostileData: stored data that is not what the store promises
// (truncated, deeply nested) is an error, never a panic or a hang.
func TestTypedHostileData(t *testing.T) {
	a := typedAPIFor(t, testTypes)
	p := programFor(t, a, `subscription { placed { data { id extra items { sku } } } }`, nil)
	for _, data := range []string{
		`{"id":"p","items":[{"sku":"A"`, `{"id"`, `{"id":"p",}`, `{`, `"`, `{"items":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`,
		`{"id":"p","total":1,"items":[],"extra":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat("}", 5000) + `}`,
	} {
		got, errs := p.Render(nil, placedEvent(data), false)
		if !json.Valid(got) {
			t.Errorf("%.40s: invalid output %.80s", data, got)
		}
		_ = errs
	}
}

// TestTypedSchemaClashes: names the typed API would add that are Rewind's
// already are refused with the file and line of the declaration.
func TestTypedSchemaClashes(t *testing.T) {
	checked := 0
	for _, c := range []struct{ sdl, want string }{
		{"type Event @event(topics: \"a.*\", type: \"e\") { x: Int }", "test.graphqls:1"},
		{"\n\ntype Hello @event(topics: \"a.*\", type: \"e\") { x: Int }", "test.graphqls:3"},
		{"type Topics @event(topics: \"a.*\", type: \"e\") { x: Int }", "Query.topics"},
		{"type A @event(topics: \"a.*\", type: \"e\") { x: Int }\ntype AInput { y: Int }", "AInput"},
		{"type A @event(topics: \"a.*\", type: \"e\") { x: Int }\ntype AEventEdge { y: Int }", "AEventEdge"},
		{"type PageInfo { x: Int }\ntype A @event(topics: \"a.*\", type: \"e\") { p: PageInfo }", "PageInfo"},
	} {
		s, err := eventschema.Parse(&ast.Source{Name: "test.graphqls", Input: c.sdl})
		if err != nil {
			t.Logf("%q refused by eventschema already: %v", c.sdl, err)
			continue
		}
		checked++
		_, err = Build(generated.Sources(), s, false)
		if !errors.Is(err, eventschema.ErrInvalidSchema) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an invalid schema naming %s", c.sdl, err, c.want)
		}
	}
	if checked < 4 {
		t.Fatalf("only %d clashes reached the typed API", checked)
	}
}

// TestRewindsTypesUnchanged: the typed API adds to Rewind's schema and
// changes none of its types.
func TestRewindsTypesUnchanged(t *testing.T) {
	a := typedAPIFor(t, testTypes)
	for name, def := range generated.Schema().Types {
		got := a.Schema().Types[name]
		if got == nil || (name != "Query" && name != "Mutation" && name != "Subscription" && len(got.Fields) != len(def.Fields)) {
			t.Errorf("the typed schema changed Rewind's type %s", name)
		}
	}
}

// BenchmarkRenderTyped compares, per event, the typed rendering of an
// OrderPlaced selecting every field with the generic events rendering of
// the same event (every field of Event): for a lone subscriber, and
// fanned out to 1000 subscribers of one shape (one render, 999 copies
// from the shared ring), which is what the fan-out workload does.
func BenchmarkRenderTyped(b *testing.B) {
	a := typedAPIFor(b, `enum Currency { EUR USD }
type OrderLine { sku: String!  qty: Int!  price: Float! }
type OrderPlaced @event(topics: "orders.*", type: "placed") { orderId: ID!  total: Float!  currency: Currency  lines: [OrderLine!]!  note: String }`)
	data := `{"orderId":"o-1842","total":45.48,"currency":"EUR","lines":[{"sku":"A-1","qty":2,"price":19.99},{"sku":"B-7","qty":1,"price":5.5}],"note":"leave it at the door, \"please\""}`
	ev := placedEvent(data)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var cache render.Cache
	untypedProg := programFor(b, a, `subscription { events(topics: ["orders.>"]) { id topic type data time live } }`, nil)
	typedProg := programFor(b, a, `subscription { orderPlaced { id topic time live data { orderId total currency lines { sku qty price } note } } }`, nil)
	untyped := []*render.Renderer{cache.Renderer(ctx, untypedProg)}
	typed := []*render.Renderer{cache.Renderer(ctx, typedProg)}

	var buf []byte
	b.Run("lone/untyped", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = untyped[0].AppendResult(buf[:0], ev, true)
		}
	})
	b.Run("lone/typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = typed[0].AppendResult(buf[:0], ev, true)
		}
	})
	const fanout = 1000
	for len(typed) < fanout {
		untyped = append(untyped, cache.Renderer(ctx, untypedProg))
		typed = append(typed, cache.Renderer(ctx, typedProg))
	}
	run := func(b *testing.B, rs []*render.Renderer) {
		b.ReportAllocs()
		next := *ev
		for b.Loop() {
			next.Seq++
			for i := range fanout {
				buf, _ = rs[i].AppendResult(buf[:0], &next, true)
			}
		}
		b.ReportMetric(float64(b.N*fanout)/b.Elapsed().Seconds(), "deliveries/s")
	}
	b.Run("fanout1000/untyped", func(b *testing.B) { run(b, untyped) })
	b.Run("fanout1000/typed", func(b *testing.B) { run(b, typed) })
}

// TestExampleOperations: GraphiQL's typed tabs are valid operations of
// the typed schema, a subscription with a fragment on each member and a
// publish; none without events.
func TestExampleOperations(t *testing.T) {
	if ops := (*API)(nil).Examples(); ops != nil {
		t.Fatalf("examples without a typed API: %v", ops)
	}
	for _, sdl := range []string{testTypes, "type Solo @event(topics: \"a.>\", type: \"s\") { n: Int!  at: Time  items: [Item!]! }\ntype Item { k: String! }"} {
		a := typedAPIFor(t, sdl)
		ops := a.Examples()
		if len(ops) != 2 || !strings.Contains(ops[0], "subscription Follow") || !strings.Contains(ops[1], "mutation Publish") {
			t.Fatalf("examples: %q", ops)
		}
		for _, op := range ops {
			if _, errs := gqlparser.LoadQuery(a.Schema(), op); errs != nil {
				t.Errorf("%s\n%v", op, errs)
			}
		}
	}
}

// TestTypedRenderAgreesWithCheckStored: what replayctl check reports as
// unservable (eventschema's CheckStored) is exactly what the API serves
// with EVENT_SHAPE_MISMATCH when every field is selected.
func TestTypedRenderAgreesWithCheckStored(t *testing.T) {
	a := typedAPIFor(t, testTypes)
	p := programFor(t, a, `subscription { placed { data { id total ok at extra items { sku qty size } tags note } } }`, nil)
	decl := a.source.Events[0]
	for _, data := range []string{
		`{"id":"p","total":1,"items":[]}`,
		`{"id":7,"total":1,"items":[]}`,
		`{"id":"p","total":"1","items":[]}`,
		`{"id":"p","total":1,"items":{"sku":"A","qty":1}}`,
		`{"id":"p","total":1,"items":[{"sku":"A","qty":1.0}]}`,
		`{"id":"p","total":1,"items":[{"sku":"A","qty":1.5}]}`,
		`{"id":"p","total":1,"items":[{"sku":"A","qty":1e3}]}`,
		`{"id":"p","total":1,"items":[{"sku":"A","qty":3000000000}]}`,
		`{"id":"p","total":1,"items":[{"sku":"A","qty":1,"size":"XL"}]}`,
		`{"id":"p","total":1,"items":[{"sku":"A","qty":1,"size":"S"}]}`,
		`{"id":"p","total":1,"items":[null]}`,
		`{"id":"p","total":1,"items":[],"tags":[null,"a"]}`,
		`{"id":"p","total":1,"items":[],"tags":"a"}`,
		`{"id":"p","total":1,"items":[],"at":"2026-01-01T00:00:00Z"}`,
		`{"id":"p","total":1,"items":[],"at":"2026-01-01"}`,
		`{"id":"p","total":1,"items":[],"ok":"true"}`,
		`{"id":"p","total":1,"items":[],"extra":[1,{"a":null}]}`,
		`{"id":"p","total":1,"items":[],"removed":"a field the type no longer has"}`,
		`{"total":1,"items":[]}`,
		`{"id":null,"total":1,"items":[]}`,
		`"not an object"`,
	} {
		_, errs := p.Render(nil, placedEvent(data), false)
		checkErr := decl.CheckStored(json.RawMessage(data))
		if (len(errs) == 0) != (checkErr == nil) {
			t.Errorf("%s: the API's errors %v, CheckStored %v", data, errs, checkErr)
		}
	}
}

// FuzzTypedRender: whatever bytes an event holds, rendering a typed
// selection of them ends, never panics, and writes valid JSON.
func FuzzTypedRender(f *testing.F) {
	for _, seed := range []string{
		`{"id":"p","total":1,"items":[{"sku":"A","qty":1,"size":"S"}],"tags":["a",null],"at":"2026-01-01T00:00:00Z","extra":{"x":[1]}}`,
		`{"id":"\u0070","total":1e400,"items":{"sku":"A"}}`, `[`, `{"items":[[[[]]]]}`, `{"\u0069d":"x"}`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	a := typedAPIFor(f, testTypes)
	p := programFor(f, a, `subscription { placed { id data { id total ok at extra items { sku qty size } tags note } } }`, nil)
	u := programFor(f, a, `subscription { orderEvent { data { __typename ... on Placed { items { qty } } } } }`, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, prog := range []*render.Program{p, u} {
			out, _ := prog.Render(nil, placedEvent(string(data)), false)
			if !json.Valid(out) {
				t.Fatalf("%q rendered invalid JSON %q", data, out)
			}
		}
	})
}
