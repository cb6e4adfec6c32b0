package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/internal/docgen"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// deepIntrospection is an introspection query depth levels deep, through
// __Type.fields and __Field.type, the one way to go deep in this schema.
func deepIntrospection(depth int) string {
	names := []string{"__schema", "types"}
	for len(names) < depth-1 {
		names = append(names, []string{"fields", "type"}[len(names)%2])
	}
	return "{ " + strings.Join(names, " { ") + " { name" + strings.Repeat(" }", len(names)) + " }"
}

// graphiQLIntrospection is graphql-js's getIntrospectionQuery with the nine
// levels of ofType GraphiQL and graphql-codegen send.
const graphiQLIntrospection = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

// TestDepthLimit: an operation deeper than --max-depth is refused with the
// depth it has, in a fragment too.
func TestDepthLimit(t *testing.T) {
	e := start(t, api.Config{Limits: graph.Limits{MaxDepth: 5}}, replay.Config{})
	for _, tc := range []struct{ query, code, message string }{
		{deepIntrospection(5), "", ""},
		{deepIntrospection(6), "DEPTH_LIMIT_EXCEEDED", "operation is 6 levels deep, the limit is 5"},
		{`{ ...Q } fragment Q on Query ` + deepIntrospection(7), "DEPTH_LIMIT_EXCEEDED", "operation is 7 levels deep"},
	} {
		r := e.query(t, tc.query, nil)
		if got := codes(r); tc.code == "" && len(got) > 0 || tc.code != "" && (len(got) != 1 || got[0] != tc.code || !strings.Contains(r.Errors[0].Message, tc.message)) {
			t.Errorf("%s: %+v, want %q %q", tc.query, r.Errors, tc.code, tc.message)
		}
	}
}

// ofTypes nests ofType n times in an introspection query.
func ofTypes(n int) string {
	return `{ __schema { types { fields { type ` + strings.Repeat("{ ofType ", n) + "{ name }" + strings.Repeat(" }", n) + " } } } }"
}

// hostileDocuments are requests built to crash or overwork the server,
// each with the code it must be answered with ("" for success), and what
// the message must hold.
var hostileDocuments = []struct {
	name, query string
	vars        map[string]any
	code        string
	message     string
}{
	{"json float past float64", `mutation { publish(topic: "x", data: 1e400) { id } }`, nil, "BAD_USER_INPUT", "1e400"},
	{"json float deep in a list", `mutation { publish(topic: "x", data: {a: [1, [2e308]]}) { id } }`, nil, "BAD_USER_INPUT", "2e308"},
	{"json int past int64", `mutation { publish(topic: "x", data: 99999999999999999999) { id } }`, nil, "BAD_USER_INPUT", "99999999999999999999"},
	{"json int past int64 as a variable", `mutation($d: JSON!) { publish(topic: "x", data: $d) { data } }`, map[string]any{"d": json.Number("99999999999999999999")}, "", ""},
	{"time literal past float64", `subscription { events(topics: ["t"], since: 1e400) { id } }`, nil, "BAD_USER_INPUT", "1e400"},
	{"first past int32", `{ events(topic: "t", first: 99999999999999999999) { edges { cursor } } }`, nil, "GRAPHQL_VALIDATION_FAILED", ""},
	{"first as a huge variable", `query($n: Int) { events(topic: "t", first: $n) { edges { cursor } } }`, map[string]any{"n": json.Number("99999999999999999999")}, "GRAPHQL_VALIDATION_FAILED", ""},
	{"first as an infinite variable", `query($n: Int) { events(topic: "t", first: $n) { edges { cursor } } }`, map[string]any{"n": json.Number("1e400")}, "GRAPHQL_VALIDATION_FAILED", ""},
	{"last past int32", `subscription { events(topics: ["t"], last: 99999999999999999999) { id } }`, nil, "GRAPHQL_VALIDATION_FAILED", ""},
	{"count past int32", `subscription { count(target: 99999999999999999999, intervalMs: 1e400) }`, nil, "GRAPHQL_VALIDATION_FAILED", ""},
	{"variable default past float64", `mutation($d: JSON = 1e400) { publish(topic: "x", data: $d) { id } }`, nil, "GRAPHQL_VALIDATION_FAILED", ""},
	{"deeply nested list literal", `mutation { publish(topic: "x", data: ` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `) { id } }`, nil, "GRAPHQL_PARSE_FAILED", ""},
	{"deeply nested object literal", `mutation { publish(topic: "x", data: ` + strings.Repeat("{a:", 1100) + "1" + strings.Repeat("}", 1100) + `) { id } }`, nil, "GRAPHQL_PARSE_FAILED", ""},
	{"NaN is an enum literal, stored as a string", `mutation { publish(topic: "x", data: [NaN, Infinity]) { data } }`, nil, "", ""},
	{"a lone surrogate", `mutation { publish(topic: "x", data: "\uD800") { data } }`, nil, "", ""},
	{"nested fragments, 22 levels", docgen.NestedFragments(22), nil, "COMPLEXITY_LIMIT_EXCEEDED", "the limit is 200000"},
	{"nested fragments, 40 levels", docgen.NestedFragments(40), nil, "COMPLEXITY_LIMIT_EXCEEDED", "the limit is 200000"},
	{"250 aliased pages", "{" + docgen.Aliases(250, `events(topic: "t", first: 1000) { edges { cursor } }`) + " }", nil, "COMPLEXITY_LIMIT_EXCEEDED", "reads storage in 250 fields, the limit is 10 (it costs 500000"},
	{"11 storage reads", "{" + docgen.Aliases(11, `event(id: "01KMZZZZZZZZZZZZZZZZZZZZZZ") { id }`) + " }", nil, "COMPLEXITY_LIMIT_EXCEEDED", "reads storage in 11 fields, the limit is 10"},
	{"10 storage reads", "{" + docgen.Aliases(10, `event(id: "01KMZZZZZZZZZZZZZZZZZZZZZZ") { id }`) + " }", nil, "", ""},
	{"aliases multiplied by a page", `{ events(topic: "t", first: 1000) { edges { node ` + "{" + docgen.Aliases(300, "data") + " }" + ` } } }`, nil, "COMPLEXITY_LIMIT_EXCEEDED", "operation costs 302000, the limit is 200000"},
	{"a full page", `{ events(topic: "t", first: 1000) { edges { cursor node { id topic type data time live } } pageInfo { hasNextPage endCursor } } }`, nil, "", ""},
	{"ofType adds no depth", ofTypes(30), nil, "", ""},
	{"introspection as GraphiQL sends it", graphiQLIntrospection, nil, "", ""},
}

