package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// sseMessage is one event of an SSE stream.
type sseMessage struct {
	Event, ID, Data string
}

// sseStream reads an SSE response as a client does.
type sseStream struct {
	t    *testing.T
	resp *http.Response
	msgs chan sseMessage
	err  chan error // why the stream ended: nil for a clean end of the body
}

// openSSE sends a GraphQL-over-SSE request: POST with a JSON body, or GET
// with query parameters when method is GET (as EventSource does).
func openSSE(t *testing.T, ctx context.Context, method, endpoint string, header http.Header, query string, vars map[string]any) *sseStream {
	t.Helper()
	var body io.Reader
	u := endpoint
	if method == http.MethodGet {
		q := url.Values{"query": {query}}
		if vars != nil {
			v, _ := json.Marshal(vars)
			q.Set("variables", string(v))
		}
		u += "?" + q.Encode()
	} else {
		b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	s := &sseStream{t: t, resp: resp, msgs: make(chan sseMessage, 100), err: make(chan error, 1)}
	go s.read()
	return s
}

func (s *sseStream) read() {
	defer close(s.msgs)
	sc := bufio.NewScanner(s.resp.Body)
	var m sseMessage
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if m.Event != "" || m.Data != "" {
				s.msgs <- m
			}
			m = sseMessage{}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			m.Event = value
		case "id":
			m.ID = value
		case "data":
			m.Data = value
		}
	}
	s.err <- sc.Err()
}

// next returns the next message; ok is false once the stream has ended.
func (s *sseStream) next(d time.Duration) (sseMessage, bool) {
	s.t.Helper()
	select {
	case m, ok := <-s.msgs:
		return m, ok
	case <-time.After(d):
		s.t.Fatalf("no SSE message within %v", d)
		return sseMessage{}, false
	}
}

// events reads n next events carrying Event results of field.
func (s *sseStream) events(field string, n int) []wstest.Event {
	s.t.Helper()
	var out []wstest.Event
	for len(out) < n {
		m, ok := s.next(10 * time.Second)
		if !ok {
			s.t.Fatalf("stream ended after %d of %d events", len(out), n)
		}
		if m.Event != "next" {
			s.t.Fatalf("got %q event %s, want next", m.Event, m.Data)
		}
		var r wstest.Result
		if err := json.Unmarshal([]byte(m.Data), &r); err != nil || len(r.Errors) > 0 {
			s.t.Fatalf("result %s: %v", m.Data, err)
		}
		var ev wstest.Event
		if err := json.Unmarshal(r.Data[field], &ev); err != nil {
			s.t.Fatal(err)
		}
		if m.ID != ev.ID {
			s.t.Fatalf("SSE id %q for event %s", m.ID, ev.ID)
		}
		out = append(out, ev)
	}
	return out
}

func sseResult(t *testing.T, m sseMessage) wstest.Result {
	t.Helper()
	var r wstest.Result
	if err := json.Unmarshal([]byte(m.Data), &r); err != nil {
		t.Fatalf("%s event data %q: %v", m.Event, m.Data, err)
	}
	return r
}

// TestSSEReplayThenLive: over POST and over GET (EventSource's way), stored
// events after the cursor, then live ones, each with its id in the SSE id
// field.
func TestSSEReplayThenLive(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	var published []wstest.Event
	for i := range 4 {
		published = append(published, e.publish(t, "orders.eu", map[string]any{"n": i}))
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			s := openSSE(t, t.Context(), method, e.url, nil, wstest.EventsQuery,
				map[string]any{"topics": []string{"orders.*"}, "after": published[0].ID})
			if ct := s.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("Content-Type %q", ct)
			}
			got := s.events("events", len(published)-1)
			live := e.publish(t, "orders.us", map[string]any{"n": "live-" + method})
			got = append(got, s.events("events", 1)...)
			want := append(slices.Clone(published[1:]), live)
			if !slices.Equal(idsOf(got), idsOf(want)) {
				t.Fatalf("got %v, want %v", idsOf(got), idsOf(want))
			}
			published = append(published, live)
		})
	}
}

