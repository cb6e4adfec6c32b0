package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// The surfaces a batch is published over: the publishBatch mutation over
// HTTP and both WebSocket protocols, and POST /publish.
const (
	viaHTTP   = "graphql over HTTP"
	viaNDJSON = "POST /publish"
)

var batchSurfaces = []string{viaHTTP, wstest.TransportWS, wstest.LegacyWS, viaNDJSON}

const publishBatchQuery = `mutation($evs: [PublishInput!]!) { publishBatch(events: $evs) { event { id topic type data } sequence error { code message } } }`

// batchOutcome is what a surface answered to a batch, in one shape: a
// refusal's code and index (-1: none), or each event's result.
type batchOutcome struct {
	code    string
	index   int
	message string
	results []batchResult
}

type batchResult struct {
	ID   string
	Seq  uint64
	Code string // the event's error, "" when stored
	Data string // the stored data, as the mutation selects it
}

// storedIDs is the ids of the events stored, in the batch's order.
func (o batchOutcome) storedIDs() []string {
	var ids []string
	for _, r := range o.results {
		if r.Code == "" {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// batchOf is n events on topic, data {"n": offset+i}, with keys
// prefix-i when prefix is set.
func batchOf(topic string, n, offset int, prefix string) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"topic": topic, "data": map[string]any{"n": offset + i}}
		if prefix != "" {
			out[i]["idempotencyKey"] = fmt.Sprintf("%s-%d", prefix, i)
		}
	}
	return out
}

// publishBatch publishes evs over via with token (none if empty).
func (e *env) publishBatch(t *testing.T, via, token string, evs []map[string]any) batchOutcome {
	t.Helper()
	if via == viaNDJSON {
		var body bytes.Buffer
		for _, ev := range evs {
			line, _ := json.Marshal(ev)
			body.Write(line)
			body.WriteByte('\n')
		}
		return e.postBatch(t, token, "application/x-ndjson", body.Bytes())
	}
	vars := map[string]any{"evs": evs}
	var r gqlResponse
	if via == viaHTTP {
		_, r = e.post(t, token, publishBatchQuery, vars)
	} else {
		r = e.wsMutation(t, via, token, publishBatchQuery, vars)
	}
	out := batchOutcome{index: -1}
	if len(r.Errors) > 0 {
		out.code, _ = r.Errors[0].Extensions["code"].(string)
		out.message = r.Errors[0].Message
		if i, ok := r.Errors[0].Extensions["index"].(float64); ok {
			out.index = int(i)
		}
		return out
	}
	var results []struct {
		Event *struct {
			ID   string
			Data json.RawMessage
		}
		Sequence *uint64
		Error    *struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.Data["publishBatch"], &results); err != nil {
		t.Fatalf("publishBatch answered %s: %v", r.Data["publishBatch"], err)
	}
	for i, res := range results {
		switch {
		case res.Error != nil && res.Event == nil && res.Sequence == nil:
			out.results = append(out.results, batchResult{Code: res.Error.Code})
		case res.Error == nil && res.Event != nil && res.Sequence != nil:
			out.results = append(out.results, batchResult{ID: res.Event.ID, Seq: *res.Sequence, Data: string(res.Event.Data)})
		default:
			t.Fatalf("result %d is neither stored nor failed: %s", i, r.Data["publishBatch"])
		}
	}
	return out
}

