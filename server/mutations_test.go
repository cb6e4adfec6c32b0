package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// historyIDs is every id stored on topic, oldest first.
func (e *env) historyIDs(t *testing.T, token, topic string) []string {
	t.Helper()
	_, r := e.post(t, token, `query($t: String!) { events(topic: $t, first: 1000) { edges { cursor } } }`, map[string]any{"t": topic})
	if len(r.Errors) > 0 {
		t.Fatalf("history of %s: %+v", topic, r.Errors)
	}
	var conn struct {
		Edges []struct{ Cursor string }
	}
	if err := json.Unmarshal(r.Data["events"], &conn); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(conn.Edges))
	for i, e := range conn.Edges {
		ids[i] = e.Cursor
	}
	return ids
}

// TestMutationDocumentAllOrNothing: every append in a document is checked
// before any runs, so a refused one stores nothing of the others.
func TestMutationDocumentAllOrNothing(t *testing.T) {
	e, key := startAuth(t, api.Config{PublishRate: 1, PublishBurst: 3})
	admin := key.Token(t, "admin", authtest.Grants{Admin: true}, time.Hour)
	eu := key.Token(t, "eu", authtest.Grants{Subscribe: []string{"orders.>"}, Publish: []string{"orders.eu.*"}}, time.Hour)

	for _, tc := range []struct {
		name, query, code string
	}{
		{"forbidden second", `mutation { a: publish(topic: "orders.eu.paris", data: 1) { id } b: publish(topic: "orders.us.ny", data: 2) { id } }`, "FORBIDDEN"},
		{"forbidden message", `mutation { a: publish(topic: "orders.eu.paris", data: 1) { id } publishMessage(content: "x") { id } }`, "FORBIDDEN"},
		{"invalid topic", `mutation { a: publish(topic: "orders.eu.paris", data: 1) { id } b: publish(topic: "orders..x", data: 2) { id } }`, "BAD_USER_INPUT"},
		// Four appends at once can never pass a burst of three.
		{"over the burst", `mutation { a: publish(topic: "orders.eu.a", data: 1) { id } b: publish(topic: "orders.eu.b", data: 2) { id } c: publish(topic: "orders.eu.c", data: 3) { id } d: publish(topic: "orders.eu.d", data: 4) { id } }`, "BATCH_TOO_LARGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, r := e.post(t, eu, tc.query, nil)
			if got := outcome(status, r); got != tc.code {
				t.Fatalf("%s, want %s (%+v)", got, tc.code, r.Errors)
			}
			if d := r.Data["a"]; len(d) > 0 && string(d) != "null" {
				t.Errorf("a answered %s", d)
			}
		})
	}
	for _, topic := range []string{"orders.eu.paris", "orders.eu.a", "orders.eu.b"} {
		if ids := e.historyIDs(t, admin, topic); len(ids) != 0 {
			t.Errorf("%s holds %d events after refused documents, want none", topic, len(ids))
		}
	}
	// The whole document fits the rate: all of it is stored.
	if s, r := e.post(t, eu, `mutation { a: publish(topic: "orders.eu.a", data: 1) { id } b: publish(topic: "orders.eu.b", data: 2) { id } }`, nil); outcome(s, r) != "ok" {
		t.Fatalf("allowed document: %s %+v", outcome(s, r), r.Errors)
	}
	for _, topic := range []string{"orders.eu.a", "orders.eu.b"} {
		if ids := e.historyIDs(t, admin, topic); len(ids) != 1 {
			t.Errorf("%s holds %d events, want 1", topic, len(ids))
		}
	}
}

// TestMutationFailureNamesStored: an append that fails after others of its
// document were stored says which were (extensions.stored). What can be
// checked before storing is (TestMutationDocumentAllOrNothing); an
// idempotency key's reuse shows only when JetStream finds the duplicate.
func TestMutationFailureNamesStored(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	if r := e.query(t, `mutation { publish(topic: "k", data: 9, idempotencyKey: "k-1") { id } }`, nil); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	r := e.query(t, `mutation { a: publish(topic: "t", data: 1) { id } b: publish(topic: "k", data: 2, idempotencyKey: "k-1") { id } }`, nil)
	if got := codes(r); len(got) != 1 || got[0] != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("codes %v, want [IDEMPOTENCY_KEY_REUSED]", got)
	}
	stored, _ := r.Errors[0].Extensions["stored"].([]any)
	if len(stored) != 1 {
		t.Fatalf("extensions.stored = %v, want the one event a stored", r.Errors[0].Extensions["stored"])
	}
	first, _ := stored[0].(map[string]any)
	ids := e.historyIDs(t, "", "t")
	if len(ids) != 1 || first["path"] != "a" || first["id"] != ids[0] {
		t.Errorf("stored %v, history %v", first, ids)
	}
	// An oversized event is refused before anything of its document is.
	big := strings.Repeat("x", 70<<10) // over the test store's 64 KiB payload limit
	r = e.query(t, `mutation($big: JSON!) { a: publish(topic: "u", data: 1) { id } b: publish(topic: "u", data: $big) { id } }`, map[string]any{"big": big})
	if got := codes(r); len(got) != 1 || got[0] != "PAYLOAD_TOO_LARGE" || r.Errors[0].Extensions["stored"] != nil {
		t.Errorf("oversized: %+v", r.Errors)
	}
	if ids := e.historyIDs(t, "", "u"); len(ids) != 0 {
		t.Errorf("u holds %v", ids)
	}
}

