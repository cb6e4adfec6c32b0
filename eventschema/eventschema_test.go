package eventschema_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
)

const example = "../examples/schema/orders.graphqls"

func load(t *testing.T) *eventschema.Schema {
	t.Helper()
	s, err := eventschema.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadExample(t *testing.T) {
	s := load(t)
	var got []string
	for _, e := range s.Events {
		got = append(got, e.Name+" "+strings.Join(e.Topics, ",")+" "+e.Type)
	}
	if want := []string{"OrderPlaced orders.* placed", "OrderShipped orders.* shipped"}; strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("events %q, want %q", got, want)
	}
	if len(s.Unions) != 1 || s.Unions[0].Name != "OrderEvent" || len(s.Unions[0].Members) != 2 {
		t.Fatalf("unions %+v", s.Unions)
	}
	u := s.Unions[0]
	if m := u.Member("orders.eu", "shipped"); m == nil || m.Name != "OrderShipped" {
		t.Errorf("member of shipped: %v", m)
	}
	if m := u.Member("payments.eu", "shipped"); m != nil {
		t.Errorf("member outside the topics: %v", m.Name)
	}
	if e := s.Match("orders.eu", "placed"); e == nil || e.Name != "OrderPlaced" {
		t.Errorf("Match(orders.eu, placed) = %v", e)
	}
	for _, c := range [][2]string{{"orders.eu.x", "placed"}, {"orders.eu", "other"}, {"messages", "placed"}} {
		if e := s.Match(c[0], c[1]); e != nil {
			t.Errorf("Match(%s, %s) = %s, want none", c[0], c[1], e.Name)
		}
	}
	if d := s.Types.Types["OrderShipped"].Fields.ForName("trackingCode").Directives.ForName("deprecated"); d == nil {
		t.Error("@deprecated is lost")
	}
}