// postBatch sends a POST /publish body and reads the answer in one shape.
func (e *env) postBatch(t *testing.T, token, contentType string, body []byte) batchOutcome {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+"/publish", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a struct {
		Stored, Failed int
		Events         []struct {
			ID    string
			Seq   uint64
			Error *struct {
				Message    string
				Extensions map[string]string
			}
		}
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("POST /publish answered %d %s: %v", resp.StatusCode, raw, err)
	}
	out := batchOutcome{index: -1}
	if len(a.Errors) > 0 {
		out.code, _ = a.Errors[0].Extensions["code"].(string)
		out.message = a.Errors[0].Message
		if i, ok := a.Errors[0].Extensions["index"].(float64); ok {
			out.index = int(i)
		}
		if want := map[string]int{"BAD_USER_INPUT": 400, "UNAUTHENTICATED": 401, "FORBIDDEN": 403, "RATE_LIMITED": 429,
			"PAYLOAD_TOO_LARGE": 413, "BATCH_TOO_LARGE": 413}[out.code]; resp.StatusCode != want && !(resp.StatusCode == 415 && out.code == "BAD_USER_INPUT") {
			t.Errorf("POST /publish refused with %s and HTTP %d, want %d", out.code, resp.StatusCode, want)
		}
		return out
	}
	if resp.StatusCode != http.StatusOK || a.Stored+a.Failed != len(a.Events) {
		t.Fatalf("POST /publish answered %d %s", resp.StatusCode, raw)
	}
	for _, ev := range a.Events {
		if ev.Error != nil {
			out.results = append(out.results, batchResult{Code: ev.Error.Extensions["code"]})
			a.Failed--
		} else {
			out.results = append(out.results, batchResult{ID: ev.ID, Seq: ev.Seq})
			a.Stored--
		}
	}
	if a.Stored != 0 || a.Failed != 0 {
		t.Errorf("POST /publish's counts disagree with its events: %s", raw)
	}
	return out
}

// wsMutation runs a mutation over a new WebSocket with proto and returns
// its result, or its errors.
func (e *env) wsMutation(t *testing.T, proto, token, query string, vars map[string]any) gqlResponse {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	c := wstest.Dial(t, e.url, proto, h)
	c.Init()
	c.Subscribe("1", query, vars)
	for {
		m := c.Read(20 * time.Second)
		switch {
		case wstest.IsData(m):
			return wstest.Decode(t, m)
		case m.Type == "error":
			var r gqlResponse
			for _, code := range wstest.ErrorCodes(t, m) {
				r.Errors = append(r.Errors, struct {
					Message    string         `json:"message"`
					Extensions map[string]any `json:"extensions"`
				}{Extensions: map[string]any{"code": code}})
			}
			var list []struct {
				Message    string
				Extensions map[string]any
			}
			if json.Unmarshal(m.Payload, &list) == nil {
				for i := range min(len(list), len(r.Errors)) {
					r.Errors[i].Message, r.Errors[i].Extensions = list[i].Message, list[i].Extensions
				}
			}
			return r
		case m.Type == "complete":
			t.Fatalf("mutation completed without a result")
		}
	}
}

// TestPublishBatch over every surface: one result per event in the
// batch's order, each stored once with its own id at consecutive
// sequences, as one atomic batch; the same batch again (the same keys)
// answers with the same events and stores nothing.
func TestPublishBatch(t *testing.T) {
	for _, via := range batchSurfaces {
		t.Run(via, func(t *testing.T) {
			e := start(t, api.Config{}, replay.Config{})
			evs := batchOf("orders.eu", 40, 0, "k")
			evs[5]["type"] = "placed"
			first := e.publishBatch(t, via, "", evs)
			if first.code != "" || len(first.results) != 40 {
				t.Fatalf("answered %+v", first)
			}
			for i, r := range first.results {
				if r.Code != "" || i > 0 && r.Seq != first.results[i-1].Seq+1 {
					t.Fatalf("event %d: %+v after %+v", i, r, first.results[max(i-1, 0)])
				}
				if via != viaNDJSON && r.Data != fmt.Sprintf(`{"n":%d}`, i) {
					t.Fatalf("event %d answered data %s", i, r.Data)
				}
			}
			history := e.historyIDs(t, "", "orders.eu")
			if !slices.Equal(history, first.storedIDs()) {
				t.Fatalf("stored %v\nanswered %v", history, first.storedIDs())
			}
			evs = append(evs, batchOf("orders.eu", 1, 40, "")...) // one new event, without a key
			again := e.publishBatch(t, via, "", evs)
			if again.code != "" || len(again.results) != 41 {
				t.Fatalf("again: %+v", again)
			}
			if !slices.Equal(again.storedIDs()[:40], first.storedIDs()) || again.results[40].Seq != first.results[39].Seq+1 {
				t.Fatalf("again answered %v\nfirst %v", again.results, first.results)
			}
			if history := e.historyIDs(t, "", "orders.eu"); len(history) != 41 {
				t.Fatalf("the stream holds %d events after the same batch again and one new, want 41", len(history))
			}
		})
	}
}