// TestHostileDocuments: each hostile document gets its code over POST and
// GET (which refuses mutations only after the operation is made, so it
// reached the same panics), and the server stays healthy throughout.
func TestHostileDocuments(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	for _, tc := range hostileDocuments {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				status, r := e.request(t, method, tc.query, tc.vars)
				if status >= 500 {
					t.Fatalf("%s: status %d, %+v", method, status, r.Errors)
				}
				var want []string
				if tc.code != "" {
					want = []string{tc.code}
				}
				query := strings.HasPrefix(tc.query, "{") || strings.HasPrefix(tc.query, "query")
				if method == http.MethodGet && tc.code == "" && !query {
					if status != http.StatusNotAcceptable {
						t.Fatalf("GET of a valid mutation: status %d", status)
					}
					continue
				}
				if got := slices.Compact(codes(r)); !slices.Equal(got, want) {
					t.Fatalf("%s: codes %v, want %v: %+v", method, codes(r), want, r.Errors)
				}
				if tc.message != "" && !strings.Contains(r.Errors[0].Message, tc.message) {
					t.Fatalf("%s: message %q, want it to hold %q", method, r.Errors[0].Message, tc.message)
				}
			}
		})
	}
	if r := e.query(t, `{ topics { name events } }`, nil); len(r.Errors) > 0 || !strings.Contains(string(r.Data["topics"]), `"x"`) {
		t.Fatalf("after hostile documents: %s %+v", r.Data["topics"], r.Errors)
	}
	resp, err := http.Get(e.base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after hostile documents: %v %v", resp, err)
	}
	resp.Body.Close()
}

// request sends query by POST, or by GET with its variables in the URL.
func (e *env) request(t *testing.T, method, query string, vars map[string]any) (int, gqlResponse) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodGet {
		v := url.Values{"query": {query}}
		if vars != nil {
			b, _ := json.Marshal(vars)
			v.Set("variables", string(b))
		}
		resp, err = http.Get(e.url + "?" + v.Encode())
	} else {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		resp, err = http.Post(e.url, "application/json", bytes.NewReader(body))
	}
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	var r gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: status %d, body is not JSON: %v", method, resp.StatusCode, err)
	}
	return resp.StatusCode, r
}

// TestHostileLiteralOverWebSocket: the literal that panicked in the
// complexity walk, killing the process when it came over a WebSocket, is
// an error message on both protocols; the connection goes on.
func TestHostileLiteralOverWebSocket(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		c := wstest.Dial(t, e.url, proto, nil)
		c.Init()
		c.Subscribe("bad", `mutation { publish(topic: "x", data: 1e400) { id } }`, nil)
		m := c.Read(5 * time.Second)
		if got := wstest.ErrorCodes(t, m); m.ID != "bad" || !slices.Equal(got, []string{"BAD_USER_INPUT"}) {
			t.Fatalf("%s: %s %s", proto, m.Type, m.Payload)
		}
		c.Subscribe("ok", `subscription { count(target: 1, intervalMs: 100) }`, nil)
		if m := c.Read(5 * time.Second); !wstest.IsData(m) || m.ID != "ok" {
			t.Fatalf("%s after the refusal: %s %s", proto, m.Type, m.Payload)
		}
	}
}

// TestInvalidUTF8: bytes that are not UTF-8 in a request's JSON become
// U+FFFD as it is decoded, and the topic holding them is bad input.
func TestInvalidUTF8(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	resp, err := http.Post(e.url, "application/json", strings.NewReader("{\"query\":\"{ events(topic: \\\"\xff\xfe\\\") { edges { cursor } } }\"}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode >= 500 {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if got := codes(r); !slices.Equal(got, []string{"BAD_USER_INPUT"}) {
		t.Fatalf("codes %v: %+v", got, r.Errors)
	}
}
