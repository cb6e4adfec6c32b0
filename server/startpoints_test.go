package server_test

import (
	"encoding/json"
	"fmt"
	"io"
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

const startQuery = `subscription($topics: [String!]!, $after: ID, $types: [String!], $last: Int, $since: Time) {
  events(topics: $topics, afterId: $after, types: $types, last: $last, since: $since) { id topic type live }
}`

type liveEvent struct {
	ID, Topic, Type string
	Live            bool
}

func (e *env) publishTyped(t *testing.T, topic, typ string) string {
	t.Helper()
	r := e.query(t, `mutation($t: String!, $y: String!) { publish(topic: $t, type: $y, data: 1) { id } }`, map[string]any{"t": topic, "y": typ})
	var ev struct{ ID string }
	if err := json.Unmarshal(r.Data["publish"], &ev); err != nil || ev.ID == "" {
		t.Fatalf("publish: %+v", r)
	}
	return ev.ID
}

// TestStartPoints: afterId, last and since, with wildcards and types.
func TestStartPoints(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	type stored struct{ id, topic, typ string }
	var all []stored
	before := time.Now().Add(-time.Second)
	for i := range 12 {
		topic := []string{"a.x", "a.y", "b"}[i%3]
		typ := []string{"t1", "t2"}[i%2]
		all = append(all, stored{e.publishTyped(t, topic, typ), topic, typ})
	}
	after := time.Now().Add(time.Second)
	pick := func(match func(stored) bool, lastN int) []string {
		var out []string
		for _, s := range all {
			if match(s) {
				out = append(out, s.id)
			}
		}
		if lastN > 0 && len(out) > lastN {
			out = out[len(out)-lastN:]
		}
		return out
	}
	aStar := func(s stored) bool { return s.topic == "a.x" || s.topic == "a.y" }
	mid := all[6].id
	for _, tc := range []struct {
		name string
		vars map[string]any
		want func() []string // from the events stored when the case runs
	}{
		{"last 3 of a.*", map[string]any{"topics": []string{"a.*"}, "last": 3}, func() []string { return pick(aStar, 3) }},
		{"last 2 of type t1 on >", map[string]any{"topics": []string{">"}, "types": []string{"t1"}, "last": 2}, func() []string { return pick(func(s stored) bool { return s.typ == "t1" }, 2) }},
		{"last 1 on b", map[string]any{"topics": []string{"b"}, "last": 1}, func() []string { return pick(func(s stored) bool { return s.topic == "b" }, 1) }},
		{"last beyond the history", map[string]any{"topics": []string{"a.*"}, "last": 1000}, func() []string { return pick(aStar, 0) }},
		{"since before the first", map[string]any{"topics": []string{">"}, "since": before.Format(time.RFC3339Nano)}, func() []string { return pick(func(stored) bool { return true }, 0) }},
		{"since after the last", map[string]any{"topics": []string{">"}, "since": after.Format(time.RFC3339Nano)}, func() []string { return nil }},
		{"since a duration ago", map[string]any{"topics": []string{">"}, "since": "1h"}, func() []string { return pick(func(stored) bool { return true }, 0) }},
		{"afterId", map[string]any{"topics": []string{"a.*"}, "after": mid}, func() []string { return pick(func(s stored) bool { return aStar(s) && s.id > mid }, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.Eventually(t, 5*time.Second, "the last case's subscription to end", func() bool { return e.hub.Subscribers() == 0 })
			c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
			c.Init()
			c.Subscribe("s", startQuery, tc.vars)
			want := tc.want()
			if got := readReplayed(t, c, len(want)); !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			// Then live: once the subscription follows the hub, a new
			// matching event arrives marked live.
			testenv.Eventually(t, 5*time.Second, "the subscription to follow", func() bool { return e.hub.Subscribers() == 1 })
			topics := tc.vars["topics"].([]string)
			topic := map[string]string{"a.*": "a.x", ">": "a.x", "b": "b"}[topics[0]]
			typ := "t1"
			id := e.publishTyped(t, topic, typ)
			all = append(all, stored{id, topic, typ})
			m := c.Read(5 * time.Second)
			var r struct{ Data struct{ Events liveEvent } }
			_ = json.Unmarshal(m.Payload, &r)
			if r.Data.Events.ID != id || !r.Data.Events.Live {
				t.Fatalf("live event: %s", m.Payload)
			}
		})
	}
	for _, tc := range []struct {
		name string
		vars map[string]any
	}{
		{"afterId and last", map[string]any{"topics": []string{"b"}, "after": all[0].id, "last": 2}},
		{"last and since", map[string]any{"topics": []string{"b"}, "last": 2, "since": before.Format(time.RFC3339)}},
		{"last zero", map[string]any{"topics": []string{"b"}, "last": 0}},
		{"last too large", map[string]any{"topics": []string{"b"}, "last": 1_000_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
			c.Init()
			c.Subscribe("s", startQuery, tc.vars)
			m := c.Read(5 * time.Second)
			if m.Type != "error" || !slices.Equal(wstest.ErrorCodes(t, m), []string{"BAD_USER_INPUT"}) {
				t.Fatalf("got %s %s", m.Type, m.Payload)
			}
		})
	}
}

// TestCaughtUpSignal: under concurrent publishing, live turns true exactly
// once, after the last replayed event and before the first live one, and
// the sequence has no gap or duplicate.
func TestCaughtUpSignal(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	var want []string
	for i := range 200 {
		want = append(want, e.publish(t, "t", i).ID)
	}
	done := make(chan []string)
	go func() { // keeps publishing while the subscriber replays
		var ids []string
		for i := range 200 {
			ids = append(ids, publishID(e, i))
		}
		done <- ids
	}()
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("s", startQuery, map[string]any{"topics": []string{"t"}, "after": "00000000000000000000000000"})
	more := <-done
	want = append(want, more...)
	var got []liveEvent
	for len(got) < len(want) {
		m := c.Read(10 * time.Second)
		var r struct{ Data struct{ Events liveEvent } }
		if err := json.Unmarshal(m.Payload, &r); err != nil || m.Type != "next" {
			t.Fatalf("%s %s", m.Type, m.Payload)
		}
		got = append(got, r.Data.Events)
	}
	var ids []string
	switches := 0
	for i, ev := range got {
		ids = append(ids, ev.ID)
		if i > 0 && ev.Live != got[i-1].Live {
			switches++
			if !ev.Live {
				t.Fatalf("event %d went back from live to replayed", i)
			}
		}
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("got %d events, not exactly the %d published", len(ids), len(want))
	}
	// The signal may come at the very end if replay caught every event;
	// publish one more so a live one certainly follows.
	last := e.publish(t, "t", 999).ID
	m := c.Read(10 * time.Second)
	var r struct{ Data struct{ Events liveEvent } }
	_ = json.Unmarshal(m.Payload, &r)
	if r.Data.Events.ID != last || !r.Data.Events.Live {
		t.Fatalf("the event after catching up: %s", m.Payload)
	}
	if !got[0].Live && switches+boolToInt(!got[len(got)-1].Live) != 1 {
		t.Fatalf("live switched %d times", switches)
	}
	testenv.Eventually(t, 5*time.Second, "subscription", func() bool { return e.hub.Subscribers() == 1 })
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// publishID publishes from a goroutine that may not fail the test.
func publishID(e *env, i int) string {
	body := fmt.Sprintf(`{"query":"mutation { publish(topic: \"t\", data: %d) { id } }"}`, i)
	resp, err := postRaw(e.url, body)
	if err != nil {
		return "error: " + err.Error()
	}
	var r struct {
		Data struct{ Publish struct{ ID string } }
	}
	_ = json.Unmarshal(resp, &r)
	return r.Data.Publish.ID
}

func postRaw(url, body string) ([]byte, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// readReplayed reads n events of subscription "s" and returns their ids,
// failing on anything else and on an event marked live: they are replayed.
func readReplayed(t *testing.T, c *wstest.Client, n int) []string {
	t.Helper()
	var got []string
	for range n {
		m := c.Read(5 * time.Second)
		var r struct{ Data struct{ Events liveEvent } }
		if err := json.Unmarshal(m.Payload, &r); err != nil || m.Type != "next" {
			t.Fatalf("%s %s", m.Type, m.Payload)
		}
		if r.Data.Events.Live {
			t.Fatalf("a replayed event is marked live: %+v", r.Data.Events)
		}
		got = append(got, r.Data.Events.ID)
	}
	return got
}

// TestSinceForms: since takes what replayctl --since takes (an RFC 3339
// time, a date, a duration before now), in the query's text as in its
// variables, on Rewind's fields and typed ones; anything else is refused
// with the forms it takes.
func TestSinceForms(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	id := e.publishTyped(t, "orders.eu", "created")
	for _, q := range []string{
		`subscription { events(topics: ["orders.*"], since: "10m") { id } }`,
		`subscription { events(topics: ["orders.*"], since: "2000-01-01") { id } }`,
	} {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		c.Init()
		c.Subscribe("s", q, nil)
		if got := readReplayed(t, c, 1); !slices.Equal(got, []string{id}) {
			t.Errorf("%s: got %v, want %s", q, got, id)
		}
	}
	for _, tc := range []struct {
		query string
		vars  map[string]any
	}{
		{`subscription { events(topics: ["orders.*"], since: "yesterday") { id } }`, nil},
		{startQuery, map[string]any{"topics": []string{"orders.*"}, "since": "-10m"}},
	} {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		c.Init()
		c.Subscribe("s", tc.query, tc.vars)
		m := c.Read(5 * time.Second)
		if m.Type != "error" || !slices.Equal(wstest.ErrorCodes(t, m), []string{"BAD_USER_INPUT"}) ||
			!strings.Contains(string(m.Payload), "use an RFC 3339 time such as 2026-12-07T10:00:00Z, a date (2026-12-07, UTC), or a duration before now such as 10m") {
			t.Errorf("%s %v: got %s %s", tc.query, tc.vars, m.Type, m.Payload)
		}
	}

	typed := startTyped(t, api.Config{})
	placed := typed.placeOrder(t, "orders.eu", "o-1", 1)
	c := wstest.Dial(t, typed.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("s", `subscription { orderPlaced(since: "10m") { id } }`, nil)
	if got := typedIDs(collectTyped(t, c, "s", "orderPlaced", 1)); !slices.Equal(got, []string{placed.ID}) {
		t.Errorf("orderPlaced(since: \"10m\"): got %v, want %s", got, placed.ID)
	}
	c.Subscribe("bad", `subscription { orderPlaced(since: "soon") { id } }`, nil)
	if m := c.Read(5 * time.Second); m.Type != "error" || !strings.Contains(string(m.Payload), "a duration before now such as 10m") {
		t.Errorf("orderPlaced(since: \"soon\"): got %s %s", m.Type, m.Payload)
	}
}