func TestLoadFolderAndRepeated(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.graphqls"), `type A @event(topics: ["a.>", "x"], type: "a") { n: Int }`)
	write(t, filepath.Join(dir, "sub", "b.graphql"), `type B @event(topics: "b", type: "b") { s: String! }`)
	write(t, filepath.Join(dir, "notes.txt"), `not a schema`)
	other := filepath.Join(t.TempDir(), "c.graphqls")
	write(t, other, `type C @event(topics: "c", type: "c") { a: A }`)
	s, err := eventschema.Load(dir, other)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 3 || s.Events[0].Name != "A" || s.Events[1].Name != "B" || s.Events[2].Name != "C" {
		t.Fatalf("events %v", s.Events)
	}
	if got := s.Events[0].Topics; len(got) != 2 || got[1] != "x" {
		t.Errorf("A's topics %q", got)
	}
	if _, err := eventschema.Load(t.TempDir()); !errors.Is(err, eventschema.ErrInvalidSchema) || !strings.Contains(err.Error(), "holds no .graphqls") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := eventschema.Load(filepath.Join(dir, "missing.graphqls")); !errors.Is(err, eventschema.ErrInvalidSchema) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRefused: what the server cannot serve is refused with the file, the
// line and the reason.
func TestRefused(t *testing.T) {
	const ok = "type Ok @event(topics: \"ok\", type: \"ok\") { n: Int }\n"
	tests := []struct {
		name, sdl, want string
	}{
		{"syntax", ok + "type Broken {", "s.graphqls:2: "},
		{"unknown type", ok + "type X @event(topics: \"x\", type: \"x\") {\n  a: Missing\n}", "s.graphqls:3: X.a: type Missing is declared nowhere"},
		{"undeclared scalar", ok + "type X @event(topics: \"x\", type: \"x\") {\n  n: Int\n  at: [DateTime!]\n}",
			"s.graphqls:4: X.at: type DateTime is declared nowhere: custom scalars are not supported; use one of String, Int, Float, Boolean, ID, Time, JSON (Time: RFC 3339; JSON: any value), or declare DateTime as an object type or enum"},
		{"undeclared member", ok + "union U @events = Ok | Gone", "s.graphqls:2: union U: member Gone is declared nowhere"},
		{"custom scalar", ok + "scalar Money", "s.graphqls:2: scalar Money: custom scalars are not supported; use one of String, Int, Float, Boolean, ID, Time, JSON"},
		{"interface", ok + "interface Node { id: ID! }", "s.graphqls:2: interface Node"},
		{"input", ok + "input OrderInput { id: ID! }", "s.graphqls:2: input OrderInput: Rewind generates the input types"},
		{"union field", ok + "union U @events = Ok\ntype X @event(topics: \"x\", type: \"x\") {\n u: U\n}", "s.graphqls:4: X.u is of union type U"},
		{"plain union", ok + "union U = Ok", "s.graphqls:2: union U: mark it @events"},
		{"union of plain type", ok + "type P { n: Int }\nunion U @events = Ok | P", "s.graphqls:3: union U: member P is not an @event type"},
		{"arguments", ok + "type X @event(topics: \"x\", type: \"x\") {\n  n(a: Int): Int\n}", "s.graphqls:3: X.n has arguments"},
		{"other directive", ok + "type X @event(topics: \"x\", type: \"x\") {\n  n: Int @deprecated\n  m: Int @specifiedBy(url: \"x\")\n}", "s.graphqls:4: Directive specifiedBy is not applicable on FIELD_DEFINITION"},
		{"directive definition", ok + "directive @mine on OBJECT", "s.graphqls:2: directive @mine"},
		{"extension", ok + "extend type Query { x: Int }", "s.graphqls:2: extend Query"},
		{"schema", ok + "schema { query: Ok }", "s.graphqls:2: a schema definition"},
		{"reserved", ok + "type Event { n: Int }", "s.graphqls:2: Event is a type of Rewind's own API"},
		{"operation type", ok + "type Subscription { n: Int }", "s.graphqls:2: Subscription is a type of Rewind's own API"},
		{"bad pattern", ok + "type X @event(topics: \"a..b\", type: \"x\") { n: Int }", "s.graphqls:2: @event on X: invalid topic"},
		{"no topics", ok + "type X @event(topics: [], type: \"x\") { n: Int }", "s.graphqls:2: @event on X needs at least one topic"},
		{"bad type", ok + "type X @event(topics: \"x\", type: \" x\") { n: Int }", "s.graphqls:2: @event on X: invalid event"},
		{"overlap", ok + "type X @event(topics: \"ok.>\", type: \"ok\") { n: Int }\ntype Y @event(topics: [\"y\", \"o.*\"], type: \"ok\") { n: Int }\ntype Z @event(topics: \"*\", type: \"ok\") { n: Int }", "s.graphqls:4: Z (topics *, type ok) and Ok (topics ok, at line 1) can both match one event"},
		{"same type in union", ok + "type X @event(topics: \"x\", type: \"ok\") { n: Int }\nunion U @events = Ok | X", "s.graphqls:3: union U: members Ok and X have the same event type ok"},
		{"cycle", "type A @event(topics: \"a\", type: \"a\") {\n  b: B!\n}\ntype B {\n  a: A!\n}", "s.graphqls:1: A must contain itself (A.b -> B.a)"},
		{"no event", "type A { n: Int }", "s.graphqls declares no event type"},
		{"duplicate", ok + "type Ok { n: Int }", "s.graphqls:2: Cannot redeclare type Ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eventschema.Parse(&ast.Source{Name: "s.graphqls", Input: tt.sdl})
			if !errors.Is(err, eventschema.ErrInvalidSchema) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant ErrInvalidSchema with %q", err, tt.want)
			}
		})
	}
	// What a cycle through a list or a nullable field allows.
	if _, err := eventschema.Parse(&ast.Source{Name: "s.graphqls", Input: "type T @event(topics: \"t\", type: \"t\") { children: [T!]!  parent: T }"}); err != nil {
		t.Errorf("a tree: %v", err)
	}
}