// TestEventByIDAuthorization: an event on a topic the principal may not
// read is answered as if unknown, naming nothing; a principal that may
// read nothing starts no lookup.
func TestEventByIDAuthorization(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	admin := key.Token(t, "admin", authtest.Grants{Admin: true}, time.Hour)
	eu := key.Token(t, "eu", authtest.Grants{Subscribe: []string{"orders.eu.*"}}, time.Hour)
	writer := key.Token(t, "writer", authtest.Grants{Publish: []string{"orders.>"}}, time.Hour)
	_, r := e.post(t, admin, `mutation { us: publish(topic: "orders.us.ny", data: 1) { id } eu: publish(topic: "orders.eu.paris", data: 2) { id } }`, nil)
	var us, paris struct{ ID string }
	_ = json.Unmarshal(r.Data["us"], &us)
	_ = json.Unmarshal(r.Data["eu"], &paris)

	q := `query($id: ID!) { event(id: $id) { id topic } }`
	status, r := e.post(t, eu, q, map[string]any{"id": us.ID})
	if outcome(status, r) != "ok" || string(r.Data["event"]) != "null" {
		t.Errorf("eu reading a us event: %s %s %+v", outcome(status, r), r.Data["event"], r.Errors)
	}
	if strings.Contains(fmt.Sprint(r), "orders.us") {
		t.Errorf("the answer names the forbidden topic: %+v", r)
	}
	if status, r = e.post(t, eu, q, map[string]any{"id": paris.ID}); !strings.Contains(string(r.Data["event"]), paris.ID) {
		t.Errorf("eu reading its own event: %s %s", outcome(status, r), r.Data["event"])
	}
	if status, r = e.post(t, writer, q, map[string]any{"id": us.ID}); outcome(status, r) != "FORBIDDEN" {
		t.Errorf("a publish-only token: %s, want FORBIDDEN", outcome(status, r))
	}
}

// TestTokenInsideLeeway: a token just past exp, within the verifier's
// leeway for clock skew, is served like any valid one.
func TestTokenInsideLeeway(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	late := key.Token(t, "late", authtest.Grants{Admin: true}, -10*time.Second)
	status, r := e.post(t, late, `{ hello }`, nil)
	if status != http.StatusOK || string(r.Data["hello"]) != `"Hello from Rewind"` {
		t.Errorf("token 10 s past exp: %d %s %+v", status, r.Data["hello"], r.Errors)
	}
}

// TestIdempotencyKeyPerPrincipal: a key is its principal's own. Another
// principal's same key stores its own event and never sees the first one's
// data; the same principal repeating it gets the original; reusing it for
// other data is refused.
func TestIdempotencyKeyPerPrincipal(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	grants := authtest.Grants{Publish: []string{"orders.>"}}
	alice := key.Token(t, "alice", grants, time.Hour)
	bob := key.Token(t, "bob", grants, time.Hour)
	q := `mutation($d: JSON!) { publish(topic: "orders.eu", data: $d, idempotencyKey: "k-1") { id data } }`
	publish := func(token string, data any) (string, gqlResponse) {
		t.Helper()
		status, r := e.post(t, token, q, map[string]any{"d": data})
		var ev struct {
			ID   string
			Data json.RawMessage
		}
		_ = json.Unmarshal(r.Data["publish"], &ev)
		if outcome(status, r) == "ok" && string(ev.Data) != fmt.Sprint(data) {
			t.Errorf("answered data %s, want %v", ev.Data, data)
		}
		return ev.ID, r
	}
	a1, _ := publish(alice, 1)
	b1, r := publish(bob, 2)
	if b1 == "" || b1 == a1 {
		t.Fatalf("bob's publish with alice's key: id %q (alice's %q), %+v", b1, a1, r.Errors)
	}
	if again, _ := publish(alice, 1); again != a1 {
		t.Errorf("alice repeating her key got %q, want the original %q", again, a1)
	}
	if _, r := publish(alice, 3); !slices.Equal(codes(r), []string{"IDEMPOTENCY_KEY_REUSED"}) {
		t.Errorf("alice reusing her key for other data: %v", codes(r))
	}
	admin := key.Token(t, "admin", authtest.Grants{Admin: true}, time.Hour)
	if ids := e.historyIDs(t, admin, "orders.eu"); !slices.Equal(ids, []string{a1, b1}) {
		t.Errorf("stored %v, want [%s %s]", ids, a1, b1)
	}
}