// TestPublishBatchRefusedWhole over every surface: a batch with an event
// that may not be stored (a forbidden or invalid topic, typed data that
// does not fit its declaration, a bad key, data over the limit), more
// events than a batch may hold or than the principal's rate allows, is
// refused whole, naming the first bad event's index, and stores nothing.
func TestPublishBatchRefusedWhole(t *testing.T) {
	events := declared(t)
	e, key := startAuthWith(t, eventstore.Config{MaxPayload: 64 << 10, Check: events.Check},
		api.Config{Events: events, PublishRate: 0.001, PublishBurst: 200})
	eu := key.Token(t, "eu", authtest.Grants{Publish: []string{"orders.eu", "orders.eu.>"}}, time.Hour)
	admin := key.Token(t, "admin", authtest.Grants{Admin: true}, time.Hour)
	placed := func(lines any) map[string]any {
		return map[string]any{"topic": "orders.eu", "type": "placed", "data": map[string]any{"orderId": "1", "lines": lines}}
	}
	for _, via := range batchSurfaces {
		t.Run(via, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				bad   map[string]any
				at    int
				code  string
				words string
			}{
				{"forbidden topic", map[string]any{"topic": "orders.us", "data": 1}, 3, "FORBIDDEN", "orders.us"},
				{"invalid topic", map[string]any{"topic": "orders..eu", "data": 1}, 0, "BAD_USER_INPUT", "topic"},
				{"typed data", placed([]any{map[string]any{"sku": "a", "qty": "3"}}), 7, "BAD_USER_INPUT", `lines[0].qty: expected Int`},
				{"bad key", map[string]any{"topic": "orders.eu", "data": 1, "idempotencyKey": " k"}, 9, "BAD_USER_INPUT", "idempotency key"},
				{"bad type", map[string]any{"topic": "orders.eu", "type": "", "data": 1}, 4, "BAD_USER_INPUT", "type"},
				{"data too large", map[string]any{"topic": "orders.eu", "data": strings.Repeat("x", 65<<10)}, 1, "PAYLOAD_TOO_LARGE", "limit"},
			} {
				evs := batchOf("orders.eu", 10, 0, "")
				evs[tc.at] = tc.bad
				if tc.name == "data too large" {
					evs = evs[:2] // within the GraphQL endpoint's body limit
				}
				got := e.publishBatch(t, via, eu, evs)
				if got.code != tc.code || got.index != tc.at || !strings.Contains(got.message, tc.words) || got.results != nil {
					t.Errorf("%s: got %s at %d (%q), want %s at %d", tc.name, got.code, got.index, got.message, tc.code, tc.at)
				}
			}
			if got := e.publishBatch(t, via, eu, batchOf("orders.eu", graph.MaxBatch+1, 0, "")); got.code != "BATCH_TOO_LARGE" {
				t.Errorf("%d events: %s (%s), want BATCH_TOO_LARGE", graph.MaxBatch+1, got.code, got.message)
			}
			// eu's burst is 200 and its rate next to nothing: a batch over
			// the burst can never pass; one within it takes its events.
			if got := e.publishBatch(t, via, eu, batchOf("orders.eu", 201, 0, "")); got.code != "BATCH_TOO_LARGE" || !strings.Contains(got.message, "burst of 200") {
				t.Errorf("201 events with a burst of 200: %s (%s)", got.code, got.message)
			}
			if ids := e.historyIDs(t, admin, "orders.eu"); len(ids) != 0 {
				t.Fatalf("refused batches stored %d events", len(ids))
			}
		})
	}
	// Every surface shares eu's rate: 150 events pass, the next 100 are
	// refused (50 left), and nothing of them is stored.
	if got := e.publishBatch(t, viaNDJSON, eu, batchOf("orders.eu", 150, 0, "")); got.code != "" || len(got.storedIDs()) != 150 {
		t.Fatalf("150 events within the burst: %s %s", got.code, got.message)
	}
	for _, via := range batchSurfaces {
		if got := e.publishBatch(t, via, eu, batchOf("orders.eu", 100, 0, "")); got.code != "RATE_LIMITED" {
			t.Errorf("%s: 100 events with 50 left of the rate: %s %s", via, got.code, got.message)
		}
	}
	if got := e.publishBatch(t, viaHTTP, eu, batchOf("orders.eu", 50, 150, "")); got.code != "" || len(got.storedIDs()) != 50 {
		t.Errorf("the 50 events left of the rate: %s %s", got.code, got.message)
	}
	if ids := e.historyIDs(t, admin, "orders.eu"); len(ids) != 200 {
		t.Fatalf("the stream holds %d events, want 200", len(ids))
	}
}

