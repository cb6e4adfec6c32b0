package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/auth/jwtauth"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// The Federation v2 subgraph contract (--federation) with the federation
// example's schema: an entity stub Order in typed event data.

const federationSchema = "../examples/federation/schema/orders.graphqls"

func startFederated(t *testing.T, cfg api.Config) *env {
	t.Helper()
	s, err := eventschema.Load(federationSchema)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Events, cfg.Federation = s, true
	return startWith(t, eventstore.Config{Check: s.Check}, cfg, replay.Config{})
}

// fedResponse keeps what wstest.Result drops: the errors' paths.
type fedResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (e *env) fedPost(t *testing.T, token, q string, vars map[string]any) fedResponse {
	t.Helper()
	resp := e.postRaw(t, token, q, vars)
	defer resp.Body.Close()
	var r fedResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode (status %d): %v", resp.StatusCode, err)
	}
	return r
}

func (e *env) placeStub(t *testing.T, token, topic, orderID string) string {
	t.Helper()
	r := e.fedPost(t, token, `mutation($t: String!, $id: ID!) { publishOrderPlaced(topic: $t, data: {order: {id: $id}, total: 9.5}) { id data { order { id } } } }`,
		map[string]any{"t": topic, "id": orderID})
	if len(r.Errors) > 0 {
		t.Fatalf("publishOrderPlaced: %+v", r.Errors)
	}
	var ev struct{ ID string }
	_ = json.Unmarshal(r.Data["publishOrderPlaced"], &ev)
	return ev.ID
}

// TestFederationOff: without --federation the API has no trace of it.
func TestFederationOff(t *testing.T) {
	e := startTyped(t, api.Config{})
	for _, q := range []string{`{ _service { sdl } }`, `{ _entities(representations: []) { __typename } }`} {
		r := e.fedPost(t, "", q, nil)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("%s: %+v, want a validation error", q, r)
		}
	}
	r := e.fedPost(t, "", `{ __type(name: "_Entity") { name } }`, nil)
	if string(r.Data["__type"]) != "null" {
		t.Errorf("_Entity without federation: %s", r.Data["__type"])
	}
}

