package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// roundTripEvents is how many events the export/import round trip moves.
const roundTripEvents = 100_000

func TestExportImportRoundTrip(t *testing.T) {
	setup := time.Now()
	src := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // for loading the source
	defer cancel()
	topics := []string{"orders.eu", "orders.us", "payments.eu", "audit"}
	// At most 1,000 at a time: over nats.go's 4,000 unacknowledged async
	// publishes, a publish fails after a short stall on a loaded machine.
	batch := make([]eventstore.Event, 0, 1000)
	for i := range roundTripEvents {
		batch = append(batch, eventstore.Event{
			Topic: topics[i%len(topics)],
			Type:  []string{"created", "updated"}[i%2],
			Data:  json.RawMessage(fmt.Sprintf(`{"n":%d,"note":"caf\u00e9 <&>","tags":["a","b"]}`, i)),
		})
		if len(batch) == cap(batch) {
			if _, err := src.store.AppendBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}

	t.Logf("setup: %v", time.Since(setup))
	start := time.Now()
	export := src.cli(t, nil, "export").ok(t).stdout
	took := time.Since(start)
	t.Logf("export: %d events, %d bytes in %v (%.0f events/s)", roundTripEvents, len(export), took, roundTripEvents/took.Seconds())
	if n := strings.Count(export, "\n"); n != roundTripEvents {
		t.Fatalf("export has %d lines, want %d", n, roundTripEvents)
	}

	// Into a server with no stream yet; first an import cut short after
	// 30,000 lines, then the whole file: each event once, in order.
	dst := testenv.StartNATS(t)
	importTo := func(input string) result {
		return cli(t, strings.NewReader(input), "--nats-url", dst.URL(), "import")
	}
	cut := strings.Index(export, "\n"+`{"id"`) // a line boundary
	for range 30_000 - 1 {
		cut += 1 + strings.Index(export[cut+1:], "\n")
	}
	start = time.Now()
	r := importTo(export[:cut+1]).ok(t)
	t.Logf("partial import: %v", time.Since(start))
	if !strings.Contains(r.stderr, "imported 30,000 events, skipped 0") {
		t.Fatalf("partial import: %s", r.stderr)
	}
	start = time.Now()
	r = importTo(export).ok(t)
	took = time.Since(start)
	t.Logf("import: %d events (%d skipped) in %v (%.0f events/s)", roundTripEvents-30_000, 30_000, took, roundTripEvents/took.Seconds())
	if !strings.Contains(r.stderr, "imported 70,000 events, skipped 30,000") {
		t.Fatalf("import: %s", r.stderr)
	}

	// Same ids, topics, types, data and order (and so the same sequences).
	start = time.Now()
	again := cli(t, nil, "--nats-url", dst.URL(), "export").ok(t).stdout
	t.Logf("second export: %v", time.Since(start))
	if again != export {
		a, b := strings.Split(export, "\n"), strings.Split(again, "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("line %d differs:\nsource:   %s\nimported: %s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("exports differ in length: %d and %d lines", len(a), len(b))
	}

	// The whole file again, long after it was imported as far as the
	// stream's duplicate window is concerned: nothing is appended.
	start = time.Now()
	r = importTo(export).ok(t)
	t.Logf("re-import: %v", time.Since(start))
	if !strings.Contains(r.stderr, "imported 0 events, skipped 100,000") {
		t.Fatalf("re-import: %s", r.stderr)
	}
	st, err := testenvStore(t, dst).State(t.Context())
	if err != nil || st.Events != roundTripEvents {
		t.Fatalf("stream holds %d events (%v), want %d", st.Events, err, roundTripEvents)
	}
}

func testenvStore(t *testing.T, n *testenv.NATS) *eventstore.Store {
	return n.Store(eventstore.Config{})
}

func TestExportSelection(t *testing.T) {
	f := newFixture(t)
	evs := f.append(t, "orders.eu", "created", numbered(1, 5)...)
	f.append(t, "orders.us", "created", numbered(6, 6)...)
	got := lines[eventLine](t, f.cli(t, nil, "export", "--topic", "orders.eu", "--after", evs[1].ID.String()).ok(t).stdout)
	if !equal(lineIDs(got), ids(evs[2:])) {
		t.Errorf("got %v, want %v", lineIDs(got), ids(evs[2:]))
	}
}

func TestImportErrors(t *testing.T) {
	f := newFixture(t)
	good := `{"id":"01M8AB89FYVCMXQY5JACWVPNP7","topic":"orders.eu","type":"created","data":{"n":1}}`
	cases := []struct{ name, line, want string }{
		{"not json", `{"id":`, "line 2: not a JSON event"},
		{"no id", `{"topic":"a","type":"t","data":1}`, `line 2: no "id"`},
		{"bad id", `{"id":"nope","topic":"a","type":"t","data":1}`, `line 2: invalid id "nope"`},
		{"bad topic", `{"id":"01M8AB89FYVCMXQY5JACWVPNP8","topic":"a..b","type":"t","data":1}`, "line 2: topic: invalid topic"},
		{"no type", `{"id":"01M8AB89FYVCMXQY5JACWVPNP8","topic":"a","data":1}`, `line 2: type: invalid event: type "": is empty`},
		{"no data", `{"id":"01M8AB89FYVCMXQY5JACWVPNP8","topic":"a","type":"t"}`, `line 2: no "data"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.cli(t, strings.NewReader(good+"\n"+tc.line+"\n"), "import")
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, tc.want)
			}
		})
	}
	// The good line before each bad one was imported once.
	got := lines[eventLine](t, f.cli(t, nil, "events").ok(t).stdout)
	if len(got) != 1 || got[0].ID != "01M8AB89FYVCMXQY5JACWVPNP7" {
		t.Errorf("stored: %+v", got)
	}

	// From a file, with a dry run first.
	path := filepath.Join(t.TempDir(), "in.ndjson")
	more := `{"id":"01M8AB89FYVCMXQY5JACWVPNP9","topic":"orders.us","type":"created","data":[1,2]}`
	if err := os.WriteFile(path, []byte(good+"\n\n"+more+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := f.cli(t, nil, "import", "--dry-run", path).ok(t)
	if !strings.Contains(r.stderr, "would import 1 event, skipped 1") {
		t.Errorf("dry run: %s", r.stderr)
	}
	r = f.cli(t, nil, "import", path).ok(t)
	if !strings.Contains(r.stderr, "imported 1 event, skipped 1") {
		t.Errorf("import: %s", r.stderr)
	}
	if r := f.cli(t, nil, "import", filepath.Join(t.TempDir(), "missing")); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing file: exit %d, %s", r.code, r.stderr)
	}
	var b bytes.Buffer
	b.WriteString(`{"id":"01M8AB89FYVCMXQY5JACWVPNPA","topic":"big","type":"t","data":"`)
	b.WriteString(strings.Repeat("x", 2<<20))
	b.WriteString("\"}\n")
	if r := f.cli(t, &b, "import"); r.code != 1 || !strings.Contains(r.stderr, "line 1: longer than an event can be") {
		t.Errorf("oversized line: exit %d, %s", r.code, r.stderr)
	}
}

// exampleSchema declares OrderPlaced (orders.*, placed) and OrderShipped.
const exampleSchema = "../../examples/schema/orders.graphqls"

// TestImportChecksSchema: with --schema (or SCHEMA), an event whose topic
// and type match a declaration is checked against it, in a dry run too;
// the first bad one stops the import with its line and the path of the bad
// field, and is not stored. Events no declaration matches are imported as
// they are.
func TestImportChecksSchema(t *testing.T) {
	f := newFixture(t)
	good := `{"id":"01M8AB89FYVCMXQY5JACWVPNP7","topic":"orders.eu","type":"placed","data":{"orderId":"1","total":2,"lines":[{"sku":"a","qty":1}]}}`
	other := `{"id":"01M8AB89FYVCMXQY5JACWVPNP8","topic":"orders.eu","type":"refunded","data":{"anything":true}}`
	bad := `{"id":"01M8AB89FYVCMXQY5JACWVPNP9","topic":"orders.us","type":"placed","data":{"orderId":"2","total":2,"lines":[{"sku":"a","qty":"1"}]}}`
	input := good + "\n" + other + "\n" + bad + "\n"
	const want = `line 3: invalid event: OrderPlaced data: lines[0].qty: expected Int, got string "1"`
	r := f.cli(t, strings.NewReader(input), "import", "--dry-run", "--schema", exampleSchema)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("dry run: exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, want)
	}
	t.Setenv("SCHEMA", exampleSchema)
	r = f.cli(t, strings.NewReader(input), "import")
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("import: exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, want)
	}
	got := lines[eventLine](t, f.cli(t, nil, "events").ok(t).stdout)
	if len(got) != 2 || got[0].ID != "01M8AB89FYVCMXQY5JACWVPNP7" || got[1].ID != "01M8AB89FYVCMXQY5JACWVPNP8" {
		t.Errorf("stored %+v; want the two lines before the bad one", got)
	}
	t.Setenv("SCHEMA", "")
	f.cli(t, strings.NewReader(bad+"\n"), "import").ok(t) // unchecked without a schema
}

// TestCheckStored: check lists the stored events of declared types that
// the typed API cannot serve as the schema now declares them, and exits 1;
// events of other types, and fields the schema dropped, are fine.
func TestCheckStored(t *testing.T) {
	f := newFixture(t)
	f.append(t, "orders.eu", "placed", `{"orderId":"1","total":2,"lines":[],"dropped":"a field the schema no longer has"}`)
	bad := f.append(t, "orders.us", "placed", `{"orderId":"2","lines":[]}`)
	shipped := f.append(t, "orders.us", "shipped", `{"orderId":"2","carrier":7}`)
	f.append(t, "orders.us", "refunded", `"not declared"`)
	f.append(t, "payments", "placed", `1`)

	r := f.cli(t, nil, "check", "--schema", exampleSchema)
	want := bad[0].ID.String() + " orders.us placed: OrderPlaced data: total: required (Float!), missing\n" +
		shipped[0].ID.String() + " orders.us shipped: OrderShipped data: carrier: expected String, got number 7\n"
	if r.code != 1 || r.stdout != want || !strings.Contains(r.stderr, "check: 3 events of declared types, 2 served with EVENT_SHAPE_MISMATCH") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant stdout:\n%s", r.code, r.stdout, r.stderr, want)
	}
	r = f.cli(t, nil, "check", "--schema", exampleSchema, "--after", bad[0].ID.String(), "--max", "0")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "1 event of declared types, 1 served") {
		t.Errorf("after the first mismatch, --max 0: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	r = f.cli(t, nil, "check", "--schema", exampleSchema, "--topic", "orders.eu").ok(t)
	if !strings.Contains(r.stderr, "1 event of declared types, 0 served") {
		t.Errorf("orders.eu: %s", r.stderr)
	}
	if r := f.cli(t, nil, "check"); r.code != 2 || !strings.Contains(r.stderr, "check needs --schema") {
		t.Errorf("without a schema: exit %d, %s", r.code, r.stderr)
	}
}

// TestCheckAdditiveChange: a schema that adds an event type, or a topic,
// with no stored events yet passes the check (exit 0), the new
// declarations reported on stderr; a --topic no declaration covers is a
// usage error, not an empty pass.
func TestCheckAdditiveChange(t *testing.T) {
	f := newFixture(t)
	f.append(t, "orders.eu", "placed", `{"orderId":"1","total":2,"lines":[]}`)
	orders, err := os.ReadFile(exampleSchema)
	if err != nil {
		t.Fatal(err)
	}
	schema := filepath.Join(t.TempDir(), "orders.graphqls")
	added := string(orders) + `
type OrderRefunded @event(topics: "orders.*", type: "refunded") { orderId: ID! }
type PaymentTaken @event(topics: "payments.*", type: "taken") { amount: Float! }
`
	if err := os.WriteFile(schema, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	r := f.cli(t, nil, "check", "--schema", schema)
	for _, want := range []string{
		"check: OrderShipped (type shipped on orders.*): no stored events yet\n",
		"check: OrderRefunded (type refunded on orders.*): no stored events yet\n",
		"check: PaymentTaken (type taken on payments.*): no stored events yet\n",
		"check: 1 event of declared types, 0 served with EVENT_SHAPE_MISMATCH\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if r.code != 0 || r.stdout != "" {
		t.Errorf("an additive change: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = f.cli(t, nil, "check", "--schema", schema, "--topic", "payments.*")
	if r.code != 0 || !strings.Contains(r.stderr, "PaymentTaken (type taken on payments.*): no stored events yet") || strings.Contains(r.stderr, "OrderPlaced") {
		t.Errorf("--topic payments.*: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = f.cli(t, nil, "check", "--schema", schema, "--topic", "orders.*", "--type", "refunded", "--since", "1h")
	if r.code != 0 || !strings.Contains(r.stderr, "OrderRefunded (type refunded on orders.*): no stored events in the range") || strings.Contains(r.stderr, "OrderShipped") {
		t.Errorf("--type refunded --since 1h: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = f.cli(t, nil, "check", "--schema", schema, "--topic", "invoices.*")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--topic invoices.*: --schema declares no type on it (its topics: orders.*, payments.*)") {
		t.Errorf("--topic invoices.*: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