// TestSSELastEventID: a reconnecting client's Last-Event-ID replaces the
// afterId of its request, on events and realTimeMessages, and the
// SSE id of each message is the event's id even when the query does not
// select it.
func TestSSELastEventID(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	var ids []string
	for i := range 5 {
		ids = append(ids, e.publish(t, "messages", "m"+string(rune('0'+i))).ID)
	}
	// As an EventSource would reconnect: the same request, plus the header.
	h := http.Header{"Last-Event-Id": {ids[2]}}
	s := openSSE(t, t.Context(), http.MethodGet, e.url, h,
		`subscription { events(topics: ["messages"], afterId: "00000000000000000000000000") { data } }`, nil)
	for _, want := range ids[3:] {
		m, _ := s.next(10 * time.Second)
		if m.Event != "next" || m.ID != want {
			t.Fatalf("got %q id %q (%s), want next with id %s", m.Event, m.ID, m.Data, want)
		}
	}
	s = openSSE(t, t.Context(), http.MethodPost, e.url, http.Header{"Last-Event-Id": {ids[3]}},
		`subscription { realTimeMessages { content } }`, nil)
	if m, _ := s.next(10 * time.Second); m.ID != ids[4] || !strings.Contains(m.Data, `"content":"m4"`) {
		t.Fatalf("realTimeMessages after Last-Event-ID: got id %q %s, want %s", m.ID, m.Data, ids[4])
	}
}

