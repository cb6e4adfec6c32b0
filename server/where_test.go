package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

const whereQuery = `subscription($topics: [String!]!, $after: ID, $where: Filter) {
  events(topics: $topics, afterId: $after, where: $where) { id topic type data time }
}`

// zeroID as afterId replays from the start.
const zeroID = "00000000000000000000000000"

// paidOver10 is the example: paid orders of at least 10.
var paidOver10 = map[string]any{"and": []any{
	map[string]any{"path": "status", "eq": "paid"},
	map[string]any{"path": "total", "gte": 10},
}}

// orders publishes a mix of orders and returns them with the ids of those
// paidOver10 keeps.
func orders(t *testing.T, e *env) (all []wstest.Event, paid []string) {
	for i, o := range []map[string]any{
		{"status": "paid", "total": 12},
		{"status": "open", "total": 50},
		{"status": "paid", "total": 9.99},
		{"status": "paid", "total": 10.0, "customer": map[string]any{"country": "FR"}},
		{"total": 100},
		{"status": "paid"},
	} {
		ev := e.publish(t, []string{"orders.eu", "orders.us"}[i%2], o)
		all = append(all, ev)
		if i == 0 || i == 3 {
			paid = append(paid, ev.ID)
		}
	}
	return all, paid
}

// TestWhereOverWebSocket: where replays the stored events that pass, then
// the live ones, on both subprotocols; eq: null and a literal filter in
// the document work; realTimeMessages takes where too.
func TestWhereOverWebSocket(t *testing.T) {
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		t.Run(proto, func(t *testing.T) {
			e := start(t, api.Config{}, replay.Config{})
			_, paid := orders(t, e)
			c := wstest.Dial(t, e.url, proto, nil)
			c.Init()
			c.Subscribe("1", whereQuery, map[string]any{"topics": []string{"orders.*"}, "after": zeroID, "where": paidOver10})
			if got := idsOf(c.Collect("1", "events", 2, 10*time.Second)); !slices.Equal(got, paid) {
				t.Fatalf("replayed %v, want %v", got, paid)
			}
			testenv.Eventually(t, 5*time.Second, "the subscription to follow", func() bool { return e.hub.Subscribers() == 1 })
			e.publish(t, "orders.eu", map[string]any{"status": "open", "total": 99})
			live := e.publish(t, "orders.us", map[string]any{"status": "paid", "total": 99})
			if got := c.Collect("1", "events", 1, 10*time.Second); got[0].ID != live.ID {
				t.Fatalf("live: got %s, want %s", got[0].ID, live.ID)
			}
			c.Stop("1")

			// A literal filter, with eq: null and a nested path.
			nul := e.publish(t, "orders.eu", map[string]any{"status": nil, "customer": map[string]any{"country": "FR"}})
			c.Subscribe("2", `subscription { events(topics: ["orders.>"], afterId: "00000000000000000000000000",
			  where: {and: [{path: "status", eq: null}, {path: "customer.country", in: ["FR", "DE"]}]}) { id topic type data time } }`, nil)
			if got := c.Collect("2", "events", 1, 10*time.Second); got[0].ID != nul.ID {
				t.Fatalf("eq null: got %s, want %s", got[0].ID, nul.ID)
			}
			c.Stop("2")

			var msgs []string
			for _, s := range []string{"hello", "spam", "world"} {
				r := e.query(t, `mutation($c: String!) { publishMessage(content: $c) { id } }`, map[string]any{"c": s})
				var m struct{ ID string }
				_ = json.Unmarshal(r.Data["publishMessage"], &m)
				if s != "spam" {
					msgs = append(msgs, m.ID)
				}
			}
			c.Subscribe("3", `subscription { realTimeMessages(afterId: "00000000000000000000000000", where: {path: "content", ne: "spam"}) { id content } }`, nil)
			if got := idsOf(c.Collect("3", "realTimeMessages", 2, 10*time.Second)); !slices.Equal(got, msgs) {
				t.Fatalf("realTimeMessages with where: %v, want %v", got, msgs)
			}
		})
	}
}

