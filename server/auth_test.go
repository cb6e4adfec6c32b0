package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/auth/jwtauth"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
	"github.com/rewind-dev/rewind/transport/connlimit"
)

func startAuth(t *testing.T, cfg api.Config) (*env, authtest.HS256) {
	t.Helper()
	return startAuthWith(t, eventstore.Config{MaxPayload: 64 << 10}, cfg)
}

// startAuthWith is startAuth on a store opened with scfg.
func startAuthWith(t *testing.T, scfg eventstore.Config, cfg api.Config) (*env, authtest.HS256) {
	t.Helper()
	key := authtest.NewHS256(t)
	v, err := jwtauth.New(jwtauth.Config{SecretFile: key.File})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth = v
	return startWith(t, scfg, cfg, replay.Config{}), key
}

// post sends a GraphQL request with token (none if empty) and returns the
// status and error codes.
func (e *env) post(t *testing.T, token, query string, vars map[string]any) (int, gqlResponse) {
	t.Helper()
	resp := e.postRaw(t, token, query, vars)
	defer resp.Body.Close()
	var r gqlResponse
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r
}

// postRaw sends a GraphQL request with token (none if empty) and returns
// the response, whose body the caller closes.
func (e *env) postRaw(t *testing.T, token, query string, vars map[string]any) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// outcome reduces a response to "ok" or its first error code, prefixed by
// the HTTP status when it is not 200.
func outcome(status int, r gqlResponse) string {
	out := "ok"
	if c := codes(r); len(c) > 0 {
		out = c[0]
	}
	if status != http.StatusOK {
		out = fmt.Sprintf("%d %s", status, out)
	}
	return out
}

// TestAuthorizationMatrix: every token against every operation and topic.
func TestAuthorizationMatrix(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	hour := time.Hour
	tokens := map[string]string{
		"admin":   key.Token(t, "admin", authtest.Grants{Admin: true}, hour),
		"eu":      key.Token(t, "eu", authtest.Grants{Subscribe: []string{"orders.eu.*"}, Publish: []string{"orders.eu.paris"}}, hour),
		"nothing": key.Token(t, "nothing", authtest.Grants{}, hour),
		"expired": key.Token(t, "late", authtest.Grants{Admin: true}, -hour),
		"none":    "",
	}
	// Something to read.
	if s, r := e.post(t, tokens["admin"], `mutation { a: publish(topic: "orders.eu.paris", data: 1) { id } b: publish(topic: "orders.us.ny", data: 2) { id } }`, nil); outcome(s, r) != "ok" {
		t.Fatalf("admin publish: %s", outcome(s, r))
	}
	ops := []struct {
		name, query string
	}{
		{"publish orders.eu.paris", `mutation { publish(topic: "orders.eu.paris", data: 1) { id } }`},
		{"publish orders.us.ny", `mutation { publish(topic: "orders.us.ny", data: 1) { id } }`},
		{"publishMessage", `mutation { publishMessage(content: "x") { id } }`},
		{"history orders.eu.paris", `{ events(topic: "orders.eu.paris") { edges { cursor } } }`},
		{"history orders.>", `{ events(topic: "orders.>") { edges { cursor } } }`},
		{"hello", `{ hello }`},
	}
	want := map[string][]string{ // per token, in the order of ops
		"admin":   {"ok", "ok", "ok", "ok", "ok", "ok"},
		"eu":      {"ok", "FORBIDDEN", "FORBIDDEN", "ok", "FORBIDDEN", "ok"},
		"nothing": {"FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "ok"},
		"expired": {"401 UNAUTHENTICATED", "401 UNAUTHENTICATED", "401 UNAUTHENTICATED", "401 UNAUTHENTICATED", "401 UNAUTHENTICATED", "401 UNAUTHENTICATED"},
		"none":    {"401 UNAUTHENTICATED", "401 UNAUTHENTICATED", "401 UNAUTHENTICATED", "401 UNAUTHENTICATED", "401 UNAUTHENTICATED", "401 UNAUTHENTICATED"},
	}
	for who, token := range tokens {
		for i, op := range ops {
			if got := outcome(e.post(t, token, op.query, nil)); got != want[who][i] {
				t.Errorf("%s / %s: %s, want %s", who, op.name, got, want[who][i])
			}
		}
	}

	// topics lists what the principal may read.
	_, r := e.post(t, tokens["eu"], `{ topics { name } }`, nil)
	if !strings.Contains(string(r.Data["topics"]), "orders.eu.paris") || strings.Contains(string(r.Data["topics"]), "orders.us.ny") {
		t.Errorf("eu sees topics %s", r.Data["topics"])
	}

	// /publish-message: 401 without a token, 403 without the grant.
	for who, wantStatus := range map[string]int{"none": 401, "expired": 401, "eu": 403, "admin": 200} {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/publish-message?message=hi", nil)
		if tokens[who] != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[who])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Errorf("%s /publish-message: %d, want %d", who, resp.StatusCode, wantStatus)
		}
	}

	// Subscriptions over WebSocket, token in connection_init.
	for _, tc := range []struct {
		who, topic string
		want       string // "ok", an error code, or "close 4403"
	}{
		{"admin", "orders.>", "ok"},
		{"eu", "orders.eu.*", "ok"},
		{"eu", "orders.eu.paris", "ok"},
		{"eu", "orders.>", "FORBIDDEN"}, // wider than allowed: refused, not filtered
		{"eu", "orders.us.ny", "FORBIDDEN"},
		{"nothing", "orders.eu.paris", "FORBIDDEN"},
		{"expired", "orders.eu.paris", "close 4403"},
		{"none", "orders.eu.paris", "close 4403"},
	} {
		t.Run("ws "+tc.who+" "+tc.topic, func(t *testing.T) {
			c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
			payload, _ := json.Marshal(map[string]string{"authorization": "Bearer " + tokens[tc.who]})
			c.Send(wstest.Message{Type: "connection_init", Payload: payload})
			if tc.want == "close 4403" {
				expectClose(t, c, 4403, "Forbidden")
				return
			}
			if m := c.Read(5 * time.Second); m.Type != "connection_ack" {
				t.Fatalf("init: %s %s", m.Type, m.Payload)
			}
			c.Subscribe("s", wstest.EventsQuery, map[string]any{"topics": []string{tc.topic}, "after": "00000000000000000000000000"})
			m := c.Read(5 * time.Second)
			switch {
			case tc.want == "ok" && m.Type != "next":
				t.Fatalf("got %s %s, want events", m.Type, m.Payload)
			case tc.want != "ok" && (m.Type != "error" || !slices.Equal(wstest.ErrorCodes(t, m), []string{tc.want})):
				t.Fatalf("got %s %s, want error %s", m.Type, m.Payload, tc.want)
			}
		})
	}
}