// TestPublishBatchOneBadEvent over every surface: an event refused when
// stored (its key used for another event, before or earlier in the same
// batch) fails alone with its code; its neighbours are stored, in order,
// and the key's original event is not stored again.
func TestPublishBatchOneBadEvent(t *testing.T) {
	for _, via := range batchSurfaces {
		t.Run(via, func(t *testing.T) {
			e := start(t, api.Config{}, replay.Config{})
			first := e.publishBatch(t, via, "", []map[string]any{{"topic": "t", "data": 1, "idempotencyKey": "old"}})
			evs := batchOf("t", 30, 100, "new")
			evs[3]["idempotencyKey"] = "old"                                           // another event under a stored key
			evs[12]["idempotencyKey"] = "new-10"                                       // repeated in the batch, other data
			evs[20] = map[string]any{"topic": "t", "data": 1, "idempotencyKey": "old"} // the stored event again
			got := e.publishBatch(t, via, "", evs)
			if got.code != "" || len(got.results) != 30 {
				t.Fatalf("answered %+v", got)
			}
			var want []string
			want = append(want, first.storedIDs()...)
			for i, r := range got.results {
				switch i {
				case 3, 12:
					if r.Code != "IDEMPOTENCY_KEY_REUSED" {
						t.Errorf("event %d: %+v, want IDEMPOTENCY_KEY_REUSED", i, r)
					}
				case 20:
					if r.Code != "" || r.ID != first.results[0].ID || r.Seq != first.results[0].Seq {
						t.Errorf("event 20, the stored event again: %+v, want %+v", r, first.results[0])
					}
				default:
					if r.Code != "" {
						t.Errorf("event %d: %+v", i, r)
					}
					want = append(want, r.ID)
				}
			}
			if ids := e.historyIDs(t, "", "t"); !slices.Equal(ids, want) {
				t.Errorf("stored %v\nwant %v", ids, want)
			}
		})
	}
}

