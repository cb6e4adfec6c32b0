package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// The typed API end to end, with the example schema (examples/schema).

func startTyped(t *testing.T, cfg api.Config) *env {
	t.Helper()
	s, err := eventschema.Load("../examples/schema/orders.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Events = s
	// The store is opened here, so it takes the check itself.
	return startWith(t, eventstore.Config{MaxPayload: 64 << 10, Check: s.Check}, cfg, replay.Config{})
}

const placeOrder = `mutation($t: String!, $d: OrderPlacedInput!, $k: String) {
  publishOrderPlaced(topic: $t, data: $d, idempotencyKey: $k) { id topic time live data { orderId total lines { sku qty } } }
}`

// typedEvent is the envelope of a typed event as tests select it.
type typedEvent struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Time  string          `json:"time"`
	Live  bool            `json:"live"`
	Data  json.RawMessage `json:"data"`
}

func (e *env) placeOrder(t *testing.T, topic, orderID string, qty int) typedEvent {
	t.Helper()
	r := e.query(t, placeOrder, map[string]any{"t": topic, "d": map[string]any{
		"orderId": orderID, "total": 12.5, "lines": []any{map[string]any{"sku": "A-1", "qty": qty}},
	}})
	if len(r.Errors) > 0 {
		t.Fatalf("publishOrderPlaced: %+v", r.Errors)
	}
	var ev typedEvent
	if err := json.Unmarshal(r.Data["publishOrderPlaced"], &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func typedIDs(evs []typedEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// collectTyped reads n results of operation id, field field.
func collectTyped(t *testing.T, c *wstest.Client, id, field string, n int) []typedEvent {
	t.Helper()
	var out []typedEvent
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n {
		m := c.Read(time.Until(deadline))
		if m.ID != id {
			continue
		}
		if !wstest.IsData(m) {
			t.Fatalf("after %d of %d: %s %s", len(out), n, m.Type, m.Payload)
		}
		r := wstest.Decode(t, m)
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", m.Payload)
		}
		var ev typedEvent
		if err := json.Unmarshal(r.Data[field], &ev); err != nil {
			t.Fatalf("%s: %v", m.Payload, err)
		}
		out = append(out, ev)
	}
	return out
}

// TestTypedPublishAndHistory: publishT stores the data as its JSON
// object, in the input type's field order, and Query.t pages it.
func TestTypedPublishAndHistory(t *testing.T) {
	e := startTyped(t, api.Config{})
	a := e.placeOrder(t, "orders.eu", "o-1", 2)
	if a.Topic != "orders.eu" || a.Live || a.Time == "" || string(a.Data) != `{"orderId":"o-1","total":12.5,"lines":[{"sku":"A-1","qty":2}]}` {
		t.Fatalf("publishOrderPlaced returned %+v (data %s)", a, a.Data)
	}
	// The generic API sees the same event, as stored.
	r := e.query(t, `{ events(topic: "orders.eu") { edges { node { id type data } } } }`, nil)
	if got := string(r.Data["events"]); !strings.Contains(got, `"type":"placed","data":{"orderId":"o-1","total":12.5,"lines":[{"sku":"A-1","qty":2}]}`) {
		t.Fatalf("events: %s %+v", got, r.Errors)
	}
	b := e.placeOrder(t, "orders.us", "o-2", 3)
	e.publish(t, "orders.eu", map[string]any{"other": true}) // type message: not an OrderPlaced
	r = e.query(t, `{ orderPlaced(first: 1) { edges { cursor node { id data { orderId } } } pageInfo { hasNextPage endCursor } } }`, nil)
	want := `{"edges":[{"cursor":"` + a.ID + `","node":{"id":"` + a.ID + `","data":{"orderId":"o-1"}}}],"pageInfo":{"hasNextPage":true,"endCursor":"` + a.ID + `"}}`
	if got := string(r.Data["orderPlaced"]); got != want || len(r.Errors) > 0 {
		t.Fatalf("orderPlaced page 1: %s %+v\nwant %s", got, r.Errors, want)
	}
	r = e.query(t, `query($after: ID) { orderPlaced(after: $after) { edges { node { id } } pageInfo { hasNextPage } } }`, map[string]any{"after": a.ID})
	if got := string(r.Data["orderPlaced"]); got != `{"edges":[{"node":{"id":"`+b.ID+`"}}],"pageInfo":{"hasNextPage":false}}` {
		t.Fatalf("orderPlaced page 2: %s %+v", got, r.Errors)
	}
	// A topic narrows the declared pattern.
	r = e.query(t, `{ orderPlaced(topic: "orders.us") { edges { node { topic } } } }`, nil)
	if got := string(r.Data["orderPlaced"]); got != `{"edges":[{"node":{"topic":"orders.us"}}]}` {
		t.Fatalf("orderPlaced on orders.us: %s %+v", got, r.Errors)
	}
	// The union holds both members, with __typename and fragments.
	r = e.query(t, `{ orderEvent { edges { node { data { __typename ... on OrderPlaced { orderId } } } } } }`, nil)
	if got := string(r.Data["orderEvent"]); got != `{"edges":[{"node":{"data":{"__typename":"OrderPlaced","orderId":"o-1"}}},{"node":{"data":{"__typename":"OrderPlaced","orderId":"o-2"}}}]}` {
		t.Fatalf("orderEvent: %s %+v", got, r.Errors)
	}
}

// TestTypedMixedDocument: a document may hold typed and generic root
// fields; each is answered in document order.
func TestTypedMixedDocument(t *testing.T) {
	e := startTyped(t, api.Config{})
	a := e.placeOrder(t, "orders.eu", "o-1", 2)
	r := e.query(t, `query { hello first: orderPlaced { edges { node { id } } } event(id: "`+a.ID+`") { type } __typename }`, nil)
	var keys []string
	for k := range r.Data {
		keys = append(keys, k)
	}
	if len(r.Errors) > 0 || string(r.Data["hello"]) != `"Hello from Rewind"` || string(r.Data["event"]) != `{"type":"placed"}` ||
		string(r.Data["first"]) != `{"edges":[{"node":{"id":"`+a.ID+`"}}]}` || string(r.Data["__typename"]) != `"Query"` {
		t.Fatalf("mixed query: %v %+v", r.Data, r.Errors)
	}
	// A mutation document appends in document order, typed or not.
	r = e.query(t, `mutation {
	  a: publish(topic: "orders.eu", data: 1) { id }
	  b: publishOrderShipped(topic: "orders.eu", data: {orderId: "o-1", carrier: "DHL"}) { id data { carrier } }
	  c: publishMessage(content: "hi") { id }
	}`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("mixed mutation: %+v", r.Errors)
	}
	var ids []string
	for _, k := range []string{"a", "b", "c"} {
		var v struct{ ID string }
		if err := json.Unmarshal(r.Data[k], &v); err != nil || v.ID == "" {
			t.Fatalf("%s: %s", k, r.Data[k])
		}
		ids = append(ids, v.ID)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("appended out of document order: %v", ids)
	}
}

// TestTypedBadInput: what the typed fields refuse, with the code, and
// that a refused publish stores nothing.
func TestTypedBadInput(t *testing.T) {
	e := startTyped(t, api.Config{})
	cases := []struct {
		name, query string
		vars        map[string]any
		code        string
	}{
		{"publish outside the declared topics", `mutation { publishOrderPlaced(topic: "payments.eu", data: {orderId: "1", total: 1, lines: []}) { id } }`, nil, "BAD_USER_INPUT"},
		{"data of the wrong type", placeOrder, map[string]any{"t": "orders.eu", "d": map[string]any{"orderId": "1", "total": 1, "lines": []any{map[string]any{"sku": "A", "qty": "two"}}}}, "GRAPHQL_VALIDATION_FAILED"},
		{"a missing non-null field", `mutation { publishOrderPlaced(topic: "orders.eu", data: {orderId: "1", lines: []}) { id } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
		{"a history topic wider than declared", `{ orderPlaced(topic: "orders.>") { edges { cursor } } }`, nil, "BAD_USER_INPUT"},
		{"a history topic disjoint from the declaration", `{ orderPlaced(topic: "payments.eu") { edges { cursor } } }`, nil, "BAD_USER_INPUT"},
		{"a page too large", `{ orderPlaced(first: 5000) { edges { cursor } } }`, nil, "BAD_USER_INPUT"},
		{"an unknown cursor", `{ orderPlaced(after: "01ARZ3NDEKTSV4RRFFQ69G5FAV") { edges { cursor } } }`, nil, "CURSOR_NOT_FOUND"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.query(t, c.query, c.vars)
			if got := codes(r); !slices.Contains(got, c.code) {
				t.Fatalf("codes %v (%+v), want %s", got, r.Errors, c.code)
			}
		})
	}
	r := e.query(t, `{ events(topic: ">") { edges { cursor } } }`, nil)
	if got := string(r.Data["events"]); got != `{"edges":[]}` {
		t.Fatalf("a refused publish stored something: %s", got)
	}
	// The generic publish is checked against the declaration too.
	r = e.query(t, `mutation { publish(topic: "orders.eu", type: "placed", data: {orderId: "1", total: 1, lines: [{sku: "A", qty: "two"}]}) { id } }`, nil)
	if got := codes(r); !slices.Equal(got, []string{"BAD_USER_INPUT"}) || !strings.Contains(r.Errors[0].Message, "lines[0].qty") {
		t.Fatalf("generic publish of bad data: %+v", r.Errors)
	}
}

// TestTypedSubscription over both WebSocket subprotocols and SSE: stored
// events after the cursor, then live ones, each exactly once, typed, with
// the caught-up live flag; the union with fragments.
func TestTypedSubscription(t *testing.T) {
	e := startTyped(t, api.Config{})
	var placed []typedEvent
	for i := range 3 {
		placed = append(placed, e.placeOrder(t, "orders.eu", "o-"+string(rune('0'+i)), i+1))
	}
	const sub = `subscription($after: ID, $topics: [String!]) {
	  orderPlaced(afterId: $after, topics: $topics) { id live data { orderId lines { qty } } }
	}`
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		t.Run(proto, func(t *testing.T) {
			c := wstest.Dial(t, e.url, proto, nil)
			c.Init()
			c.Subscribe("1", sub, map[string]any{"after": placed[0].ID})
			got := collectTyped(t, c, "1", "orderPlaced", len(placed)-1)
			live := e.placeOrder(t, "orders.us", "o-live", 9)
			e.publish(t, "orders.us", "untyped") // not an OrderPlaced: not delivered
			got = append(got, collectTyped(t, c, "1", "orderPlaced", 1)...)
			want := append(typedIDs(placed[1:]), live.ID)
			placed = append(placed, live)
			if !slices.Equal(typedIDs(got), want) {
				t.Fatalf("got %v, want %v", typedIDs(got), want)
			}
			// The event published after the subscription started came
			// live. (Stored ones may too, if the hub had not seen them
			// when it started: live says how each was delivered.)
			if !got[len(got)-1].Live || string(got[len(got)-1].Data) != `{"orderId":"o-live","lines":[{"qty":9}]}` {
				t.Fatalf("live flag or data: %+v", got)
			}
		})
	}
	t.Run("sse", func(t *testing.T) {
		s := openSSE(t, t.Context(), http.MethodPost, e.url, nil, sub, map[string]any{"after": placed[len(placed)-2].ID, "topics": []string{"orders.us"}})
		m, _ := s.next(10 * time.Second)
		if m.Event != "next" || m.ID != placed[len(placed)-1].ID || !strings.Contains(m.Data, `"orderId":"o-live"`) {
			t.Fatalf("got %+v, want the last event with its id", m)
		}
	})
	t.Run("union", func(t *testing.T) {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		c.Init()
		c.Subscribe("u", `subscription($after: ID) { orderEvent(afterId: $after) { id data { __typename ...Placed ... on OrderShipped { carrier } } } }
		fragment Placed on OrderPlaced { orderId }`, map[string]any{"after": placed[len(placed)-1].ID})
		r := e.query(t, `mutation { publishOrderShipped(topic: "orders.eu", data: {orderId: "o-1", carrier: "DHL"}) { id } }`, nil)
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		e.placeOrder(t, "orders.eu", "o-9", 1)
		got := collectTyped(t, c, "u", "orderEvent", 2)
		if string(got[0].Data) != `{"__typename":"OrderShipped","carrier":"DHL"}` || string(got[1].Data) != `{"__typename":"OrderPlaced","orderId":"o-9"}` {
			t.Fatalf("union data: %s, %s", got[0].Data, got[1].Data)
		}
	})
}

// TestTypedSubscriptionRefusals: topics wider than or disjoint from the
// declaration, and two start points, are BAD_USER_INPUT.
func TestTypedSubscriptionRefusals(t *testing.T) {
	e := startTyped(t, api.Config{})
	for _, q := range []string{
		`subscription { orderPlaced(topics: ["orders.>"]) { id } }`,
		`subscription { orderPlaced(topics: [">"]) { id } }`,
		`subscription { orderPlaced(topics: ["payments.*"]) { id } }`,
		`subscription { orderPlaced(topics: []) { id } }`,
		`subscription { orderPlaced(last: 1, afterId: "00000000000000000000000000") { id } }`,
	} {
		c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		c.Init()
		c.Subscribe("1", q, nil)
		m := c.Read(10 * time.Second)
		if got := wstest.ErrorCodes(t, m); !slices.Equal(got, []string{"BAD_USER_INPUT"}) {
			t.Errorf("%s: got %s %s, want BAD_USER_INPUT", q, m.Type, m.Payload)
		}
	}
}

// TestTypedIntrospection: the typed types and fields are in the schema a
// client introspects, and the base API is unchanged beside them.
func TestTypedIntrospection(t *testing.T) {
	e := startTyped(t, api.Config{})
	r := e.query(t, `{ __type(name: "OrderPlacedEvent") { fields { name type { kind ofType { name } } } }
	  input: __type(name: "OrderPlacedInput") { inputFields { name } }
	  sub: __type(name: "Subscription") { fields { name } } }`, nil)
	for k, want := range map[string]string{
		"__type": `{"name":"data","type":{"kind":"NON_NULL","ofType":{"name":"OrderPlaced"}}}`,
		"input":  `{"name":"lines"}`,
		"sub":    `{"name":"orderEvent"}`,
	} {
		if !strings.Contains(string(r.Data[k]), want) {
			t.Errorf("%s: %s lacks %s", k, r.Data[k], want)
		}
	}
	if !strings.Contains(string(r.Data["sub"]), `{"name":"events"}`) {
		t.Errorf("Subscription lost events: %s", r.Data["sub"])
	}
}

// TestTypedShapeMismatch: events stored before the schema declared their
// type (here: stored unchecked) that lack a non-null field, or hold a
// value of another type, are field errors with EVENT_SHAPE_MISMATCH, the
// path and the event's id, nulled as the spec propagates, and delivery
// goes on with the next event.
func TestTypedShapeMismatch(t *testing.T) {
	s, err := eventschema.Load("../examples/schema/orders.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	// A store that checks nothing, as one holding events older than the
	// schema; the server still serves the typed API.
	e := startWith(t, eventstore.Config{MaxPayload: 64 << 10, Check: func(eventstore.Event) error { return nil }}, api.Config{Events: s}, replay.Config{})
	old := e.query(t, `mutation { publish(topic: "orders.eu", type: "shipped", data: {orderId: "o-1"}) { id } }`, nil)
	wrong := e.query(t, `mutation { publish(topic: "orders.eu", type: "shipped", data: {orderId: "o-2", carrier: "DHL", at: 7}) { id } }`, nil)
	if len(old.Errors)+len(wrong.Errors) > 0 {
		t.Fatalf("publish: %+v %+v", old.Errors, wrong.Errors)
	}
	var oldEv, wrongEv struct{ ID string }
	_ = json.Unmarshal(old.Data["publish"], &oldEv)
	_ = json.Unmarshal(wrong.Data["publish"], &wrongEv)
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("1", `subscription { shipped: orderShipped(afterId: "00000000000000000000000000") { id data { orderId carrier at } } }`, nil)

	m := c.Read(10 * time.Second)
	r := wstest.Decode(t, m)
	if m.Type != "next" || string(r.Data["shipped"]) != "null" && r.Data != nil || len(r.Errors) != 1 {
		t.Fatalf("the old event: %s %s", m.Type, m.Payload)
	}
	if x := r.Errors[0].Extensions; x["code"] != "EVENT_SHAPE_MISMATCH" || x["eventId"] != oldEv.ID || !strings.Contains(r.Errors[0].Message, "data.carrier") {
		t.Fatalf("the old event's error: %s", m.Payload)
	}
	if !strings.Contains(string(m.Payload), `"path":["shipped","data","carrier"]`) {
		t.Fatalf("the old event's error has no path: %s", m.Payload)
	}
	// A nullable field of another type is null, with its error; the
	// rest of the event is delivered.
	m = c.Read(10 * time.Second)
	r = wstest.Decode(t, m)
	if want := `{"id":"` + wrongEv.ID + `","data":{"orderId":"o-2","carrier":"DHL","at":null}}`; string(r.Data["shipped"]) != want || len(r.Errors) != 1 ||
		r.Errors[0].Extensions["code"] != "EVENT_SHAPE_MISMATCH" {
		t.Fatalf("the wrong event: %s, want data %s", m.Payload, want)
	}
	// And delivery continues with a good event, live.
	good := e.query(t, `mutation { publishOrderShipped(topic: "orders.eu", data: {orderId: "o-3", carrier: "UPS"}) { id } }`, nil)
	if len(good.Errors) > 0 {
		t.Fatal(good.Errors)
	}
	got := collectTyped(t, c, "1", "shipped", 1)
	if string(got[0].Data) != `{"orderId":"o-3","carrier":"UPS","at":null}` {
		t.Fatalf("the good event: %s", got[0].Data)
	}
	// History propagates the same way: the page is null, with the error.
	h := e.query(t, `{ orderShipped(first: 1) { edges { node { data { carrier } } } } }`, nil)
	if h.Data != nil || !slices.Equal(codes(h), []string{"EVENT_SHAPE_MISMATCH"}) {
		t.Fatalf("history of the old event: %v %+v", h.Data, h.Errors)
	}
}

// TestTypedGrants: typed fields obey read and publish grants as their
// generic twins, over the declared patterns when no topic is given.
func TestTypedGrants(t *testing.T) {
	s, err := eventschema.Load("../examples/schema/orders.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	e, key := startAuthWith(t, eventstore.Config{MaxPayload: 64 << 10, Check: s.Check}, api.Config{Events: s})
	eu := key.Token(t, "eu", authtest.Grants{Subscribe: []string{"orders.eu"}, Publish: []string{"orders.eu"}}, time.Hour)
	all := key.Token(t, "all", authtest.Grants{Subscribe: []string{"orders.*"}}, time.Hour)
	pub := `mutation($t: String!) { publishOrderShipped(topic: $t, data: {orderId: "1", carrier: "DHL"}) { id } }`
	cases := []struct {
		name, token, query string
		vars               map[string]any
		want               string
	}{
		{"publish within the grant", eu, pub, map[string]any{"t": "orders.eu"}, "ok"},
		{"publish outside the grant", eu, pub, map[string]any{"t": "orders.us"}, "FORBIDDEN"},
		{"publish without publish grants", all, pub, map[string]any{"t": "orders.eu"}, "FORBIDDEN"},
		{"publish without a token", "", pub, map[string]any{"t": "orders.eu"}, "401 UNAUTHENTICATED"},
		{"history of the declared patterns, granted one topic", eu, `{ orderShipped { edges { cursor } } }`, nil, "FORBIDDEN"},
		{"history narrowed to the grant", eu, `{ orderShipped(topic: "orders.eu") { edges { cursor } } }`, nil, "ok"},
		{"history of the declared patterns", all, `{ orderEvent { edges { cursor } } }`, nil, "ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := outcome(e.post(t, c.token, c.query, c.vars)); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
	for _, c := range []struct {
		token, query, want string
	}{
		{eu, `subscription { orderShipped { id } }`, "FORBIDDEN"},
		{eu, `subscription { orderShipped(topics: ["orders.eu"]) { id } }`, ""},
	} {
		ws := wstest.Dial(t, e.url, wstest.TransportWS, nil)
		ws.Send(wstest.Message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + c.token + `"}`)})
		if m := ws.Read(10 * time.Second); m.Type != "connection_ack" {
			t.Fatalf("init: %s %s", m.Type, m.Payload)
		}
		ws.Subscribe("1", c.query, nil)
		if c.want == "" {
			// Running: it delivers what is published next.
			testenv.Eventually(t, 5*time.Second, "the subscription to start", func() bool { return e.hub.Subscribers() == 1 })
			if got := outcome(e.post(t, eu, pub, map[string]any{"t": "orders.eu"})); got != "ok" {
				t.Fatal(got)
			}
			if m := ws.Read(10 * time.Second); m.Type != "next" {
				t.Errorf("%s: got %s %s, want the event", c.query, m.Type, m.Payload)
			}
			continue
		}
		m := ws.Read(10 * time.Second)
		if got := wstest.ErrorCodes(t, m); !slices.Equal(got, []string{c.want}) {
			t.Errorf("%s: got %s %s, want %s", c.query, m.Type, m.Payload, c.want)
		}
	}
}

// TestTypedOverEveryTransport: typed queries and mutations answer the same
// over POST, both WebSocket subprotocols and SSE; typed subscriptions
// start at last and latest as events does, and resume from SSE's
// Last-Event-ID.
func TestTypedOverEveryTransport(t *testing.T) {
	e := startTyped(t, api.Config{})
	first := e.placeOrder(t, "orders.eu", "o-1", 1)
	second := e.placeOrder(t, "orders.us", "o-2", 2)
	query := `{ orderPlaced(first: 1) { edges { node { id data { orderId } } } } }`
	want := `{"edges":[{"node":{"id":"` + first.ID + `","data":{"orderId":"o-1"}}}]}`
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		c := wstest.Dial(t, e.url, proto, nil)
		c.Init()
		c.Subscribe("q", query, nil)
		if r := readResult(t, c, "q"); string(r.Data["orderPlaced"]) != want {
			t.Errorf("%s query: %s %+v", proto, r.Data["orderPlaced"], r.Errors)
		}
		c.Subscribe("m", `mutation { publishOrderShipped(topic: "orders.eu", data: {orderId: "o-1", carrier: "`+proto+`"}) { data { carrier } } }`, nil)
		if r := readResult(t, c, "m"); string(r.Data["publishOrderShipped"]) != `{"data":{"carrier":"`+proto+`"}}` {
			t.Errorf("%s mutation: %s %+v", proto, r.Data["publishOrderShipped"], r.Errors)
		}
		c.Subscribe("last", `subscription { orderPlaced(last: 1) { id } }`, nil)
		if got := collectTyped(t, c, "last", "orderPlaced", 1); got[0].ID != second.ID {
			t.Errorf("%s last: 1: got %s, want %s", proto, got[0].ID, second.ID)
		}
		// (orders.eu's newest event is the OrderShipped just published:
		// latest leaves that topic out, as events with types does.)
		c.Subscribe("latest", `subscription { orderPlaced(latest: true) { id } }`, nil)
		if got := collectTyped(t, c, "latest", "orderPlaced", 1); got[0].ID != second.ID {
			t.Errorf("%s latest: got %s, want %s", proto, got[0].ID, second.ID)
		}
	}
	s := openSSE(t, t.Context(), http.MethodPost, e.url, nil, query, nil)
	if m, _ := s.next(10 * time.Second); m.Event != "next" || !strings.Contains(m.Data, want) {
		t.Errorf("SSE query: %+v", m)
	}
	// As EventSource reconnects: Last-Event-ID wins over afterId.
	s = openSSE(t, t.Context(), http.MethodGet, e.url, http.Header{"Last-Event-Id": {first.ID}},
		`subscription { orderPlaced(afterId: "00000000000000000000000000") { data { orderId } } }`, nil)
	if m, _ := s.next(10 * time.Second); m.ID != second.ID || !strings.Contains(m.Data, `"orderId":"o-2"`) {
		t.Errorf("SSE after Last-Event-ID: got id %q %s, want %s", m.ID, m.Data, second.ID)
	}
}

// TestTypedEnvelopeAsEvents: a typed event's envelope fields render byte
// for byte as the same event's fields in the generic events subscription
// (gqlgen's own rendering is the reference).
func TestTypedEnvelopeAsEvents(t *testing.T) {
	e := startTyped(t, api.Config{})
	ev := e.placeOrder(t, "orders.eu", "o-1", 1)
	c := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	c.Init()
	// (Not live: whether the hub had seen the event when the first
	// subscription started is a race the live flag reports honestly.)
	sel := `x: id t: topic time __typename`
	c.Subscribe("typed", `subscription { f: orderPlaced(afterId: "00000000000000000000000000") { `+sel+` } }`, nil)
	typed := readResult(t, c, "typed")
	c.Subscribe("generic", `subscription { f: events(topics: ["orders.*"], afterId: "00000000000000000000000000") { `+sel+` } }`, nil)
	generic := readResult(t, c, "generic")
	want := strings.Replace(string(generic.Data["f"]), `"__typename":"Event"`, `"__typename":"OrderPlacedEvent"`, 1)
	if got := string(typed.Data["f"]); got != want || !strings.Contains(got, ev.ID) {
		t.Fatalf("typed %s\nevents %s", got, generic.Data["f"])
	}
}

// TestTypedGateAndLimits: the mutation gate checks typed publishes before
// any append of the document runs, and the limits count typed fields as
// their generic twins.
func TestTypedGateAndLimits(t *testing.T) {
	e := startTyped(t, api.Config{PublishRate: 1, PublishBurst: 3})
	r := e.query(t, `mutation {
	  a: publish(topic: "orders.eu", data: 1) { id }
	  b: publishOrderShipped(topic: "payments.eu", data: {orderId: "1", carrier: "DHL"}) { id }
	}`, nil)
	if got := codes(r); !slices.Equal(got, []string{"BAD_USER_INPUT"}) || r.Data != nil {
		t.Fatalf("a document with a refused typed publish: %v %+v", r.Data, r.Errors)
	}
	r = e.query(t, `mutation {
	  a: publishOrderShipped(topic: "orders.eu", data: {orderId: "1", carrier: "DHL"}) { id }
	  b: publishOrderShipped(topic: "orders.eu", data: {orderId: "2", carrier: "DHL"}) { id }
	  c: publishOrderShipped(topic: "orders.eu", data: {orderId: "3", carrier: "DHL"}) { id }
	  d: publishOrderShipped(topic: "orders.eu", data: {orderId: "4", carrier: "DHL"}) { id }
	}`, nil)
	if got := codes(r); !slices.Equal(got, []string{"BATCH_TOO_LARGE"}) {
		t.Fatalf("four typed publishes with a burst of three: %+v", r.Errors)
	}
	if h := e.query(t, `{ events(topic: ">") { edges { cursor } } }`, nil); string(h.Data["events"]) != `{"edges":[]}` {
		t.Fatalf("a refused document stored something: %s", h.Data["events"])
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range 11 {
		many.WriteString(" a" + string(rune('a'+i)) + `: orderPlaced { edges { cursor } }`)
	}
	many.WriteString(" }")
	if got := codes(e.query(t, many.String(), nil)); !slices.Equal(got, []string{"COMPLEXITY_LIMIT_EXCEEDED"}) {
		t.Fatalf("eleven typed history fields: %v", got)
	}
	// A page costs its size times its selection, typed or not.
	small := startTyped(t, api.Config{Limits: graph.Limits{MaxComplexity: 1000}})
	for _, c := range []struct{ query, want string }{
		{`{ orderPlaced(first: 100) { edges { cursor } } }`, ""},
		{`{ orderPlaced(first: 1000) { edges { cursor } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
		{`{ events(topic: "orders.eu", first: 1000) { edges { cursor } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
	} {
		got := codes(small.query(t, c.query, nil))
		if (c.want == "" && len(got) > 0) || (c.want != "" && !slices.Equal(got, []string{c.want})) {
			t.Errorf("%s: %v, want %q", c.query, got, c.want)
		}
	}
	// A subscription costs its start point's reads, as events.
	ws := wstest.Dial(t, small.url, wstest.TransportWS, nil)
	ws.Init()
	ws.Subscribe("1", `subscription { orderPlaced(last: 5000) { id } }`, nil)
	if got := wstest.ErrorCodes(t, ws.Read(10*time.Second)); !slices.Equal(got, []string{"COMPLEXITY_LIMIT_EXCEEDED"}) {
		t.Errorf("last: 5000 under a cost limit of 1000: %v", got)
	}
}

// readResult reads the next result of operation id.
func readResult(t *testing.T, c *wstest.Client, id string) wstest.Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := c.Read(time.Until(deadline))
		if m.ID == id && wstest.IsData(m) {
			return wstest.Decode(t, m)
		}
		if m.ID == id && m.Type != "complete" {
			t.Fatalf("%s: %s %s", id, m.Type, m.Payload)
		}
	}
}

// TestTypedSeam: typed subscriptions starting from random cursors while
// events are published concurrently each receive exactly the events of
// their type after their cursor, in order, across the replay/live seam.
func TestTypedSeam(t *testing.T) {
	e := startTyped(t, api.Config{})
	const total = 120
	var ids []string // OrderPlaced ids in stream order
	for i := range 20 {
		ids = append(ids, e.placeOrder(t, "orders.eu", "seed", i).ID)
	}
	done := make(chan []string)
	go func() {
		// Not t.Fatal here: only the test's goroutine may call it.
		var more []string
		for i := range total - 20 {
			r := e.query(t, placeOrder, map[string]any{"t": "orders.us", "d": map[string]any{"orderId": "live", "total": 1, "lines": []any{}}})
			var ev typedEvent
			if err := json.Unmarshal(r.Data["publishOrderPlaced"], &ev); err != nil || len(r.Errors) > 0 {
				t.Errorf("publish %d: %v %+v", i, err, r.Errors)
				break
			}
			more = append(more, ev.ID)
			if i%3 == 0 {
				e.query(t, `mutation { publish(topic: "orders.us", data: "untyped, interleaved") { id } }`, nil)
			}
		}
		done <- more
	}()
	type sub struct {
		c     *wstest.Client
		after int
	}
	var subs []sub
	for i, after := range []int{0, 5, 13, 19} {
		c := wstest.Dial(t, e.url, []string{wstest.TransportWS, wstest.LegacyWS}[i%2], nil)
		c.Init()
		c.Subscribe("s", `subscription($a: ID) { orderPlaced(afterId: $a) { id } }`, map[string]any{"a": ids[after]})
		subs = append(subs, sub{c, after})
	}
	ids = append(ids, <-done...)
	for _, s := range subs {
		got := typedIDs(collectTyped(t, s.c, "s", "orderPlaced", total-1-s.after))
		if want := ids[s.after+1:]; !slices.Equal(got, want) {
			t.Fatalf("after %d: got %d events, first diff at %d", s.after, len(got), firstDiff(got, want))
		}
	}
}
