package graph

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/generated"
	"github.com/rewind-dev/rewind/internal/docgen"
)

// costOf measures a valid document's only operation the way the limits
// extension does.
func costOf(t testing.TB, doc string, vars map[string]any) (measure, int) {
	t.Helper()
	es := generated.NewExecutableSchema(generated.Config{Complexity: costs()})
	q, errs := gqlparser.LoadQuery(es.Schema(), doc)
	if len(errs) > 0 {
		t.Fatalf("invalid document: %v", errs)
	}
	op := q.Operations[0]
	coerced, err := validator.VariableValues(es.Schema(), op, vars)
	if err != nil {
		t.Fatalf("variables: %v", err)
	}
	m, visited, gerr := measureOperation(context.Background(), es, op, coerced)
	if gerr != nil {
		t.Fatalf("measure: %v", gerr)
	}
	return m, visited
}

func TestCostModel(t *testing.T) {
	for _, tc := range []struct {
		name        string
		doc         string
		vars        map[string]any
		cost, reads int
		depth       int
	}{
		{"one field", `{ hello }`, nil, 1, 0, 1},
		{"an event", `{ event(id: "x") { id data } }`, nil, 3, 1, 2},
		{"default page", `{ events(topic: "t") { edges { cursor } } }`, nil, 50 * 2, 1, 3},
		{"page of 1000", `{ events(topic: "t", first: 1000) { edges { cursor node { id } } pageInfo { hasNextPage } } }`, nil, 1000 * (1 + 1 + 2 + 2), 1, 4},
		{"page from a variable", `query($n: Int) { events(topic: "t", first: $n) { edges { cursor } } }`, map[string]any{"n": 7}, 7 * 2, 1, 3},
		{"page out of range", `{ events(topic: "t", first: 5000) { edges { cursor } } }`, nil, maxPage * 2, 1, 3},
		{"topics", `{ topics { name events } }`, nil, defaultTopicsPage * (2 + topicReads), 1, 2},
		{"a page of topics", `{ topics(first: 10, after: "a") { name events } }`, nil, 10 * (2 + topicReads), 1, 2},
		{"aliases add up", `{ a: events(topic: "t", first: 10) { edges { cursor } } b: event(id: "x") { id } }`, nil, 10*2 + 2, 2, 3},
		{"live subscription", `subscription { events(topics: ["t"]) { id data } }`, nil, 2 + 1, 0, 2},
		{"last", `subscription { events(topics: ["t"], last: 300) { id } }`, nil, 1 + 300, 1, 2},
		{"last out of range", `subscription { events(topics: ["t"], last: 1000000) { id } }`, nil, 1 + eventstore.MaxLast, 1, 2},
		{"afterId", `subscription { events(topics: ["t"], afterId: "0") { id } }`, nil, 1 + replayWeight, 1, 2},
		{"since", `subscription($s: Time) { realTimeMessages(since: $s) { id } }`, map[string]any{"s": "2026-01-01T00:00:00Z"}, 1 + replayWeight, 1, 2},
		{"latest", `subscription { events(topics: ["t.>"], latest: true) { id } }`, nil, 1 + replayWeight, 1, 2},
		{"latest on realTimeMessages", `subscription { realTimeMessages(latest: true) { id } }`, nil, 1 + replayWeight, 1, 2},
		{"latest false is live", `subscription { events(topics: ["t"], latest: false) { id } }`, nil, 1 + 1, 0, 2},
		{"null start point is live", `subscription($s: Time) { realTimeMessages(since: $s) { id } }`, nil, 1 + 1, 0, 2},
		{"fragments count where spread", `{ events(topic: "t", first: 2) { edges { node { ...E } } } } fragment E on Event { id ...T } fragment T on Event { topic time }`, nil, 2 * (1 + 1 + 3), 1, 4},
		{"where", `subscription { events(topics: ["t"], where: {and: [{path: "a", eq: 1}, {path: "b", in: [1, 2, 3]}]}) { id } }`, nil, 1 + 1 + 5*filterNodeWeight + 12*filterValueWeight, 0, 2},
		{"where eq null counts its value", `subscription { realTimeMessages(where: {path: "a", eq: null}) { id } }`, nil, 1 + 1 + 2*filterNodeWeight + 3*filterValueWeight, 0, 2},
		{"where from a variable", `subscription($w: Filter) { events(topics: ["t"], afterId: "0", where: $w) { id } }`, map[string]any{"w": map[string]any{"not": map[string]any{"path": "a", "exists": true}}}, 1 + replayWeight + 3*filterNodeWeight, 1, 2},
		{"filtered page", `{ events(topic: "t", first: 10, where: {path: "a", gt: 1}) { edges { cursor } } }`, nil, 10*2 + filteredScanWeight + 10*filterNodeWeight, 1, 3},
		{"mutation", `mutation { publish(topic: "t", data: {a: [1, 2.5, "x"]}) { id } }`, nil, 2, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := costOf(t, tc.doc, tc.vars)
			if m.cost != tc.cost || m.reads != tc.reads || m.depth != tc.depth {
				t.Fatalf("cost %d, reads %d, depth %d; want %d, %d, %d", m.cost, m.reads, m.depth, tc.cost, tc.reads, tc.depth)
			}
		})
	}
}

