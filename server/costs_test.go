package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/docgen"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// What a document costs before it runs, and what listings and cursors
// cost and reveal: the findings of an attack by an authenticated client.

// TestDocumentRefusedBeforeValidation: a document that would make
// validation compare fields pairwise out of proportion to its size is
// refused before it is validated, over HTTP and both WebSocket protocols,
// with the measured value and the limit.
func TestDocumentRefusedBeforeValidation(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	for _, tc := range []struct{ name, query, message string }{
		{"20,000 repeated fields", docgen.Repeated("hello", 20_000, ""), "more than 15000 tokens"},
		{"5,000 repeated fields", docgen.Repeated("hello", 5_000, ""), "has 5000 fields and fragment spreads, the limit is 2000"},
		{"1,000 repeated fields", docgen.Repeated("hello", 1_000, ""), "compare more than 20000 pairs"},
		{"repeats in selections", "{" + strings.Repeat(` topics `+docgen.Repeated("name", 60, ""), 30) + " }", "compare more than 20000 pairs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.query(t, tc.query, nil)
			if got := codes(r); !slices.Equal(got, []string{"DOCUMENT_LIMIT_EXCEEDED"}) || !strings.Contains(r.Errors[0].Message, tc.message) {
				t.Fatalf("got %v %+v, want DOCUMENT_LIMIT_EXCEEDED saying %q", got, r.Errors, tc.message)
			}
			for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
				c := wstest.Dial(t, e.url, proto, nil)
				c.Init()
				c.Subscribe("1", tc.query, nil)
				if got := wstest.ErrorCodes(t, c.Read(5*time.Second)); !slices.Equal(got, []string{"DOCUMENT_LIMIT_EXCEEDED"}) {
					t.Fatalf("%s: got %v", proto, got)
				}
			}
		})
	}
	// Ordinary documents pass, GraphiQL's introspection among them.
	if r := e.query(t, graphiQLIntrospection, nil); len(r.Errors) > 0 {
		t.Fatalf("introspection: %+v", r.Errors)
	}
	if r := e.query(t, docgen.Repeated("hello", 150, ""), nil); len(r.Errors) > 0 {
		t.Fatalf("150 repeats: %+v", r.Errors)
	}
}

