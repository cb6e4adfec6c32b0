package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// declared declares OrderPlaced on orders.* and, to test the seed's
// endpoint, messages that need a channel the endpoint never sends.
func declared(t *testing.T) *eventschema.Schema {
	t.Helper()
	s, err := eventschema.Parse(&ast.Source{Name: "test.graphqls", Input: `
type OrderPlaced @event(topics: "orders.*", type: "placed") { orderId: ID!  lines: [Line!]! }
type Line { sku: String!  qty: Int! }
type Chat @event(topics: "messages", type: "message") { content: String!  channel: String! }
`})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGenericPublishChecksDeclarations: the generic publish mutation and
// POST /publish-message check an event whose topic and type match a
// declaration against it, refuse a mismatch with BAD_USER_INPUT and the
// path of the first bad field, and store nothing, not even the other
// appends of the same document. Events no declaration matches are stored
// as they are.
func TestGenericPublishChecksDeclarations(t *testing.T) {
	events := declared(t)
	e := startWith(t, eventstore.Config{MaxPayload: 64 << 10, Check: events.Check}, api.Config{Events: events}, replay.Config{})

	r := e.query(t, `mutation { publish(topic: "orders.eu", type: "placed", data: {orderId: "1", lines: [{sku: "a", qty: 1}, {sku: "b", qty: 1}, {sku: "c", qty: "3"}]}) { id } }`, nil)
	if got := codes(r); len(got) != 1 || got[0] != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, `lines[2].qty: expected Int, got string "3"`) {
		t.Errorf("bad typed publish: %+v", r.Errors)
	}
	r = e.query(t, `mutation($d: JSON!) { ok: publish(topic: "orders.us", data: 1) { id } bad: publish(topic: "orders.us", type: "placed", data: $d) { id } }`,
		map[string]any{"d": map[string]any{"lines": []any{}}})
	if got := codes(r); len(got) != 1 || got[0] != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "orderId: required (ID!), missing") {
		t.Errorf("document with a bad publish: %+v", r.Errors)
	}
	if ids := e.historyIDs(t, "", "orders.us"); len(ids) != 0 {
		t.Errorf("the document's other publish was stored: %v", ids)
	}

	resp, err := http.Post(e.base+"/publish-message?message=hi", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Chat data: channel: required (String!), missing") || !strings.Contains(string(body), "BAD_USER_INPUT") {
		t.Errorf("POST /publish-message: %s %s", resp.Status, body)
	}
	if ids := e.historyIDs(t, "", "messages"); len(ids) != 0 {
		t.Errorf("a refused message was stored: %v", ids)
	}

	r = e.query(t, `mutation {
		a: publish(topic: "orders.eu", type: "placed", data: {orderId: 7, lines: {sku: "a", qty: 2}}) { id }
		b: publish(topic: "orders.eu", type: "refunded", data: "anything") { id }
		c: publish(topic: "payments", type: "placed", data: [1]) { id }
	}`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("valid and undeclared publishes: %+v", r.Errors)
	}
	if ids := e.historyIDs(t, "", "orders.eu"); len(ids) != 2 {
		t.Errorf("orders.eu holds %d events, want 2", len(ids))
	}
}

// TestEventsNeedAStoreThatChecks: a store opened without the
// declarations' check would store typed events unchecked: refused.
func TestEventsNeedAStoreThatChecks(t *testing.T) {
	n := testenv.StartNATS(t)
	err := api.Config{Events: declared(t), EventStore: n.Store(eventstore.Config{})}.Validate()
	if err == nil || !strings.Contains(err.Error(), "open it with eventstore.Config{Check: events.Check}") {
		t.Errorf("Validate = %v", err)
	}
}