// TestBadWhere: a filter that does not compile is BAD_USER_INPUT with the
// reason, over WebSocket and HTTP, and nothing runs.
func TestBadWhere(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	deep := map[string]any{"path": "a", "eq": 1}
	for range 8 {
		deep = map[string]any{"not": deep}
	}
	many := make([]any, 101)
	for i := range many {
		many[i] = i
	}
	cases := []struct {
		name  string
		where map[string]any
		says  string
	}{
		{"no operator", map[string]any{"path": "a"}, `path "a" needs one operator`},
		{"two operators", map[string]any{"path": "a", "gt": 1, "lt": 5}, "has gt and lt: one operator per filter (combine them with and)"},
		{"no path", map[string]any{"eq": 1}, "needs a path"},
		{"and beside a path", map[string]any{"path": "a", "and": []any{map[string]any{"path": "b", "exists": true}}}, "and takes no path"},
		{"empty or", map[string]any{"or": []any{}}, "or needs at least one filter"},
		{"bad path", map[string]any{"path": "a..b", "exists": true}, "empty segment"},
		{"too deep", deep, "nest 8 deep at most"},
		{"in too long", map[string]any{"path": "a", "in": many}, "in lists 100 values at most"},
		{"nested reason", map[string]any{"or": []any{map[string]any{"path": "a", "eq": 1}, map[string]any{"not": map[string]any{"path": ""}}}}, "where: invalid filter: or[1].not: a filter needs a path"},
	}
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	for _, tc := range cases {
		c.Subscribe(tc.name, whereQuery, map[string]any{"topics": []string{"t"}, "where": tc.where})
		m := c.Read(5 * time.Second)
		if m.Type != "error" || !slices.Equal(wstest.ErrorCodes(t, m), []string{"BAD_USER_INPUT"}) || !strings.Contains(strings.ReplaceAll(string(m.Payload), `\"`, `"`), tc.says) {
			t.Errorf("%s: got %s %s, want BAD_USER_INPUT saying %q", tc.name, m.Type, m.Payload, tc.says)
		}
		r := e.query(t, `query($w: Filter) { events(topic: "t", where: $w) { edges { cursor } } }`, map[string]any{"w": tc.where})
		if !slices.Equal(codes(r), []string{"BAD_USER_INPUT"}) || !strings.Contains(r.Errors[0].Message, tc.says) {
			t.Errorf("%s in a query: %+v", tc.name, r.Errors)
		}
	}
	// gqlgen refuses what the input type does not allow.
	r := e.query(t, `{ events(topic: "t", where: {path: "a", gt: "2026-01-01T00:00:00Z"}) { edges { cursor } } }`, nil)
	if len(r.Errors) == 0 || !slices.Contains([]string{"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, codes(r)[0]) {
		t.Errorf("a string bound: %+v", r.Errors)
	}
	// Hostile sizes: nesting thousands deep, in a literal and in variables,
	// and an in of 20,000 values, are refused with a code, and the
	// server carries on.
	hostile := map[string]any{"path": "a", "eq": 1}
	literal := `{path: "a", eq: 1}`
	for range 3000 {
		hostile = map[string]any{"not": hostile}
		literal = "{not: " + literal + "}"
	}
	huge := make([]any, 20_000)
	for i := range huge {
		huge[i] = i
	}
	for name, r := range map[string]gqlResponse{
		"deep variables": e.query(t, `query($w: Filter) { events(topic: "t", where: $w) { edges { cursor } } }`, map[string]any{"w": hostile}),
		"deep literal":   e.query(t, `{ events(topic: "t", where: `+literal+`) { edges { cursor } } }`, nil),
		"huge in":        e.query(t, `query($w: Filter) { events(topic: "t", where: $w) { edges { cursor } } }`, map[string]any{"w": map[string]any{"path": "a", "in": huge}}),
	} {
		if len(r.Errors) == 0 || codes(r)[0] == "" || codes(r)[0] == "INTERNAL_SERVER_ERROR" {
			t.Errorf("%s: %+v", name, r.Errors)
		}
		t.Logf("%s: %v %.100s", name, codes(r), r.Errors[0].Message)
	}
	if r := e.query(t, `{ hello }`, nil); len(r.Errors) > 0 {
		t.Fatalf("after hostile filters: %+v", r.Errors)
	}
	if got := e.hub.Subscribers(); got != 0 {
		t.Fatalf("%d subscriptions run after bad filters", got)
	}
}

// TestWhereOverSSE: where over SSE, and an EventSource's resume with
// Last-Event-ID and the same where, which continues exactly after it.
func TestWhereOverSSE(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	_, paid := orders(t, e)
	vars := map[string]any{"topics": []string{"orders.*"}, "after": zeroID, "where": paidOver10}
	s := openSSE(t, t.Context(), http.MethodPost, e.url, nil, whereQuery, vars)
	if got := idsOf(s.events("events", 2)); !slices.Equal(got, paid) {
		t.Fatalf("replayed over SSE %v, want %v", got, paid)
	}
	e.publish(t, "orders.eu", map[string]any{"status": "paid", "total": 1})
	live := e.publish(t, "orders.eu", map[string]any{"status": "paid", "total": 11})
	if got := idsOf(s.events("events", 1)); got[0] != live.ID {
		t.Fatalf("live over SSE: %v, want %s", got, live.ID)
	}
	// Reconnect after the first paid order: the second, then the live one.
	where, _ := json.Marshal(paidOver10)
	q := fmt.Sprintf(`subscription { events(topics: ["orders.*"], where: %s) { id topic type data time } }`, graphQLLiteral(string(where)))
	s = openSSE(t, t.Context(), http.MethodGet, e.url, http.Header{"Last-Event-Id": {paid[0]}}, q, nil)
	if got, want := idsOf(s.events("events", 2)), []string{paid[1], live.ID}; !slices.Equal(got, want) {
		t.Fatalf("resumed over SSE: %v, want %v", got, want)
	}
}

// graphQLLiteral writes JSON object text as a GraphQL input literal: keys
// unquoted.
func graphQLLiteral(js string) string {
	for _, k := range []string{"and", "or", "not", "path", "eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"} {
		js = strings.ReplaceAll(js, `"`+k+`":`, k+":")
	}
	return js
}

// TestWhereHistory: Query.events with where pages through the matches:
// first counts matches, and a page scans at most 10,000 events, ending
// with hasNextPage and the last scanned event as endCursor (a page may be
// empty); a full page's endCursor is its last edge's.
func TestWhereHistory(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	store := e.nats.Store(eventstore.Config{})
	var ids []string // event i's id
	for start := 0; start < 10_500; start += 1000 {
		batch := make([]eventstore.Event, 1000)
		for j := range batch {
			batch[j] = eventstore.Event{Topic: "h", Type: "n", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, start+j))}
		}
		stored, err := store.AppendBatch(t.Context(), batch[:min(1000, 10_500-start)])
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range stored {
			ids = append(ids, ev.ID.String())
		}
	}
	tail := map[string]any{"path": "i", "gte": 10_497}
	sparse := map[string]any{"or": []any{map[string]any{"path": "i", "eq": 7}, tail}}
	type page struct {
		edges   []int // events' i
		hasNext bool
		end     int // endCursor's event
	}
	for _, tc := range []struct {
		name  string
		where map[string]any
		first int
		pages []page
	}{
		{"sparse", sparse, 4, []page{{[]int{7}, true, 9999}, {[]int{10497, 10498, 10499}, false, 10499}}},
		{"empty first page", tail, 4, []page{{nil, true, 9999}, {[]int{10497, 10498, 10499}, false, 10499}}},
		{"full pages", sparse, 1, []page{{[]int{7}, true, 9999}, {[]int{10497}, true, 10497}, {[]int{10498}, true, 10498}, {[]int{10499}, false, 10499}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var after any
			for n, want := range tc.pages {
				r := e.query(t, `query($a: ID, $w: Filter, $n: Int) { events(topic: "h", first: $n, after: $a, where: $w) { edges { cursor } pageInfo { hasNextPage endCursor } } }`,
					map[string]any{"a": after, "w": tc.where, "n": tc.first})
				var conn struct {
					Edges    []struct{ Cursor string }
					PageInfo struct {
						HasNextPage bool
						EndCursor   *string
					}
				}
				if err := json.Unmarshal(r.Data["events"], &conn); err != nil || len(r.Errors) > 0 {
					t.Fatalf("page %d: %s %+v", n, r.Data["events"], r.Errors)
				}
				var got, wantIDs []string
				for _, edge := range conn.Edges {
					got = append(got, edge.Cursor)
				}
				for _, i := range want.edges {
					wantIDs = append(wantIDs, ids[i])
				}
				if !slices.Equal(got, wantIDs) || conn.PageInfo.HasNextPage != want.hasNext || conn.PageInfo.EndCursor == nil || *conn.PageInfo.EndCursor != ids[want.end] {
					t.Fatalf("page %d: %d edges, hasNextPage %v, endCursor %v; want events %v, %v, event %d's id", n, len(got), conn.PageInfo.HasNextPage, conn.PageInfo.EndCursor, want.edges, want.hasNext, want.end)
				}
				after = *conn.PageInfo.EndCursor
			}
		})
	}
}