// TestSSEErrors: failures before the stream starts arrive in a next event
// with extensions.code, then complete; a mutation over GET is refused; a
// query is one next and complete.
func TestSSEErrors(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	ev := e.publish(t, "orders.eu", 1)
	cases := []struct {
		name, method, query string
		header              http.Header
		code                string
	}{
		{"unknown cursor", http.MethodPost, `subscription { events(topics: ["a"], afterId: "01ARZ3NDEKTSV4RRFFQ69G5FAV") { id } }`, nil, "CURSOR_NOT_FOUND"},
		{"bad Last-Event-ID", http.MethodGet, `subscription { events(topics: ["a"]) { id } }`, http.Header{"Last-Event-Id": {"nope"}}, "BAD_USER_INPUT"},
		{"bad topic", http.MethodPost, `subscription { events(topics: ["a..b"]) { id } }`, nil, "BAD_USER_INPUT"},
		{"validation", http.MethodGet, `subscription { events(topics: ["a"]) { nope } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openSSE(t, t.Context(), c.method, e.url, c.header, c.query, nil)
			m, _ := s.next(10 * time.Second)
			r := sseResult(t, m)
			if m.Event != "next" || !slices.Equal(codes(r), []string{c.code}) {
				t.Fatalf("got %q %s, want next with code %s", m.Event, m.Data, c.code)
			}
			if m, _ := s.next(10 * time.Second); m.Event != "complete" {
				t.Fatalf("got %q %s, want complete", m.Event, m.Data)
			}
			if _, ok := s.next(10 * time.Second); ok {
				t.Fatal("the stream goes on after complete")
			}
		})
	}

	t.Run("query", func(t *testing.T) {
		s := openSSE(t, t.Context(), http.MethodGet, e.url, nil, `query($id: ID!) { event(id: $id) { id } }`, map[string]any{"id": ev.ID})
		m, _ := s.next(10 * time.Second)
		if r := sseResult(t, m); m.Event != "next" || !strings.Contains(string(r.Data["event"]), ev.ID) {
			t.Fatalf("got %q %s", m.Event, m.Data)
		}
		if m, _ := s.next(10 * time.Second); m.Event != "complete" {
			t.Fatalf("got %q, want complete", m.Event)
		}
	})

	t.Run("mutation over GET", func(t *testing.T) {
		s := openSSE(t, t.Context(), http.MethodGet, e.url, nil, `mutation { publish(topic: "a", data: 1) { id } }`, nil)
		if s.resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", s.resp.StatusCode)
		}
	})

	t.Run("not JSON", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader("{"))
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
}

// TestSSEShutdown: at shutdown a subscription's stream ends cleanly (the
// body's end, no error) and without complete, so that clients reconnect
// and resume; a client that leaves releases its subscription.
func TestSSEShutdown(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	left := openSSE(t, ctx, http.MethodPost, e.url, nil, wstest.EventsQuery, map[string]any{"topics": []string{"x"}})
	s := openSSE(t, t.Context(), http.MethodPost, e.url, nil, wstest.EventsQuery, map[string]any{"topics": []string{"x"}})
	// Live-only subscriptions see what is stored after they start.
	waitFor(t, "both subscriptions", func() bool { return e.hub.Subscribers() == 2 })
	ev := e.publish(t, "x", 1)
	left.events("events", 1)
	if got := s.events("events", 1); got[0].ID != ev.ID {
		t.Fatalf("got %s, want %s", got[0].ID, ev.ID)
	}
	cancel()
	waitFor(t, "the departed client's subscription to end", func() bool { return e.hub.Subscribers() == 1 })

	e.shutdown()
	for m := range s.msgs {
		if m.Event == "complete" || m.Event == "next" {
			t.Fatalf("got %q %s at shutdown, want the stream to end", m.Event, m.Data)
		}
	}
	if err := <-s.err; err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSubscriptionOverPlainHTTP: a subscription sent as a plain POST or
// GET, which answer once, is refused with HTTP 400 and
// SUBSCRIPTION_NEEDS_STREAM, in words naming SSE and WebSocket, whatever
// JSON media type it accepts; queries and mutations over the same
// transports are unchanged, and the same subscription accepting
// text/event-stream streams.
func TestSubscriptionOverPlainHTTP(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	stored := e.publish(t, "orders.eu", 1)
	const sub = `subscription { events(topics: ["orders.*"], afterId: "00000000000000000000000000") { id } }`
	body, _ := json.Marshal(map[string]any{"query": sub})
	send := func(method, accept string) (int, gqlResponse) {
		t.Helper()
		var req *http.Request
		var err error
		if method == http.MethodGet {
			req, err = http.NewRequest(method, e.url+"?query="+url.QueryEscape(sub), nil)
		} else {
			req, err = http.NewRequest(method, e.url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r gqlResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatalf("%s %s: status %d: %v", method, accept, resp.StatusCode, err)
		}
		return resp.StatusCode, r
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		for _, accept := range []string{"", "application/json", "application/graphql-response+json"} {
			status, r := send(method, accept)
			if status != http.StatusBadRequest || !slices.Equal(codes(r), []string{"SUBSCRIPTION_NEEDS_STREAM"}) || r.Data != nil {
				t.Errorf("%s accepting %q: status %d, codes %v, data %v; want 400 SUBSCRIPTION_NEEDS_STREAM", method, accept, status, codes(r), r.Data)
				continue
			}
			if msg := r.Errors[0].Message; !strings.Contains(msg, "Accept: text/event-stream") || !strings.Contains(msg, "WebSocket") {
				t.Errorf("%s: the message names neither SSE nor WebSocket: %s", method, msg)
			}
		}
	}
	if r := e.query(t, `{ event(id: "`+stored.ID+`") { id } }`, nil); len(r.Errors) > 0 || !strings.Contains(string(r.Data["event"]), stored.ID) {
		t.Errorf("a query over POST: %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := openSSE(t, ctx, http.MethodPost, e.url, nil, sub, nil)
	if got := idsOf(s.events("events", 1)); !slices.Equal(got, []string{stored.ID}) {
		t.Errorf("the subscription over SSE: %v", got)
	}
}