// TestPublishBatchDocument: publishBatch is one of its document's appends:
// a refused event refuses the other fields' appends too, nothing stored; a batch
// whose results would render past --max-response-bytes, or cost past
// --max-complexity, is refused before it runs; and a later field's failure
// lists the batch's stored events in extensions.stored.
func TestPublishBatchDocument(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	eu := key.Token(t, "eu", authtest.Grants{Publish: []string{"orders.eu"}}, time.Hour)
	admin := key.Token(t, "admin", authtest.Grants{Admin: true}, time.Hour)
	evs := batchOf("orders.eu", 3, 0, "")
	evs[2]["topic"] = "orders.us"
	_, r := e.post(t, eu, `mutation($evs: [PublishInput!]!) { a: publish(topic: "orders.eu", data: 1) { id } b: publishBatch(events: $evs) { sequence } }`, map[string]any{"evs": evs})
	if got := codes(r); !slices.Equal(got, []string{"FORBIDDEN"}) || r.Errors[0].Extensions["index"] != float64(2) || !strings.HasPrefix(r.Errors[0].Message, "b (publishBatch): event 2: ") {
		t.Errorf("a document with a forbidden event in its batch: %+v", r.Errors)
	}
	// One event given for the list is a list of it, and is checked as one.
	for _, q := range []struct {
		doc  string
		vars map[string]any
	}{
		{`mutation { publishBatch(events: {topic: "orders.us", data: 1}) { sequence } }`, nil},
		{`mutation($evs: [PublishInput!]!) { publishBatch(events: $evs) { sequence } }`, map[string]any{"evs": map[string]any{"topic": "orders.us", "data": 1}}},
	} {
		_, r = e.post(t, eu, q.doc, q.vars)
		if got := codes(r); !slices.Equal(got, []string{"FORBIDDEN"}) || r.Errors[0].Extensions["index"] != float64(0) {
			t.Errorf("one forbidden event given for the list: %+v %s", r.Errors, r.Data["publishBatch"])
		}
	}
	if ids := e.historyIDs(t, admin, "orders.eu"); len(ids) != 0 {
		t.Fatalf("a refused document stored %v", ids)
	}
	if ids := e.historyIDs(t, admin, "orders.us"); len(ids) != 0 {
		t.Fatalf("a forbidden event was stored: %v", ids)
	}

	// 64 KiB of payload: the response limit is 512 KiB. Three events of
	// 50 KiB rendered four times each would be 600 KiB.
	big := batchOf("orders.eu", 3, 0, "")
	for _, ev := range big {
		ev["data"] = strings.Repeat("x", 50<<10)
	}
	_, r = e.post(t, eu, `mutation($evs: [PublishInput!]!) { publishBatch(events: $evs) { event { a: data b: data c: data d: data } } }`, map[string]any{"evs": big})
	if got := codes(r); !slices.Equal(got, []string{"RESPONSE_TOO_LARGE"}) {
		t.Errorf("a batch rendering 600 KiB: %+v", r.Errors)
	}
	_, r = e.post(t, eu, `mutation($evs: [PublishInput!]!) { publishBatch(events: $evs) { event { a: data } } }`, map[string]any{"evs": big})
	if len(r.Errors) > 0 {
		t.Errorf("a batch rendering its data once: %+v", r.Errors)
	}

	_, r = e.post(t, eu, `mutation($evs: [PublishInput!]!) { b: publishBatch(events: $evs) { sequence } c: publish(topic: "orders.eu", data: 2, idempotencyKey: "k") { id } }`,
		map[string]any{"evs": []map[string]any{{"topic": "orders.eu", "data": 1, "idempotencyKey": "k"}, {"topic": "orders.eu", "data": 3}}})
	stored, _ := r.Errors[0].Extensions["stored"].([]any)
	if got := codes(r); !slices.Equal(got, []string{"IDEMPOTENCY_KEY_REUSED"}) || len(stored) != 2 || fmt.Sprint(stored[1].(map[string]any)["path"]) != "b[1]" {
		t.Errorf("a publish failing after a batch: %+v", r.Errors)
	}
	// A key is its principal's own: the admin's same key stores its own
	// event; eu's again answers with eu's.
	keyK := []map[string]any{{"topic": "orders.eu", "data": 1, "idempotencyKey": "k"}}
	mine, again := e.publishBatch(t, viaNDJSON, admin, keyK), e.publishBatch(t, viaNDJSON, eu, keyK)
	if id := fmt.Sprint(stored[0].(map[string]any)["id"]); len(mine.storedIDs()) != 1 || mine.results[0].ID == id || len(again.storedIDs()) != 1 || again.results[0].ID != id {
		t.Errorf("eu's key k (event %s) used by the admin: %+v; by eu again: %+v", id, mine, again)
	}

	small := start(t, api.Config{Limits: graph.Limits{MaxComplexity: 1000}}, replay.Config{})
	for _, tc := range []struct {
		n    int
		code string
	}{{100, ""}, {400, "COMPLEXITY_LIMIT_EXCEEDED"}} {
		r := small.query(t, `mutation($evs: [PublishInput!]!) { publishBatch(events: $evs) { event { id topic type } sequence } }`, map[string]any{"evs": batchOf("t", tc.n, 0, "")})
		if got := codes(r); tc.code == "" && len(got) > 0 || tc.code != "" && !slices.Equal(got, []string{tc.code}) {
			t.Errorf("%d events selecting five fields each: %v, want %q", tc.n, got, tc.code)
		}
	}
}

