package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

const latestQuery = `subscription($topics: [String!]!, $types: [String!], $latest: Boolean, $last: Int) {
  events(topics: $topics, types: $types, latest: $latest, last: $last) { id topic type live }
}`

// TestLatestOverWebSocket: latest: true replays the newest event of each
// matching topic, in stream order and not marked live, then live events;
// with types a topic whose newest event is of another type is left out;
// latest with another start point is BAD_USER_INPUT.
func TestLatestOverWebSocket(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	type stored struct{ id, topic, typ string }
	var all []stored
	publish := func(topic, typ string) string {
		id := e.publishTyped(t, topic, typ)
		all = append(all, stored{id, topic, typ})
		return id
	}
	publish("a.x", "t1")
	publish("a.y", "t1") // a.y's only event
	publish("a.x", "t1")
	publish("b", "t1")
	publish("a.x", "t2") // a.x's newest, of type t2
	// newest is what latest gives as the cases run: the newest event of
	// each matching topic, if of a wanted type, in stream order.
	newest := func(match func(string) bool, typ string) []string {
		last := map[string]int{}
		for i, s := range all {
			if match(s.topic) {
				last[s.topic] = i
			}
		}
		var out []string
		for i, s := range all {
			if match(s.topic) && last[s.topic] == i && (typ == "" || s.typ == typ) {
				out = append(out, s.id)
			}
		}
		return out
	}
	aStar := func(topic string) bool { return strings.HasPrefix(topic, "a.") }
	every := func(string) bool { return true }
	for _, tc := range []struct {
		name string
		vars map[string]any
		want func() []string
		live string // topic of a live event that must follow
	}{
		{"a.*", map[string]any{"topics": []string{"a.*"}, "latest": true}, func() []string { return newest(aStar, "") }, "a.y"},
		{">", map[string]any{"topics": []string{">"}, "latest": true}, func() []string { return newest(every, "") }, "b"},
		{"types", map[string]any{"topics": []string{"a.*"}, "types": []string{"t1"}, "latest": true}, func() []string { return newest(aStar, "t1") }, "a.y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.Eventually(t, 5*time.Second, "the last case's subscription to end", func() bool { return e.hub.Subscribers() == 0 })
			c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
			c.Init()
			c.Subscribe("s", latestQuery, tc.vars)
			want := tc.want()
			if len(want) == 0 {
				t.Fatal("the case expects nothing: it proves nothing")
			}
			if got := readReplayed(t, c, len(want)); !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			testenv.Eventually(t, 5*time.Second, "the subscription to follow", func() bool { return e.hub.Subscribers() == 1 })
			id := publish(tc.live, "t1")
			m := c.Read(5 * time.Second)
			var r struct{ Data struct{ Events liveEvent } }
			_ = json.Unmarshal(m.Payload, &r)
			if r.Data.Events.ID != id || !r.Data.Events.Live {
				t.Fatalf("live event: %s, want %s", m.Payload, id)
			}
			c.Stop("s")
		})
	}
	t.Run("latest and last", func(t *testing.T) {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		c.Init()
		c.Subscribe("s", latestQuery, map[string]any{"topics": []string{"b"}, "latest": true, "last": 2})
		m := c.Read(5 * time.Second)
		if m.Type != "error" || !slices.Equal(wstest.ErrorCodes(t, m), []string{"BAD_USER_INPUT"}) {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
	})
}

// TestLatestOverSSE: latest as an argument over SSE, on events and
// realTimeMessages; a reconnecting client's Last-Event-ID still wins.
func TestLatestOverSSE(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	var msgs []string
	for i := range 3 {
		msgs = append(msgs, e.publish(t, "messages", "m"+string(rune('0'+i))).ID)
	}
	x := e.publish(t, "orders.x", 1).ID
	y1 := e.publish(t, "orders.y", 1).ID
	y2 := e.publish(t, "orders.y", 2).ID
	_ = y1
	s := openSSE(t, t.Context(), http.MethodGet, e.url, nil,
		`subscription { events(topics: ["orders.*"], latest: true) { id } }`, nil)
	if got := idsOf(s.events("events", 2)); !slices.Equal(got, []string{x, y2}) {
		t.Fatalf("latest over SSE: got %v, want %v", got, []string{x, y2})
	}
	live := e.publish(t, "orders.x", 3).ID
	if got := idsOf(s.events("events", 1)); got[0] != live {
		t.Fatalf("live after latest over SSE: got %v, want %s", got, live)
	}
	s = openSSE(t, t.Context(), http.MethodPost, e.url, nil, `subscription { realTimeMessages(latest: true) { content } }`, nil)
	if m, _ := s.next(10 * time.Second); m.ID != msgs[2] || !strings.Contains(m.Data, `"content":"m2"`) {
		t.Fatalf("realTimeMessages latest: got id %q %s, want %s", m.ID, m.Data, msgs[2])
	}
	// As an EventSource reconnects: the same request, plus the header.
	s = openSSE(t, t.Context(), http.MethodGet, e.url, http.Header{"Last-Event-Id": {msgs[0]}},
		`subscription { realTimeMessages(latest: true) { content } }`, nil)
	for _, want := range msgs[1:] {
		if m, _ := s.next(10 * time.Second); m.Event != "next" || m.ID != want {
			t.Fatalf("after Last-Event-ID: got %q id %q (%s), want %s", m.Event, m.ID, m.Data, want)
		}
	}
}