// TestNestedFragmentsLinear: the walk visits each selection of the
// document once, however often a fragment is spread, and still charges
// every spread.
func TestNestedFragmentsLinear(t *testing.T) {
	for _, n := range []int{22, 40} {
		m, visited := costOf(t, docgen.NestedFragments(n), nil)
		// 4 selections to the node, two spreads per fragment, one id.
		if want := 4 + 2*n + 1; visited != want {
			t.Errorf("%d levels: visited %d selections, want %d", n, visited, want)
		}
		if want := 1 << n; m.cost < want {
			t.Errorf("%d levels: cost %d, want at least 2^%d", n, m.cost, n)
		}
		if m.depth != 4 {
			t.Errorf("%d levels: depth %d, want 4", n, m.depth)
		}
	}
}

// TestCostSaturates: a cost past int's range stays at its top rather than
// wrapping around under the limit.
func TestCostSaturates(t *testing.T) {
	m, _ := costOf(t, docgen.NestedFragments(70), nil)
	if m.cost <= 0 || m.cost < 1<<62 {
		t.Fatalf("cost %d", m.cost)
	}
}

func BenchmarkCostNestedFragments(b *testing.B) {
	for _, n := range []int{22, 40} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			es := generated.NewExecutableSchema(generated.Config{Complexity: costs()})
			q, errs := gqlparser.LoadQuery(es.Schema(), docgen.NestedFragments(n))
			if len(errs) > 0 {
				b.Fatal(errs)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := measureOperation(context.Background(), es, q.Operations[0], nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestIntrospectionCost: an introspection query costs one per field and
// reads no storage; its chain of ofType adds no depth (it was 13 with
// seven levels, 15 with the nine GraphiQL sends, over DefaultMaxDepth).
func TestIntrospectionCost(t *testing.T) {
	m, _ := costOf(t, introspectionQuery(t), nil)
	if m.cost != 181 || m.reads != 0 || m.depth != 6 {
		t.Fatalf("introspection: depth %d, cost %d, reads %d", m.depth, m.cost, m.reads)
	}
}

// TestFragmentCycleEnds: validation refuses cyclic fragments before the
// limits run, but the walk ends on one all the same.
func TestFragmentCycleEnds(t *testing.T) {
	doc, err := parser.ParseQuery(&ast.Source{Input: `{ ...A } fragment A on Query { hello ...B } fragment B on Query { ...A ...B }`})
	if err != nil {
		t.Fatal(err)
	}
	// Link the spreads as validation would have.
	var link func(ast.SelectionSet)
	link = func(set ast.SelectionSet) {
		for _, sel := range set {
			if s, ok := sel.(*ast.FragmentSpread); ok {
				s.Definition = doc.Fragments.ForName(s.Name)
			}
		}
	}
	link(doc.Operations[0].SelectionSet)
	for _, f := range doc.Fragments {
		link(f.SelectionSet)
	}
	es := generated.NewExecutableSchema(generated.Config{Complexity: costs()})
	m, visited, gerr := measureOperation(context.Background(), es, doc.Operations[0], nil)
	if gerr != nil || m.cost != 1 || visited != 5 {
		t.Fatalf("cost %d, visited %d, err %v", m.cost, visited, gerr)
	}
}

// introspectionQuery is the query GraphiQL sends (graphql-js's
// getIntrospectionQuery).
func introspectionQuery(t *testing.T) string {
	b, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