// TestPublishRoute: POST /publish's own rules: NDJSON only, blank lines
// skipped, line numbers in errors, no unknown field, data required, the
// body and count bounds, a token required like every route's, and an
// empty batch stores nothing.
func TestPublishRoute(t *testing.T) {
	e, key := startAuth(t, api.Config{})
	token := key.Token(t, "w", authtest.Grants{Publish: []string{">"}}, time.Hour)
	admin := key.Token(t, "admin", authtest.Grants{Admin: true}, time.Hour)
	for _, tc := range []struct {
		name, ctype, body, code string
		index                   int
		words                   string
	}{
		{"json", "application/json", `{"topic":"t","data":1}`, "BAD_USER_INPUT", -1, "application/x-ndjson"},
		{"not json", "application/x-ndjson", "{\"topic\":\"t\",\"data\":1}\n\n{\"topic\":\"t\",\n", "BAD_USER_INPUT", 1, "event 1 (line 3)"},
		{"unknown field", "application/x-ndjson", `{"topic":"t","data":1}` + "\n" + `{"topic":"t","data":1,"idempotency_key":"k"}`, "BAD_USER_INPUT", 1, "idempotency_key"},
		{"no data", "application/x-ndjson", `{"topic":"t"}`, "BAD_USER_INPUT", 0, "data is required"},
		{"null data", "application/x-ndjson", `{"topic":"t","data":null}`, "BAD_USER_INPUT", 0, "data is required"},
		{"two values", "application/x-ndjson", `{"topic":"t","data":1} {"topic":"t","data":2}`, "BAD_USER_INPUT", 0, "more than one"},
		{"not an object", "application/x-ndjson", `[1,2]`, "BAD_USER_INPUT", 0, "not an event"},
		{"over two lines", "application/x-ndjson", "{\"topic\":\"t\",\"data\":1}\n{\"topic\":\"t\",\n\"data\":1}", "BAD_USER_INPUT", 1, "event 1 (line 2): bad input: an event spans several lines"},
		{"too many", "application/x-ndjson", strings.Repeat(`{"topic":"t","data":1}`+"\n", graph.MaxBatch+1), "BATCH_TOO_LARGE", -1, "more than 1000 events"},
		{"too large", "application/x-ndjson", `{"topic":"t","data":"` + strings.Repeat("x", 9<<20) + `"}`, "PAYLOAD_TOO_LARGE", -1, "limit"},
	} {
		got := e.postBatch(t, token, tc.ctype, []byte(tc.body))
		if got.code != tc.code || got.index != tc.index || !strings.Contains(got.message, tc.words) {
			t.Errorf("%s: %s at %d (%q), want %s at %d", tc.name, got.code, got.index, got.message, tc.code, tc.index)
		}
	}
	if got := e.postBatch(t, "", "application/x-ndjson", []byte(`{"topic":"t","data":1}`)); got.code != "UNAUTHENTICATED" {
		t.Errorf("no token: %s", got.code)
	}
	if got := e.postBatch(t, token, "application/x-ndjson", []byte("\n \n")); got.code != "" || len(got.results) != 0 {
		t.Errorf("an empty batch: %+v", got)
	}
	if ids := e.historyIDs(t, admin, "t"); len(ids) != 0 {
		t.Fatalf("refused bodies stored %v", ids)
	}
	// CRLF line ends, a type, a key and default type; application/jsonl too.
	got := e.postBatch(t, token, "application/jsonl; charset=utf-8", []byte("{\"topic\":\"t\",\"type\":\"placed\",\"data\":{\"a\":1},\"idempotencyKey\":\"k1\"}\r\n{\"topic\":\"t\",\"data\":[1]}\r\n"))
	if got.code != "" || len(got.storedIDs()) != 2 {
		t.Fatalf("two CRLF lines: %+v", got)
	}
	_, r := e.post(t, admin, `{ events(topic: "t") { edges { node { id type data } } } }`, nil)
	if want := fmt.Sprintf(`{"edges":[{"node":{"id":%q,"type":"placed","data":{"a":1}}},{"node":{"id":%q,"type":"message","data":[1]}}]}`, got.results[0].ID, got.results[1].ID); string(r.Data["events"]) != want {
		t.Errorf("stored %s\nwant %s", r.Data["events"], want)
	}
}