// TestTokenInUpgradeHeader: a WebSocket may authenticate with the upgrade
// request's header instead of connection_init.
func TestTokenInUpgradeHeader(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	h := http.Header{"Authorization": {"Bearer " + key.Token(t, "a", authtest.Grants{Admin: true}, time.Hour)}}
	c := wstest.Dial(t, e.url, wstest.TransportWS, h)
	c.Init()
	c.Subscribe("q", `{ hello }`, nil)
	if m := c.Read(5 * time.Second); m.Type != "next" {
		t.Fatalf("%s %s", m.Type, m.Payload)
	}
	bad := http.Header{"Authorization": {"Bearer nope"}}
	if _, err := wstest.TryDial(e.url, wstest.TransportWS, bad); err == nil {
		t.Fatal("an invalid token in the upgrade request was accepted")
	}
}

// TestTokenExpiryEndsConnection: a WebSocket closes 4403 when its token
// expires, exp plus the verifier's 30 s leeway; clients reconnect with a
// fresh one. The token's exp is 28.5 s ago, so it ends in 1.5 s.
func TestTokenExpiryEndsConnection(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	payload, _ := json.Marshal(map[string]string{"authorization": "Bearer " + key.Token(t, "a", authtest.Grants{Admin: true}, 1500*time.Millisecond-30*time.Second)})
	c.Send(wstest.Message{Type: "connection_init", Payload: payload})
	if m := c.Read(5 * time.Second); m.Type != "connection_ack" {
		t.Fatalf("init: %s", m.Type)
	}
	expectClose(t, c, 4403, "credentials expired")
}

func TestLimits(t *testing.T) {
	e, key := startAuth(t, api.Config{PublishRate: 1, PublishBurst: 3, Connections: connlimit.Config{PerAddress: 2}, Limits: graph.Limits{MaxDepth: 3, DisableIntrospection: true}})
	token := key.Token(t, "a", authtest.Grants{Admin: true}, time.Hour)
	var got []string
	for range 5 {
		got = append(got, outcome(e.post(t, token, `mutation { publish(topic: "t", data: 1) { id } }`, nil)))
	}
	if !slices.Equal(got, []string{"ok", "ok", "ok", "RATE_LIMITED", "RATE_LIMITED"}) {
		t.Errorf("publish rate: %v", got)
	}
	other := key.Token(t, "b", authtest.Grants{Admin: true}, time.Hour)
	if got := outcome(e.post(t, other, `mutation { publish(topic: "t", data: 1) { id } }`, nil)); got != "ok" {
		t.Errorf("another principal is limited too: %s", got)
	}
	deep := `{ events(topic: "t") { edges { node { id } } pageInfo { hasNextPage } } }`
	if got := outcome(e.post(t, token, deep, nil)); got != "DEPTH_LIMIT_EXCEEDED" {
		t.Errorf("depth 3 query with limit 3... got %s", got)
	}
	if got := outcome(e.post(t, token, `{ __schema { types { name } } }`, nil)); got != "INTROSPECTION_DISABLED" {
		t.Errorf("introspection off: %s", got)
	}
	h := http.Header{"Authorization": {"Bearer " + token}}
	wstest.Dial(t, e.url, wstest.TransportWS, h)
	wstest.Dial(t, e.url, wstest.TransportWS, h)
	if _, err := wstest.TryDial(e.url, wstest.TransportWS, h); err == nil || !strings.Contains(err.Error(), "bad handshake") {
		t.Errorf("third connection from one address: %v", err)
	}
}
