package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/internal/wstest"
	api "github.com/rewind-dev/rewind/server"
)

// TestTypedWhere: where on typed fields keeps what it keeps on events:
// the same events replayed and live, and in typed history pages; a bad
// filter is BAD_USER_INPUT and counts in the cost.
func TestTypedWhere(t *testing.T) {
	e := startTyped(t, api.Config{})
	const where = `{and: [{path: "lines.0.qty", gte: 2}, {path: "orderId", ne: "o-skip"}]}`
	var want []string
	for i := range 6 {
		id := fmt.Sprintf("o-%d", i)
		if i == 4 {
			id = "o-skip"
		}
		ev := e.placeOrder(t, "orders.eu", id, i%3+1)
		if i%3+1 >= 2 && id != "o-skip" {
			want = append(want, ev.ID)
		}
	}

	r := e.query(t, `{ orderPlaced(first: 2, where: `+where+`) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`, nil)
	page := string(r.Data["orderPlaced"])
	if len(r.Errors) > 0 || !strings.HasPrefix(page, `{"edges":[{"node":{"id":"`+want[0]+`"}},{"node":{"id":"`+want[1]+`"}}],"pageInfo":{"hasNextPage":true,"endCursor":"`+want[1]+`"}`) {
		t.Fatalf("filtered page: %s %+v; want %v", page, r.Errors, want)
	}

	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("w", `subscription { orderPlaced(afterId: "00000000000000000000000000", where: `+where+`) { id data { orderId } } }`, nil)
	got := typedIDs(collectTyped(t, c, "w", "orderPlaced", len(want)))
	live := e.placeOrder(t, "orders.us", "o-live", 5)
	e.placeOrder(t, "orders.us", "o-small", 1) // filtered out
	after := e.placeOrder(t, "orders.us", "o-after", 2)
	got = append(got, typedIDs(collectTyped(t, c, "w", "orderPlaced", 2))...)
	if w := append(slices.Clone(want), live.ID, after.ID); !slices.Equal(got, w) {
		t.Errorf("subscription with where got %v\nwant %v", got, w)
	}

	r = e.query(t, `{ orderPlaced(where: {path: "total", eq: 1, ne: 2}) { edges { cursor } } }`, nil)
	if c := codes(r); len(c) != 1 || c[0] != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "where:") {
		t.Errorf("a bad filter: %+v", r.Errors)
	}
	// A filtered page costs its scan budget and its filter, as events does.
	small := startTyped(t, api.Config{Limits: graph.Limits{MaxComplexity: 5000}})
	if r := small.query(t, `{ orderPlaced(first: 10) { edges { cursor } } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("unfiltered page: %+v", r.Errors)
	}
	r = small.query(t, `{ orderPlaced(first: 10, where: {path: "total", gte: 1}) { edges { cursor } } }`, nil)
	if c := codes(r); len(c) != 1 || c[0] != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("filtered page under a cost limit of 5000: %+v", r.Errors)
	}
	c = wstest.Dial(t, small.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("w", `subscription { orderPlaced(where: {or: [`+strings.Repeat(`{path: "orderId", in: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]},`, 60)+`]}) { id } }`, nil)
	if m := c.Read(5 * time.Second); m.Type != "error" || !slices.Equal(wstest.ErrorCodes(t, m), []string{"BAD_USER_INPUT"}) {
		t.Errorf("a subscription with a filter of 600 values, over the bound of 256: %s %s", m.Type, m.Payload)
	}
}

// TestTypedWhereChecked: on typed fields a filter is checked against the
// declared type at request time: paths name fields (a list is indexed by
// number), comparisons suit the field, compared values fit its type.
func TestTypedWhereChecked(t *testing.T) {
	e := startTyped(t, api.Config{})
	for _, tc := range []struct{ field, where, want string }{
		{"orderPlaced", `{path: "totl", gte: 1}`, `where: invalid filter: path totl: OrderPlaced has no field totl`},
		{"orderPlaced", `{and: [{path: "total", gte: 1}, {path: "lines.sku", eq: "A"}]}`, `where and[1]: invalid filter: path lines.sku: lines is a list ([OrderLine!]!): index it with a number, not "sku"`},
		{"orderPlaced", `{path: "note", gt: 3}`, `gt on note: the field is String; gt compares Int, Float and Time fields`},
		{"orderPlaced", `{not: {path: "lines.0.qty", eq: "two"}}`, `where not: invalid filter: eq on lines.0.qty (Int!): expected Int, got string "two"`},
		{"orderPlaced", `{path: "currency", in: ["EUR", "YEN"]}`, `in on currency (Currency): expected Currency (EUR, USD, GBP), got string "YEN"`},
		{"orderPlaced", `{path: "orderId.x", exists: true}`, `orderId is of type ID: it has no field x`},
		{"orderEvent", `{path: "colour", eq: "red"}`, `path colour: OrderPlaced has no field colour; OrderShipped has no field colour`},
	} {
		r := e.query(t, `{ `+tc.field+`(where: `+tc.where+`) { edges { cursor } } }`, nil)
		if c := codes(r); len(c) != 1 || c[0] != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, tc.want) {
			t.Errorf("%s(where: %s): %+v\nwant BAD_USER_INPUT with %q", tc.field, tc.where, r.Errors, tc.want)
		}
	}
	for _, ok := range []struct{ field, where string }{
		{"orderPlaced", `{and: [{path: "total", gte: 1.5}, {path: "lines.0.qty", in: [1, 2]}, {path: "currency", eq: "EUR"}, {path: "note", eq: null}, {path: "orderId", eq: 42}]}`},
		{"orderEvent", `{or: [{path: "carrier", eq: "DHL"}, {path: "lines.0.sku", exists: true}]}`}, // a path of one member
		{"orderShipped", `{path: "at", lt: 1800000000}`}, // Time compares with seconds
	} {
		if r := e.query(t, `{ `+ok.field+`(where: `+ok.where+`) { edges { cursor } } }`, nil); len(r.Errors) > 0 {
			t.Errorf("%s(where: %s): %+v", ok.field, ok.where, r.Errors)
		}
	}
	// Subscriptions are checked the same way.
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("bad", `subscription { orderPlaced(where: {path: "total", eq: "x"}) { id } }`, nil)
	m := c.Read(10 * time.Second)
	if !strings.Contains(string(m.Payload), "BAD_USER_INPUT") || !strings.Contains(string(m.Payload), `expected Float, got string`) {
		t.Errorf("subscription with a bad filter: %s %s", m.Type, m.Payload)
	}
}
