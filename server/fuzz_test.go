package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// FuzzGraphQLRequest: whatever body a client POSTs, the server answers
// with JSON and never with a server error.
func FuzzGraphQLRequest(f *testing.F) {
	for _, s := range []string{
		`{"query":"{ hello }"}`,
		`{"query":"mutation($d: JSON!) { publish(topic: \"t\", data: $d) { id } }","variables":{"d":{"a":[1,2]}}}`,
		`{"query":"{ events(topic: \"a.*\", first: 3, after: \"00000000000000000000000000\") { edges { cursor } } }"}`,
		`{"query":"{ event(id: \"01M8AB89FQ5872B2PCN7G5GKBA\") { id } }"}`,
		`{"query":"{ topics { name } }"}`,
		`{"query":"subscription { count }"}`,
		`{"query":"{ __schema { types { name } } }"}`,
		`{"query":"{`, `null`, `[]`, `{"query":1}`,
	} {
		f.Add([]byte(s))
	}
	e := start(f, api.Config{}, replay.Config{})
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := http.Post(e.url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("status %d, body is not JSON: %v", resp.StatusCode, err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %q: %v", resp.StatusCode, body, v)
		}
	})
}
