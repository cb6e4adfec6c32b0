package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/apitest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

type env struct {
	nats     *testenv.NATS
	shutdown func() // what the server does on SIGTERM: cancel every request's context
	hub      *replay.Hub
	url      string // http://127.0.0.1:port/graphql
	base     string
}

func start(t testing.TB, cfg api.Config, hcfg replay.Config) *env {
	t.Helper()
	return startWith(t, eventstore.Config{MaxPayload: 64 << 10}, cfg, hcfg)
}

func startWith(t testing.TB, scfg eventstore.Config, cfg api.Config, hcfg replay.Config) *env {
	t.Helper()
	n := testenv.StartNATS(t)
	srv := apitest.Start(t, n.Store(scfg), cfg, hcfg)
	return &env{nats: n, hub: srv.Hub, url: srv.URL + "/graphql", base: srv.URL, shutdown: srv.Shutdown}
}

// gqlResponse is an HTTP response's body: the same shape as a WebSocket result.
type gqlResponse = wstest.Result

func (e *env) query(t *testing.T, q string, vars map[string]any) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	resp, err := http.Post(e.url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode response (status %d): %v", resp.StatusCode, err)
	}
	return r
}

func (e *env) publish(t *testing.T, topic string, data any) wstest.Event {
	t.Helper()
	r := e.query(t, `mutation($t: String!, $d: JSON!) { publish(topic: $t, data: $d) { id topic type data time } }`,
		map[string]any{"t": topic, "d": data})
	if len(r.Errors) > 0 {
		t.Fatalf("publish: %+v", r.Errors)
	}
	var ev wstest.Event
	if err := json.Unmarshal(r.Data["publish"], &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func idsOf(evs []wstest.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func codes(r gqlResponse) []string {
	var out []string
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		out = append(out, code)
	}
	return out
}

// TestReplayThenLive over both subprotocols: stored events after the
// cursor, then live ones, each exactly once and in order.
func TestReplayThenLive(t *testing.T) {
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		t.Run(proto, func(t *testing.T) {
			e := start(t, api.Config{}, replay.Config{})
			var published []wstest.Event
			for i := range 5 {
				published = append(published, e.publish(t, "orders.eu", map[string]any{"n": i}))
			}
			c := wstest.Dial(t, e.url, proto, nil)
			c.Init()
			c.Subscribe("1", wstest.EventsQuery, map[string]any{"topics": []string{"orders.*"}, "after": published[1].ID})
			got := c.Collect("1", "events", 3, 10*time.Second)
			for i := range 3 {
				published = append(published, e.publish(t, "orders.us", map[string]any{"n": 5 + i}))
			}
			got = append(got, c.Collect("1", "events", 3, 10*time.Second)...)
			if want := idsOf(published[2:]); !slices.Equal(idsOf(got), want) {
				t.Fatalf("got %v, want %v", idsOf(got), want)
			}
			if got[0].Topic != "orders.eu" || got[0].Type != "message" || string(got[0].Data) != `{"n":2}` || got[0].Time == "" {
				t.Fatalf("event fields: %+v", got[0])
			}
			// Stopping the subscription releases it on the server.
			c.Stop("1")
			testenv.Eventually(t, 5*time.Second, "the subscription to leave the hub", func() bool { return e.hub.Subscribers() == 0 })
		})
	}
}

func TestLiveOnlyAndFromStart(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	first := e.publish(t, "t", 1)
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("live", wstest.EventsQuery, map[string]any{"topics": []string{"t"}})
	c.Subscribe("all", wstest.EventsQuery, map[string]any{"topics": []string{"t"}, "after": "00000000000000000000000000"})
	testenv.Eventually(t, 5*time.Second, "both subscriptions", func() bool { return e.hub.Subscribers() == 2 })
	second := e.publish(t, "t", 2)
	got := map[string][]string{}
	for len(got["live"])+len(got["all"]) < 3 {
		m := c.Read(5 * time.Second)
		var ev wstest.Event
		_ = json.Unmarshal(wstest.Decode(t, m).Data["events"], &ev)
		got[m.ID] = append(got[m.ID], ev.ID)
	}
	if !slices.Equal(got["live"], []string{second.ID}) || !slices.Equal(got["all"], []string{first.ID, second.ID}) {
		t.Fatalf("got %v", got)
	}
}

func TestMessages(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	r := e.query(t, `mutation { publishMessage(content: "one") { id content timestamp } }`, nil)
	var first struct{ ID, Content string }
	_ = json.Unmarshal(r.Data["publishMessage"], &first)
	if first.Content != "one" || first.ID == "" {
		t.Fatalf("publishMessage: %s %+v", r.Data["publishMessage"], r.Errors)
	}
	resp, err := http.Post(e.base+"/publish-message?message=two", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /publish-message: %v %v", resp.Status, err)
	}
	var second struct{ ID, Content string }
	_ = json.NewDecoder(resp.Body).Decode(&second)
	resp.Body.Close()
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("m", `subscription($a: ID) { realTimeMessages(afterId: $a) { id content timestamp } }`, map[string]any{"a": first.ID})
	m := c.Read(5 * time.Second)
	var msg struct{ ID, Content string }
	_ = json.Unmarshal(wstest.Decode(t, m).Data["realTimeMessages"], &msg)
	if msg.ID != second.ID || msg.Content != "two" {
		t.Fatalf("realTimeMessages: %s", m.Payload)
	}
	resp, _ = http.Post(e.base+"/publish-message", "", nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("publish-message without message: %s", resp.Status)
	}
}

// TestSubscriptionErrors: a bad subscription gets an error message with
// extensions.code, never a silent start elsewhere, and the socket stays
// usable.
func TestSubscriptionErrors(t *testing.T) {
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		t.Run(proto, func(t *testing.T) {
			e := start(t, api.Config{}, replay.Config{})
			ev := e.publish(t, "t", 1)
			c := wstest.Dial(t, e.url, proto, nil)
			c.Init()
			for _, tc := range []struct {
				name string
				vars map[string]any
				code string
			}{
				{"malformed cursor", map[string]any{"topics": []string{"t"}, "after": "nope"}, "BAD_USER_INPUT"},
				{"unknown cursor", map[string]any{"topics": []string{"t"}, "after": "01KMZZZZZZZZZZZZZZZZZZZZZZ"}, "CURSOR_NOT_FOUND"},
				{"invalid topic", map[string]any{"topics": []string{"a..b"}}, "BAD_USER_INPUT"},
				{"no topics", map[string]any{"topics": []string{}}, "BAD_USER_INPUT"},
			} {
				c.Subscribe(tc.name, wstest.EventsQuery, tc.vars)
				m := c.Read(5 * time.Second)
				if m.Type != "error" || m.ID != tc.name {
					t.Fatalf("%s: got %s %s, want an error message", tc.name, m.Type, m.Payload)
				}
				if got := wstest.ErrorCodes(t, m); !slices.Equal(got, []string{tc.code}) {
					t.Fatalf("%s: codes %v, want %s (%s)", tc.name, got, tc.code, m.Payload)
				}
			}
			// The connection still works.
			c.Subscribe("ok", wstest.EventsQuery, map[string]any{"topics": []string{"t"}, "after": "00000000000000000000000000"})
			if got := c.Collect("ok", "events", 1, 5*time.Second); got[0].ID != ev.ID {
				t.Fatalf("after errors: %+v", got)
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		code        string
	}{
		{"invalid topic", `mutation { publish(topic: "a b", data: 1) { id } }`, nil, "BAD_USER_INPUT"},
		{"payload too large", `mutation($d: JSON!) { publish(topic: "t", data: $d) { id } }`, map[string]any{"d": strings.Repeat("x", 65<<10)}, "PAYLOAD_TOO_LARGE"},
		{"empty type", `mutation { publish(topic: "t", type: "", data: 1) { id } }`, nil, "BAD_USER_INPUT"},
		{"malformed id", `{ event(id: "x") { id } }`, nil, "BAD_USER_INPUT"},
		{"page too large", `{ events(topic: "t", first: 5000) { pageInfo { hasNextPage } } }`, nil, "BAD_USER_INPUT"},
		{"unknown cursor", `{ events(topic: "t", after: "01KMZZZZZZZZZZZZZZZZZZZZZZ") { pageInfo { hasNextPage } } }`, nil, "CURSOR_NOT_FOUND"},
		{"wrong argument type", `{ events(topic: 5) { pageInfo { hasNextPage } } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
		{"syntax", `{ events(`, nil, "GRAPHQL_PARSE_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := codes(e.query(t, tc.query, tc.vars)); !slices.Equal(got, []string{tc.code}) {
				t.Fatalf("codes %v, want %s", got, tc.code)
			}
		})
	}
	if r := e.query(t, `{ topics { name } }`, nil); string(r.Data["topics"]) != "[]" {
		t.Fatalf("rejected input stored something: %s", r.Data["topics"])
	}
	// A body far over the limit is refused before it is read.
	big := bytes.Repeat([]byte("x"), 1<<20)
	resp, err := http.Post(e.url, "application/json", bytes.NewReader(big))
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("huge body: %v %v", resp.Status, err)
	}
	var r gqlResponse
	_ = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if !slices.Equal(codes(r), []string{"PAYLOAD_TOO_LARGE"}) {
		t.Fatalf("huge body codes: %v", codes(r))
	}
}

func TestHistoryPages(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	var want []string
	for i := range 7 {
		want = append(want, e.publish(t, "h", i).ID)
		e.publish(t, "other", i)
	}
	var got []string
	var after any
	for page := 0; ; page++ {
		r := e.query(t, `query($a: ID) { events(topic: "h", first: 3, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"a": after})
		var conn struct {
			Edges []struct {
				Cursor string
				Node   struct{ ID string }
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
		if err := json.Unmarshal(r.Data["events"], &conn); err != nil || len(r.Errors) > 0 {
			t.Fatalf("page %d: %s %+v", page, r.Data["events"], r.Errors)
		}
		for _, edge := range conn.Edges {
			if edge.Cursor != edge.Node.ID {
				t.Fatalf("cursor %s is not the node id %s", edge.Cursor, edge.Node.ID)
			}
			got = append(got, edge.Node.ID)
		}
		if wantMore := len(got) < 7; conn.PageInfo.HasNextPage != wantMore {
			t.Fatalf("page %d: hasNextPage %v with %d of 7 read", page, conn.PageInfo.HasNextPage, len(got))
		}
		if !conn.PageInfo.HasNextPage {
			break
		}
		after = *conn.PageInfo.EndCursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages: %v, want %v", got, want)
	}
	r := e.query(t, fmt.Sprintf(`{ event(id: %q) { id topic } missing: event(id: "01KMZZZZZZZZZZZZZZZZZZZZZZ") { id } topics { name events firstId lastId } }`, want[3]), nil)
	if string(r.Data["missing"]) != "null" || !strings.Contains(string(r.Data["event"]), want[3]) {
		t.Fatalf("event lookups: %s", r.Data)
	}
	wantTopics := fmt.Sprintf(`[{"name":"h","events":7,"firstId":%q,"lastId":%q},`, want[0], want[6])
	if !strings.HasPrefix(string(r.Data["topics"]), wantTopics) {
		t.Fatalf("topics: %s", r.Data["topics"])
	}
}

func TestOrigins(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		origin  string
		ok      bool
	}{
		{nil, "", true},
		{nil, "http://localhost:3000", true},
		{nil, "https://evil.example", false},
		{[]string{"https://app.example"}, "https://app.example", true},
		{[]string{"https://app.example"}, "http://localhost:3000", false},
		{[]string{"*"}, "https://anything.example", true},
	} {
		t.Run(fmt.Sprintf("%v/%s", tc.allowed, tc.origin), func(t *testing.T) {
			e := start(t, api.Config{WebSocket: gqlws.Config{AllowedOrigins: tc.allowed}}, replay.Config{})
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, err := wstest.TryDial(e.url, wstest.TransportWS, h)
			if (err == nil) != tc.ok {
				t.Fatalf("dial with origin %q: err %v, want ok=%v", tc.origin, err, tc.ok)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

// TestSlowClient: a client that stops reading does not stall others; the
// server disconnects it, and on reconnecting with its cursor it gets every
// event.
func TestSlowClient(t *testing.T) {
	e := start(t, api.Config{WebSocket: gqlws.Config{WriteTimeout: time.Second}}, replay.Config{Buffer: 16})
	slow := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	slow.Init()
	fast := wstest.Dial(t, e.url, wstest.LegacyWS, nil)
	fast.Init()
	vars := map[string]any{"topics": []string{"big"}, "after": "00000000000000000000000000"}
	slow.Subscribe("s", wstest.EventsQuery, vars)
	fast.Subscribe("f", wstest.EventsQuery, vars)
	testenv.Eventually(t, 5*time.Second, "both subscribed", func() bool { return e.hub.Subscribers() == 2 })
	// Enough data to fill the slow client's socket buffers many times.
	const n = 400
	payload := strings.Repeat("x", 60<<10)
	fastGot := make(chan []string, 1)
	go func() { // the fast client reads while events are published
		var got []string
		for len(got) < n {
			m, err := fast.TryRead(30 * time.Second)
			if err != nil {
				break
			}
			var r wstest.Result
			var ev wstest.Event
			_ = json.Unmarshal(m.Payload, &r)
			_ = json.Unmarshal(r.Data["events"], &ev)
			got = append(got, ev.ID)
		}
		fastGot <- got
	}()
	var want []string
	for i := range n {
		want = append(want, e.publish(t, "big", map[string]any{"i": i, "pad": payload}).ID)
	}
	// The fast client gets everything while the slow one reads nothing.
	if got := <-fastGot; !slices.Equal(got, want) {
		t.Fatalf("fast client: %d of %d events, first difference at %d", len(got), n, firstDiff(got, want))
	}
	// Now read what the slow client was sent until the server cut it off.
	var got []string
	for {
		m, err := slow.TryRead(10 * time.Second)
		if err != nil {
			break
		}
		var ev wstest.Event
		_ = json.Unmarshal(wstest.Decode(t, m).Data["events"], &ev)
		got = append(got, ev.ID)
	}
	if len(got) == n {
		t.Fatal("the slow client was never disconnected; the test did not exercise a stall")
	}
	t.Logf("the slow client was cut off after %d of %d events", len(got), n)
	testenv.Eventually(t, 5*time.Second, "the slow subscription to be released", func() bool { return e.hub.Subscribers() == 1 })
	// Resume with the last id received, as a client does after any
	// disconnect: on a loaded machine the resumed client, reading 20 MB as
	// fast as it can, may be cut off by the 1 s write timeout too, and
	// resumes again. Each attempt must go on exactly where the last ended.
	for attempt := 1; len(got) < n; attempt++ {
		if attempt > 5 {
			t.Fatalf("after %d resumptions, %d of %d events", attempt-1, len(got), n)
		}
		resumed := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		resumed.Init()
		last := "00000000000000000000000000"
		if len(got) > 0 {
			last = got[len(got)-1]
		}
		resumed.Subscribe("r", wstest.EventsQuery, map[string]any{"topics": []string{"big"}, "after": last})
		for len(got) < n {
			m, err := resumed.TryRead(30 * time.Second)
			if err != nil {
				t.Logf("resumption %d cut off after %d events: %v", attempt, len(got), err)
				break
			}
			if !wstest.IsData(m) {
				t.Fatalf("resumption %d: %s %s", attempt, m.Type, m.Payload)
			}
			var ev wstest.Event
			_ = json.Unmarshal(wstest.Decode(t, m).Data["events"], &ev)
			got = append(got, ev.ID)
		}
		resumed.Conn.Close()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("slow client after resume: %d events, first difference at %d", len(got), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestDisconnectReleasesEverything: closing sockets releases every
// subscription, goroutine and JetStream consumer.
func TestDisconnectReleasesEverything(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	for i := range 200 {
		e.publish(t, "t", i)
	}
	baseConsumers := e.nats.Consumers("REWIND")
	baseGoroutines := runtime.NumGoroutine()
	var clients []*wstest.Client
	for i := range 20 {
		c := wstest.Dial(t, e.url, []string{wstest.TransportWS, wstest.LegacyWS}[i%2], nil)
		c.Init()
		c.Subscribe("1", wstest.EventsQuery, map[string]any{"topics": []string{"t"}, "after": "00000000000000000000000000"})
		c.Subscribe("2", wstest.EventsQuery, map[string]any{"topics": []string{">"}})
		clients = append(clients, c)
	}
	testenv.Eventually(t, 10*time.Second, "all subscribed", func() bool { return e.hub.Subscribers() >= 20 })
	for _, c := range clients {
		c.Conn.Close()
	}
	testenv.Eventually(t, 10*time.Second, "hub to empty", func() bool { return e.hub.Subscribers() == 0 })
	testenv.Eventually(t, 10*time.Second, "consumers back to baseline", func() bool { return e.nats.Consumers("REWIND") == baseConsumers })
	testenv.Eventually(t, 10*time.Second, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseGoroutines })
}

func TestHealthz(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	status := func() int {
		resp, err := http.Get(e.base + "/healthz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(); s != http.StatusOK {
		t.Fatalf("healthz: %d", s)
	}
	e.nats.Stop()
	testenv.Eventually(t, 10*time.Second, "healthz 503 without JetStream", func() bool { return status() == http.StatusServiceUnavailable })
	e.nats.Start()
	testenv.Eventually(t, 20*time.Second, "healthz 200 again", func() bool { return status() == http.StatusOK })
}

func TestGraphiQL(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	req, _ := http.NewRequest(http.MethodGet, e.url, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "graphiql") {
		t.Fatalf("GraphiQL page: %d %.200s", resp.StatusCode, body)
	}
	r, _ := http.Get(e.url + "?query=" + "%7Bhello%7D")
	body, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(body), "Hello from Rewind") {
		t.Fatalf("GET query: %s", body)
	}
}

// TestExpiredCursor: a cursor whose event retention removed gets
// CURSOR_EXPIRED, on a subscription and in a history query.
func TestExpiredCursor(t *testing.T) {
	e := startWith(t, eventstore.Config{MaxMsgs: 3}, api.Config{}, replay.Config{})
	first := e.publish(t, "t", 0)
	for i := range 5 {
		e.publish(t, "t", i+1)
	}
	r := e.query(t, `query($a: ID) { events(topic: "t", after: $a) { pageInfo { hasNextPage } } }`, map[string]any{"a": first.ID})
	if !slices.Equal(codes(r), []string{"CURSOR_EXPIRED"}) {
		t.Fatalf("history: codes %v", codes(r))
	}
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("x", wstest.EventsQuery, map[string]any{"topics": []string{"t"}, "after": first.ID})
	m := c.Read(5 * time.Second)
	if m.Type != "error" || !slices.Equal(wstest.ErrorCodes(t, m), []string{"CURSOR_EXPIRED"}) {
		t.Fatalf("subscription: %s %s", m.Type, m.Payload)
	}
}

func TestCount(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	// Below the floor of 100 ms: refused, and the message says the floor.
	c.Subscribe("fast", `subscription { count(target: 3, intervalMs: 99) }`, nil)
	if m := c.Read(5 * time.Second); m.Type != "error" || !slices.Equal(wstest.ErrorCodes(t, m), []string{"BAD_USER_INPUT"}) || !strings.Contains(string(m.Payload), "intervalMs 100 to") {
		t.Fatalf("intervalMs 99: %s %s", m.Type, m.Payload)
	}
	c.Subscribe("c", `subscription { count(target: 3, intervalMs: 100) }`, nil)
	var got []string
	for {
		m := c.Read(5 * time.Second)
		if m.Type == "complete" {
			break
		}
		got = append(got, string(wstest.Decode(t, m).Data["count"]))
	}
	if !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Fatalf("count: %v", got)
	}
}

// TestIdleSubscriptionsHoldOneGoroutine: a WebSocket connection whose
// subscription has caught up and waits for events costs the server one
// goroutine (its reader), not one per subscription or per timer, which is
// what keeps ten thousand idle subscribers cheap.
func TestIdleSubscriptionsHoldOneGoroutine(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	base := runtime.NumGoroutine()
	const n = 100
	clients := make([]*wstest.Client, n)
	for i := range clients {
		clients[i] = wstest.Dial(t, e.url, []string{wstest.TransportWS, wstest.LegacyWS}[i%2], nil)
		clients[i].Init()
		clients[i].Subscribe("1", wstest.EventsQuery, map[string]any{"topics": []string{"idle"}})
	}
	testenv.Eventually(t, 10*time.Second, "every subscription to be live", func() bool { return e.hub.Subscribers() == n })
	ev := e.publish(t, "idle", 1)
	for i, c := range clients {
		if got := c.Collect("1", "events", 1, 10*time.Second); got[0].ID != ev.ID {
			t.Fatalf("client %d got %s, want %s", i, got[0].ID, ev.ID)
		}
	}
	// The client side of these connections runs no goroutine of its own.
	var grown int
	testenv.Eventually(t, 10*time.Second, "delivery goroutines to end", func() bool {
		grown = runtime.NumGoroutine() - base
		return grown <= n+n/10
	})
	t.Logf("%d idle subscriptions: %d more goroutines", n, grown)
}