// TestTopicsPaged: with 20,000 topics, topics answers pages of at most
// first (100 by default) and costs what a page lists, so that ten
// aliased listings are ten pages, not ten walks of the stream.
func TestTopicsPaged(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	store := e.nats.Store(eventstore.Config{MaxPayload: 64 << 10})
	const n = 20_000
	evs := make([]eventstore.Event, 0, 1000)
	for i := range n {
		evs = append(evs, eventstore.Event{Topic: fmt.Sprintf("t.%05d", i), Type: "x", Data: []byte(`{}`)})
		if len(evs) == cap(evs) {
			if _, err := store.AppendBatch(context.Background(), evs); err != nil {
				t.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	type topic struct{ Name string }
	list := func(r gqlResponse, field string) []topic {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		var ts []topic
		if err := json.Unmarshal(r.Data[field], &ts); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	began := time.Now()
	r := e.query(t, "{"+docgen.Aliases(10, "topics { name events firstId lastId }")+" }", nil)
	t.Logf("ten aliased listings of %d topics: %v", n, time.Since(began))
	for i := range 10 {
		if ts := list(r, fmt.Sprintf("a%d", i)); len(ts) != 100 || ts[0].Name != "t.00000" || ts[99].Name != "t.00099" {
			t.Fatalf("listing %d: %d topics from %v", i, len(ts), ts[:min(len(ts), 1)])
		}
	}
	ts := list(e.query(t, `{ topics(first: 1000, after: "t.19500") { name } }`, nil), "topics")
	if len(ts) != 499 || ts[0].Name != "t.19501" || ts[498].Name != "t.19999" {
		t.Fatalf("last page: %d topics", len(ts))
	}
	if got := codes(e.query(t, `{ topics(first: 1001) { name } }`, nil)); !slices.Equal(got, []string{"BAD_USER_INPUT"}) {
		t.Fatalf("first 1001: %v", got)
	}
	if got := codes(e.query(t, "{"+docgen.Aliases(11, "topics { name }")+" }", nil)); !slices.Equal(got, []string{"COMPLEXITY_LIMIT_EXCEEDED"}) {
		t.Fatalf("eleven listings: %v", got)
	}
}

// TestCursorOfUnreadableTopic: an event's id on a topic the caller may not
// read is answered as an unknown id wherever it is a cursor, so that
// cursors reveal nothing of other topics.
func TestCursorOfUnreadableTopic(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	admin := key.Token(t, "admin", authtest.Grants{Admin: true}, time.Hour)
	reader := key.Token(t, "reader", authtest.Grants{Subscribe: []string{"mine.*"}}, time.Hour)
	publish := func(topic string) string {
		_, r := e.post(t, admin, `mutation($t: String!) { publish(topic: $t, data: 1) { id } }`, map[string]any{"t": topic})
		var v struct{ ID string }
		if err := json.Unmarshal(r.Data["publish"], &v); err != nil {
			t.Fatal(err, r.Errors)
		}
		return v.ID
	}
	secret := publish("secret.x")
	mine := publish("mine.a")
	unknown := "01KB0000000000000000000000"
	answer := func(id string) string {
		_, r := e.post(t, reader, `query($a: ID) { events(topic: "mine.a", after: $a) { edges { cursor } } }`, map[string]any{"a": id})
		if len(r.Errors) == 0 {
			return "no error"
		}
		return fmt.Sprint(codes(r), strings.ReplaceAll(r.Errors[0].Message, id, "ID"))
	}
	if got, want := answer(secret), answer(unknown); got != want || !strings.Contains(got, "CURSOR_NOT_FOUND") {
		t.Fatalf("history after an unreadable event: %q; after an unknown id: %q", got, want)
	}
	if got := answer(mine); got != "no error" {
		t.Fatalf("after a readable event: %s", got)
	}

	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Send(wstest.Message{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer ` + reader + `"}`)})
	if m := c.Read(5 * time.Second); m.Type != "connection_ack" {
		t.Fatalf("init: %+v", m)
	}
	c.Subscribe("1", `subscription($a: ID) { events(topics: ["mine.*"], afterId: $a) { id } }`, map[string]any{"a": secret})
	if got := wstest.ErrorCodes(t, c.Read(5*time.Second)); !slices.Equal(got, []string{"CURSOR_NOT_FOUND"}) {
		t.Fatalf("afterId of an unreadable event: %v", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := openSSE(t, ctx, http.MethodGet, e.url, http.Header{"Authorization": {"Bearer " + reader}, "Last-Event-Id": {secret}},
		`subscription { events(topics: ["mine.*"]) { id } }`, nil)
	if m, _ := s.next(10 * time.Second); !strings.Contains(m.Data, "CURSOR_NOT_FOUND") {
		t.Fatalf("Last-Event-ID of an unreadable event: %+v", m)
	}
}

// TestFederationServiceWithoutIntrospection: with introspection off the
// subgraph schema is served to admin grants only, and the server refuses
// to start that way without authentication.
func TestFederationServiceWithoutIntrospection(t *testing.T) {
	if _, err := api.New(api.Config{Federation: true, Limits: graph.Limits{DisableIntrospection: true}, EventStore: &eventstore.Store{}}); err == nil || !strings.Contains(err.Error(), "--auth=jwt") {
		t.Fatalf("no authentication: %v", err)
	}
	e, key := startAuth(t, api.Config{Federation: true, Limits: graph.Limits{DisableIntrospection: true}})
	admin := key.Token(t, "gateway", authtest.Grants{Admin: true}, time.Hour)
	reader := key.Token(t, "reader", authtest.Grants{Subscribe: []string{">"}}, time.Hour)
	if _, r := e.post(t, reader, `{ _service { sdl } }`, nil); !slices.Equal(codes(r), []string{"FORBIDDEN"}) {
		t.Fatalf("a reader read the subgraph schema: %v %.100s", codes(r), r.Data)
	}
	if _, r := e.post(t, admin, `{ _service { sdl } }`, nil); len(r.Errors) > 0 || !strings.Contains(string(r.Data["_service"]), "@key") {
		t.Fatalf("the gateway: %+v %.100s", r.Errors, r.Data)
	}
	if _, r := e.post(t, reader, `{ __schema { types { name } } }`, nil); !slices.Equal(codes(r), []string{"INTROSPECTION_DISABLED"}) {
		t.Fatalf("introspection: %v", codes(r))
	}
}