func TestCheckData(t *testing.T) {
	s := load(t)
	placed := s.Match("orders.eu", "placed")
	const good = `{"orderId":"o-1","total":12.5,"currency":"EUR","lines":[{"sku":"a","qty":1},{"sku":"b","qty":2}]}`
	valid := []string{
		good,
		`{"orderId":42,"total":3,"lines":[],"note":null}`,
		`{"orderId":"o","total":-1e3,"lines":{"sku":"single","qty":1}}`, // a single value is a list of one
		`{"orderId":"o","total":1,"lines":[{"sku":"a","qty":2147483647},{"sku":"b","qty":-2147483648},{"sku":"c","qty":1.0},{"sku":"d","qty":1e2}]}`,
	}
	for _, data := range valid {
		if err := placed.CheckData(json.RawMessage(data)); err != nil {
			t.Errorf("CheckData(%s) = %v", data, err)
		}
	}
	invalid := []struct{ data, want string }{
		{`{"orderId":"o","total":1,"lines":[{"sku":"a","qty":1},{"sku":"b","qty":1},{"sku":"c","qty":"3"}]}`, `OrderPlaced data: lines[2].qty: expected Int, got string "3"`},
		{`{"total":1,"lines":[]}`, `OrderPlaced data: orderId: required (ID!), missing`},
		{`{"orderId":null,"total":1,"lines":[]}`, `orderId: expected ID!, got null`},
		{`{"orderId":1.5,"total":1,"lines":[]}`, `orderId: expected ID, got number 1.5`},
		{`{"orderId":"o","total":"1","lines":[]}`, `total: expected Float, got string "1"`},
		{`{"orderId":"o","total":1e400,"lines":[]}`, `total: expected Float, got number 1e400`},
		{`{"orderId":"o","total":1,"lines":[{"sku":"a","qty":2147483648}]}`, `lines[0].qty: expected Int, got number 2147483648`},
		{`{"orderId":"o","total":1,"lines":[{"sku":"a","qty":1.5}]}`, `lines[0].qty: expected Int, got number 1.5`},
		{`{"orderId":"o","total":1,"lines":[null]}`, `lines[0]: expected OrderLine!, got null`},
		{`{"orderId":"o","total":1,"lines":[{"sku":"a","qty":1,"colour":"red"}]}`, `lines[0].colour: not a field of OrderLine`},
		{`{"orderId":"o","total":1,"lines":[],"currency":"YEN"}`, `currency: expected Currency (EUR, USD, GBP), got string "YEN"`},
		{`{"orderId":"o","total":1,"lines":[],"currency":1}`, `currency: expected Currency (EUR, USD, GBP), got number 1`},
		{`{"orderId":"o","total":1,"lines":[],"note":true}`, `note: expected String, got boolean true`},
		{`{"orderId":"o","total":1,"lines":[],"zzz":1,"aaa":2}`, `OrderPlaced data: aaa: not a field of OrderPlaced`},
		{`[1]`, `OrderPlaced data: expected an object (OrderPlaced), got a list`},
		{`"x"`, `OrderPlaced data: expected an object (OrderPlaced), got string "x"`},
	}
	for _, tt := range invalid {
		err := placed.CheckData(json.RawMessage(tt.data))
		var de *eventschema.DataError
		if !errors.Is(err, eventschema.ErrInvalidData) || !errors.As(err, &de) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckData(%s) = %v\nwant ErrInvalidData with %q", tt.data, err, tt.want)
		}
	}
	shipped := s.Match("orders.eu", "shipped")
	for data, want := range map[string]string{
		`{"orderId":"o","carrier":"dhl","at":"2026-12-02T10:00:00.5+01:00"}`: "",
		`{"orderId":"o","carrier":"dhl","at":"yesterday"}`:                   `at: expected Time, an RFC 3339 string such as 2026-12-07T10:00:00Z, got string "yesterday"`,
		`{"orderId":"o","carrier":"dhl","trackingCode":"x"}`:                 "", // deprecated, still accepted
	} {
		err := shipped.CheckData(json.RawMessage(data))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckData(%s) = %v, want %q", data, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	s := load(t)
	bad := eventstore.Event{Topic: "orders.eu", Type: "placed", Data: json.RawMessage(`{}`)}
	if err := s.Check(bad); !errors.Is(err, eventschema.ErrInvalidData) {
		t.Errorf("Check(declared, bad) = %v", err)
	}
	for _, ev := range []eventstore.Event{
		{Topic: "orders.eu", Type: "refunded", Data: json.RawMessage(`{}`)},
		{Topic: "payments", Type: "placed", Data: json.RawMessage(`"anything"`)},
	} {
		if err := s.Check(ev); err != nil {
			t.Errorf("Check(%s %s) = %v; events that match no declaration are stored as they are", ev.Topic, ev.Type, err)
		}
	}
}

func FuzzCheckData(f *testing.F) {
	for _, s := range []string{`{"orderId":"o","total":1,"lines":[{"sku":"a","qty":1}]}`, `[]`, `{"lines":{"qty":1e999}}`, `null`} {
		f.Add(s)
	}
	s, err := eventschema.Load(example)
	if err != nil {
		f.Fatal(err)
	}
	placed := s.Match("orders.x", "placed")
	f.Fuzz(func(t *testing.T, data string) {
		err := placed.CheckData(json.RawMessage(data))
		if err != nil && !errors.Is(err, eventschema.ErrInvalidData) {
			t.Fatalf("%q: %v", data, err)
		}
		if err == nil && !json.Valid([]byte(data)) {
			t.Fatalf("%q is not JSON, and passed", data)
		}
	})
}

