package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/document"
	"github.com/rewind-dev/rewind/graph/generated"
)

// The cost model's promise, fuzzed: whatever query a client sends, what
// the server allocates to answer it stays within a bound derived from what
// the document was charged (its cost, its size) and its response within
// the response limit. A document refused before it runs must cost little.
const (
	fuzzBase     = 8 << 20 // the request, the executor, a page of events read
	fuzzPerByte  = 1 << 10 // parsing, validation and the cost walk, per byte of query
	fuzzPerUnit  = 4 << 10 // one field rendered (the cost model's unit)
	fuzzPayload  = 16 << 10
	fuzzResponse = DefaultResponsePayloads * fuzzPayload
)

func FuzzDocumentCost(f *testing.F) {
	for _, q := range []string{
		`{ hello }`,
		`{ event(id: "EVENTID") { id topic type data time live } }`,
		`{ event(id: "EVENTID") { a: data b: data c: data d: data } }`,
		`{ event(id: "EVENTID") {` + distinctAliases(1500, "data") + ` } }`,
		`{ events(topic: "a.*", first: 1000) { edges { node {` + distinctAliases(100, "data") + ` } } } }`,
		`{ events(topic: "a.*", first: 1000) { edges { cursor node { id data } } pageInfo { hasNextPage endCursor } } }`,
		`{ events(topic: "a.*", first: 1000) { a: edges { node { data } } b: edges { node { data } } } }`,
		`{ events(topic: "a.>", where: {path: "n", gte: 2}) { edges { node { id data } } } }`,
		`{ topics(first: 1000) { name events firstId lastId } }`,
		`{ a: topics { name } b: topics { name } c: events(topic: "a.x") { edges { cursor } } }`,
		`query { ...Q } fragment Q on Query { event(id: "EVENTID") { ...E ...E } } fragment E on Event { data id }`,
		`{ __schema { types { name fields { name type { name ofType { name } } } } } }`,
		"{" + strings.Repeat(" hello", 3000) + " }",
		`{ events(topic: "a.*") { edges { node { id } } } events(topic: "a.*") { edges { node { id } } } }`,
	} {
		f.Add(q)
	}
	store, hub := startStoreWith(f, eventstore.Config{MaxPayload: fuzzPayload})
	var id string
	for i := range 40 {
		data, _ := json.Marshal(map[string]any{"n": i, "pad": strings.Repeat("p", fuzzPayload-100)})
		ev, err := store.Append(context.Background(), eventstore.Event{Topic: fmt.Sprintf("a.%c", 'w'+i%4), Type: "t", Data: data})
		if err != nil {
			f.Fatal(err)
		}
		id = ev.ID.String()
	}
	res := New(Config{Store: store, Hub: hub, Logger: quietLog()})
	es := res.Schema()
	limits := Limits{MaxPayload: fuzzPayload}
	srv := handler.New(es)
	srv.AddTransport(transport.POST{})
	for _, e := range LimitExtensions(limits) {
		srv.Use(e)
	}
	docs := document.Extension(limits.Document, nil)
	srv.Use(docs)
	srv.Use(MutationGate(res))
	srv.SetErrorPresenter(res.Presenter())
	srv.SetRecoverFunc(RecoverFunc(quietLog()))
	maxCost := limits.withDefaults().MaxComplexity

	f.Fuzz(func(t *testing.T, query string) {
		query = strings.ReplaceAll(query, "EVENTID", id)
		cost := charged(es.Schema(), docs, query)
		if cost < 0 {
			return // a mutation or a subscription: not what this measures
		}
		body, _ := json.Marshal(map[string]any{"query": query})
		req := httptest.NewRequestWithContext(auth.With(context.Background(), auth.Anyone()), http.MethodPost, "/graphql", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		srv.ServeHTTP(rec, req)
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		bound := uint64(fuzzBase + fuzzPerByte*len(query) + fuzzPerUnit*min(cost, maxCost))
		if allocated > bound {
			t.Fatalf("%d bytes allocated for a document charged %d (bound %d): %.300q", allocated, cost, bound, query)
		}
		if n := rec.Body.Len(); n > fuzzResponse+64<<10+2*len(query) {
			t.Fatalf("a response of %d bytes, over the limit of %d: %.300q", n, fuzzResponse, query)
		}
	})
}

// charged returns the cost the limits charge query, 0 for a document
// refused before validation or invalid, -1 for a mutation or subscription.
func charged(schema *ast.Schema, docs graphql.HandlerExtension, query string) int {
	if docs.(graphql.OperationParameterMutator).MutateOperationParameters(context.Background(), &graphql.RawParams{Query: query}) != nil {
		return 0
	}
	doc, errs := gqlparser.LoadQuery(schema, query)
	if len(errs) > 0 || len(doc.Operations) != 1 {
		return 0
	}
	op := doc.Operations[0]
	if op.Operation != ast.Query {
		return -1
	}
	vars, err := validator.VariableValues(schema, op, nil)
	if err != nil {
		return 0
	}
	es := generated.NewExecutableSchema(generated.Config{Complexity: costs()})
	m, _, gerr := measureOperation(context.Background(), es, op, vars)
	if gerr != nil {
		return 0
	}
	return m.cost
}

// distinctAliases is field under n aliases a0, a1, ...
func distinctAliases(n int, field string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, field)
	}
	return b.String()
}