// TestFederationService: _service serves the subgraph SDL composition
// needs: the @link, Event and every envelope keyed by id, the stub as
// declared, and not the contract's own types.
func TestFederationService(t *testing.T) {
	e := startFederated(t, api.Config{})
	r := e.fedPost(t, "", `{ _service { __typename sdl } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("%+v", r.Errors)
	}
	var svc struct{ Typename, SDL string }
	var raw map[string]string
	_ = json.Unmarshal(r.Data["_service"], &raw)
	svc.Typename, svc.SDL = raw["__typename"], raw["sdl"]
	if svc.Typename != "_Service" {
		t.Errorf("__typename %q", svc.Typename)
	}
	for _, want := range []string{
		`extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])`,
		`type Event @key(fields: "id") {`,
		`type OrderPlacedEvent @key(fields: "id") {`,
		`type OrderShippedEvent @key(fields: "id") {`,
		`type OrderEventEvent @key(fields: "id") {`,
		`type Order @key(fields: "id", resolvable: false) {`,
		`orderPlaced(topics: [String!], afterId: ID, last: Int, since: Time, latest: Boolean, where: Filter): OrderPlacedEvent!`,
		`events(topics: [String!]!`,
	} {
		if !strings.Contains(svc.SDL, want) {
			t.Errorf("the SDL lacks %q", want)
		}
	}
	for _, not := range []string{"_Entity", "_service", "_Any", "@event(", "@events"} {
		if strings.Contains(svc.SDL, not) {
			t.Errorf("the SDL holds %q", not)
		}
	}
	if t.Failed() {
		t.Log(svc.SDL)
	}
}

const entitiesQuery = `query($r: [_Any!]!) { _entities(representations: $r) {
  __typename
  ... on Event { id topic type raw: data }
  ... on OrderPlacedEvent { id topic data { order { __typename id } total } }
  ... on OrderEventEvent { id data { __typename ... on OrderShipped { carrier order { id } } } }
} }`

func rep(typename, id string) map[string]any { return map[string]any{"__typename": typename, "id": id} }

// TestFederationEntities: _entities resolves ids to events as the type
// asked for, in the order given; an unknown id, or an event of another
// type, is null without error; a representation that is none is an error
// at its index.
func TestFederationEntities(t *testing.T) {
	e := startFederated(t, api.Config{})
	placed := e.placeStub(t, "", "orders.eu", "42")
	r := e.fedPost(t, "", `mutation { publishOrderShipped(topic: "orders.eu", data: {order: {id: "42"}, carrier: "dhl"}) { id } }`, nil)
	var shipped struct{ ID string }
	_ = json.Unmarshal(r.Data["publishOrderShipped"], &shipped)
	generic := e.publish(t, "misc", map[string]any{"n": 1})

	r = e.fedPost(t, "", entitiesQuery, map[string]any{"r": []any{
		rep("OrderPlacedEvent", placed),
		rep("Event", generic.ID),
		rep("OrderEventEvent", shipped.ID),
		rep("Event", placed),                             // every event is an Event
		rep("OrderShippedEvent", placed),                 // not of that type
		rep("Event", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),       // unknown
		map[string]any{"__typename": "Nope", "id": "x"},  // no entity type
		map[string]any{"__typename": "Event", "id": "1"}, // no ULID
		1, []any{"Event"}, map[string]any{"__typename": "Event", "id": 7}, // not representations
	}})
	want := `[{"__typename":"OrderPlacedEvent","id":"` + placed + `","topic":"orders.eu","data":{"order":{"__typename":"Order","id":"42"},"total":9.5}},` +
		`{"__typename":"Event","id":"` + generic.ID + `","topic":"misc","type":"message","raw":{"n":1}},` +
		`{"__typename":"OrderEventEvent","id":"` + shipped.ID + `","data":{"__typename":"OrderShipped","carrier":"dhl","order":{"id":"42"}}},` +
		`{"__typename":"Event","id":"` + placed + `","topic":"orders.eu","type":"placed","raw":{"order":{"id":"42"},"total":9.5}},` +
		`null,null,null,null,null,null,null]`
	if got := string(r.Data["_entities"]); got != want {
		t.Errorf("_entities\n got %s\nwant %s", got, want)
	}
	var paths []string
	for _, err := range r.Errors {
		b, _ := json.Marshal(err.Path)
		paths = append(paths, string(b)+" "+err.Extensions["code"].(string))
	}
	if got := strings.Join(paths, "; "); got != `["_entities",6] BAD_USER_INPUT; ["_entities",7] BAD_USER_INPUT; ["_entities",8] BAD_USER_INPUT; ["_entities",9] BAD_USER_INPUT; ["_entities",10] BAD_USER_INPUT` {
		t.Errorf("errors %s (%+v)", got, r.Errors)
	}

	// Hostile: unknown ids cost a scan each, so one call looks up at most
	// ten; the others are refused, known ones before them still served.
	unknown := []any{rep("Event", placed)}
	for i := range 12 {
		unknown = append(unknown, rep("Event", fmt.Sprintf("01ARZ3NDEKTSV4RRFFQ69G5F%02d", i)))
	}
	r = e.fedPost(t, "", `query($r: [_Any!]!) { _entities(representations: $r) { ... on Event { id } } }`, map[string]any{"r": unknown})
	if got, want := string(r.Data["_entities"]), `[{"id":"`+placed+`"},null,null,null,null,null,null,null,null,null,null,null,null]`; got != want {
		t.Errorf("unknown ids: %s, want %s", got, want)
	}
	var refused []string
	for _, err := range r.Errors {
		b, _ := json.Marshal(err.Path)
		refused = append(refused, string(b)+" "+err.Extensions["code"].(string))
	}
	if got := strings.Join(refused, "; "); got != `["_entities",11] BAD_USER_INPUT; ["_entities",12] BAD_USER_INPUT` {
		t.Errorf("unknown ids: errors %s", got)
	}

	// Hostile: too many representations is refused, nothing is read.
	many := make([]any, 1001)
	for i := range many {
		many[i] = rep("Event", placed)
	}
	r = e.fedPost(t, "", `query($r: [_Any!]!) { _entities(representations: $r) { __typename } }`, map[string]any{"r": many})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("1001 representations: %+v", r.Errors)
	}
}

// TestFederationEntitiesGrants: a representation of an event the token may
// not read is null with FORBIDDEN at its index, never data.
func TestFederationEntitiesGrants(t *testing.T) {
	key := authtest.NewHS256(t)
	v, err := jwtauth.New(jwtauth.Config{SecretFile: key.File})
	if err != nil {
		t.Fatal(err)
	}
	e := startFederated(t, api.Config{Auth: v})
	admin := key.Token(t, "admin", authtest.Grants{Subscribe: []string{">"}, Publish: []string{">"}}, time.Hour)
	eu := e.placeStub(t, admin, "orders.eu", "1")
	us := e.placeStub(t, admin, "orders.us", "2")

	reader := key.Token(t, "eu-reader", authtest.Grants{Subscribe: []string{"orders.eu"}}, time.Hour)
	r := e.fedPost(t, reader, entitiesQuery, map[string]any{"r": []any{rep("OrderPlacedEvent", us), rep("OrderPlacedEvent", eu), rep("Event", us)}})
	want := `[null,{"__typename":"OrderPlacedEvent","id":"` + eu + `","topic":"orders.eu","data":{"order":{"__typename":"Order","id":"1"},"total":9.5}},null]`
	if got := string(r.Data["_entities"]); got != want {
		t.Errorf("_entities\n got %s\nwant %s", got, want)
	}
	var paths []string
	for _, err := range r.Errors {
		b, _ := json.Marshal(err.Path)
		paths = append(paths, string(b)+" "+err.Extensions["code"].(string))
		if strings.Contains(err.Message, `"2"`) || strings.Contains(err.Message, "9.5") {
			t.Errorf("an error shows data: %s", err.Message)
		}
	}
	if got := strings.Join(paths, "; "); got != `["_entities",0] FORBIDDEN; ["_entities",2] FORBIDDEN` {
		t.Errorf("errors %s (%+v)", got, r.Errors)
	}

	// Without a token, nothing.
	r = e.fedPost(t, "", entitiesQuery, map[string]any{"r": []any{rep("Event", eu)}})
	if string(r.Data["_entities"]) == "" && len(r.Errors) == 0 || strings.Contains(string(r.Data["_entities"]), "orders") {
		t.Errorf("no token: %+v", r)
	}
}

// TestFederationWithoutSchema: Event alone is an entity without --schema.
func TestFederationWithoutSchema(t *testing.T) {
	e := start(t, api.Config{Federation: true}, replay.Config{})
	ev := e.publish(t, "misc", "x")
	r := e.fedPost(t, "", `query($r: [_Any!]!) { _entities(representations: $r) { ... on Event { id data } } _service { sdl } }`,
		map[string]any{"r": []any{rep("Event", ev.ID)}})
	if got, want := string(r.Data["_entities"]), `[{"id":"`+ev.ID+`","data":"x"}]`; got != want {
		t.Errorf("_entities %s, want %s (%+v)", got, want, r.Errors)
	}
	if !strings.Contains(string(r.Data["_service"]), `type Event @key(fields: \"id\")`) {
		t.Errorf("_service %s", r.Data["_service"])
	}
	// The generic API is unchanged beside it.
	if r := e.fedPost(t, "", `{ hello event(id: "`+ev.ID+`") { id } }`, nil); len(r.Errors) > 0 {
		t.Errorf("generic query: %+v", r.Errors)
	}
}