// TestEntityStubs: a stub of an entity another subgraph owns is event
// data like any object (its key is checked, nothing else is allowed), and
// @key in any other form is refused with the file and line.
func TestEntityStubs(t *testing.T) {
	const sdl = `type Order @key(fields: "id", resolvable: false) { id: ID! }
type Customer @key(fields: "region number", resolvable: false) { region: String!  number: Int! }
type OrderPaid @event(topics: "payments.*", type: "paid") {
  order: Order!
  customer: Customer
  amount: Float!
}
`
	s, err := eventschema.Parse(&ast.Source{Name: "s.graphqls", Input: sdl})
	if err != nil {
		t.Fatal(err)
	}
	paid := s.Match("payments.eu", "paid")
	for data, want := range map[string]string{
		`{"order":{"id":"42"},"amount":1}`:                                     "",
		`{"order":{"id":42},"customer":{"region":"eu","number":7},"amount":1}`: "",
		`{"order":{"id":"42","status":"paid"},"amount":1}`:                     "order.status: not a field of Order",
		`{"order":{},"amount":1}`:                                              "order.id: required (ID!), missing",
		`{"order":"42","amount":1}`:                                            "order: expected an object (Order)",
	} {
		err := paid.CheckData(json.RawMessage(data))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckData(%s) = %v, want %q", data, err, want)
		}
	}
	if d := s.Types.Types["Order"].Directives.ForName("key"); d == nil {
		t.Error("@key is lost")
	}

	const ok = "type Ok @event(topics: \"ok\", type: \"ok\") { n: Int }\n"
	for _, tt := range []struct{ name, sdl, want string }{
		{"resolvable", ok + "type Order @key(fields: \"id\") { id: ID! }", "s.graphqls:2: Order @key: only stubs of entities another subgraph owns"},
		{"resolvable true", ok + "type Order @key(fields: \"id\", resolvable: true) { id: ID! }", "s.graphqls:2: Order @key: only stubs"},
		{"more than the key", ok + "type Order @key(fields: \"id\", resolvable: false) {\n  id: ID!\n  status: String\n}", "s.graphqls:4: Order.status is not part of the key"},
		{"unknown key field", ok + "type Order @key(fields: \"sku\", resolvable: false) { id: ID! }", "s.graphqls:2: Order @key: sku is not a field of Order"},
		{"nested key", ok + "type Order @key(fields: \"id shop { id }\", resolvable: false) { id: ID! }", "s.graphqls:2: Order @key(fields: \"id shop { id }\"): give the key's field names"},
		{"object key", ok + "type Shop { id: ID! }\ntype Order @key(fields: \"shop\", resolvable: false) {\n  shop: Shop!\n}", "s.graphqls:4: Order.shop is part of the key: it must be a scalar"},
		{"event with key", "type Ok @event(topics: \"ok\", type: \"ok\") @key(fields: \"n\", resolvable: false) { n: Int }", "s.graphqls:1: Ok is an @event type and an entity stub"},
		{"on a field", ok + "type X { n: Int @key(fields: \"n\") }", "s.graphqls:2: Directive key is not applicable on FIELD_DEFINITION"},
		{"federation name", ok + "type _Entity { n: Int }", "s.graphqls:2: _Entity: names starting with _ are federation's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eventschema.Parse(&ast.Source{Name: "s.graphqls", Input: tt.sdl})
			if !errors.Is(err, eventschema.ErrInvalidSchema) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant ErrInvalidSchema with %q", err, tt.want)
			}
		})
	}
}

// TestCheckStored: what the API can serve of stored data. Fields the type
// lacks are ignored (a field removed since); the rest is as CheckData.
func TestCheckStored(t *testing.T) {
	placed := load(t).Match("orders.eu", "placed")
	if err := placed.CheckStored(json.RawMessage(`{"orderId":"1","total":1,"lines":[{"sku":"a","qty":1,"old":1}],"removed":true}`)); err != nil {
		t.Errorf("extra fields: %v", err)
	}
	if err := placed.CheckStored(json.RawMessage(`{"orderId":"1","lines":[]}`)); err == nil || !strings.Contains(err.Error(), "total: required (Float!), missing") {
		t.Errorf("a missing non-null field: %v", err)
	}
}

func TestFieldAtAndCheckValue(t *testing.T) {
	s := load(t)
	placed := s.Match("orders.eu", "placed")
	for path, want := range map[string]string{"total": "Float!", "lines": "[OrderLine!]!", "lines.3": "OrderLine!", "lines.0.qty": "Int!", "currency": "Currency"} {
		if got, err := placed.FieldAt(path); err != nil || got.String() != want {
			t.Errorf("FieldAt(%s) = %v, %v; want %s", path, got, err, want)
		}
	}
	for path, want := range map[string]string{"nope": "OrderPlaced has no field nope", "lines.x": "index it with a number", "total.x": "total is of type Float: it has no field x"} {
		if _, err := placed.FieldAt(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FieldAt(%s) = %v, want %q", path, err, want)
		}
	}
	qty, _ := placed.FieldAt("lines.0.qty")
	if err := s.CheckValue(qty, json.RawMessage(`3`)); err != nil {
		t.Errorf("3 as Int!: %v", err)
	}
	if err := s.CheckValue(qty, json.RawMessage(`"3"`)); !errors.Is(err, eventschema.ErrInvalidData) || !strings.Contains(err.Error(), `expected Int, got string "3"`) {
		t.Errorf(`"3" as Int!: %v`, err)
	}
}
