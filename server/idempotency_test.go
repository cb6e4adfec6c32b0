package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/apitest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// TestKeyedRetryUnderKeepPerTopic: with --keep-per-topic 1, a publish
// retried with its idempotency key after a newer event replaced it
// returns the original event and stores nothing; on an instance that did
// not store it, the retry is refused with ALREADY_STORED, a message that
// says so, and no sequence: never a cursor code, which a client could
// take for "not stored" and publish again under a new key.
func TestKeyedRetryUnderKeepPerTopic(t *testing.T) {
	scfg := eventstore.Config{MaxPayload: 64 << 10, MaxMsgsPerSubject: 1}
	e := startWith(t, scfg, api.Config{}, replay.Config{})
	const keyed = `mutation($d: JSON!) { publish(topic: "dev.1", data: $d, idempotencyKey: "k-1") { id topic data } }`
	publish := func(at *env) (wantID string, r gqlResponse) {
		r = at.query(t, keyed, map[string]any{"d": map[string]any{"on": true}})
		var ev struct{ ID string }
		_ = json.Unmarshal(r.Data["publish"], &ev)
		return ev.ID, r
	}
	orig, r := publish(e)
	if len(r.Errors) > 0 || orig == "" {
		t.Fatalf("publish: %+v", r.Errors)
	}
	newer := e.publish(t, "dev.1", map[string]any{"on": false}) // replaces it
	if again, r := publish(e); len(r.Errors) > 0 || again != orig {
		t.Fatalf("retry: id %q, errors %+v; want the original %s", again, r.Errors, orig)
	}
	if got := e.historyIDs(t, "", "dev.1"); len(got) != 1 || got[0] != newer.ID {
		t.Fatalf("dev.1 holds %v, want only the newer %s: the retry stored nothing", got, newer.ID)
	}

	// Another instance on the same stream.
	other := apitest.Start(t, e.nats.Store(scfg), api.Config{}, replay.Config{})
	_, r = publish(&env{url: other.URL + "/graphql"})
	if c := codes(r); len(c) != 1 || c[0] != "ALREADY_STORED" {
		t.Fatalf("retry on another instance: codes %v (%+v), want ALREADY_STORED", c, r.Errors)
	}
	if msg := r.Errors[0].Message; strings.Contains(msg, "sequence") || strings.Contains(msg, "cursor") || !strings.Contains(msg, "not stored again") {
		t.Fatalf("message %q", msg)
	}
	t.Logf("another instance: %s", r.Errors[0].Message)
	if got := e.historyIDs(t, "", "dev.1"); len(got) != 1 || got[0] != newer.ID {
		t.Fatalf("dev.1 holds %v after the refused retry, want only %s", got, newer.ID)
	}
}
