package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
	"github.com/rewind-dev/rewind/transport/connlimit"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// fuzzConfig serves the fuzz targets: limits high enough that sockets the
// server has not yet seen close never refuse the next input's, and an
// init timeout short enough that an input that never initialises costs
// little.
var fuzzConfig = api.Config{Connections: connlimit.Config{Max: 1 << 20, PerAddress: 1 << 20}, WebSocket: gqlws.Config{InitTimeout: 500 * time.Millisecond}}

// frameSep separates the frames of one FuzzWebSocketFrames input.
const frameSep = "\x1e"

// closeCodes are the codes the WebSocket transport closes with (README's
// table); anything else is a broken promise.
var closeCodes = []int{
	websocket.CloseNormalClosure, websocket.CloseMessageTooBig, websocket.CloseInternalServerErr,
	4400, 4401, 4403, 4408, 4409, 4429, 4500,
}

// serverTypes are the message types each subprotocol's server sends.
var serverTypes = map[string][]string{
	wstest.TransportWS: {"connection_ack", "ping", "pong", "next", "error", "complete"},
	wstest.LegacyWS:    {"connection_ack", "connection_error", "ka", "data", "error", "complete"},
}

// probeID is the id of the operation that asks, after an input's frames,
// whether the legacy server still answers (the legacy protocol has no ping).
const probeID = "\x00probe"

// FuzzWebSocketFrames: whatever frames a client sends, after
// connection_init or not, over either subprotocol, the server answers only
// with messages of that subprotocol (errors each with an extensions.code)
// or closes with a code of its table, and keeps serving: a ping sent after
// the frames is answered, or the next connection is.
//
// A frame starting with NUL goes as a binary frame; frames are separated
// by 0x1e.
func FuzzWebSocketFrames(f *testing.F) {
	for _, s := range []struct {
		legacy, init bool
		frames       []string
	}{
		{false, true, []string{`{"type":"subscribe","id":"1","payload":{"query":"mutation{ publish(topic:\"x\", data: 1e400){ id } }"}}`}},
		{true, true, []string{`{"type":"start","id":"1","payload":{"query":"mutation{ publish(topic:\"x\", data: 1e400){ id } }"}}`}},
		{false, true, []string{`{"type":"subscribe","id":"1","payload":{"query":"{ hello }"}}`, `{"type":"complete","id":"1"}`}},
		{false, true, []string{`{"type":"subscribe","id":"c","payload":{"query":"subscription { count(target: 2, intervalMs: 100) }"}}`}},
		{false, true, []string{`{"type":"subscribe","id":"e","payload":{"query":"subscription { events(topics: [\"t\"]) { id data } }"}}`, `{"type":"complete","id":"e"}`}},
		{false, true, []string{`{"type":"subscribe","id":"1","payload":{"query":"subscription { count(target: 99999999999999999999) }"}}`}},
		{false, true, []string{`{"type":"subscribe","id":"1","payload":{"query":"mutation($d: JSON!) { publish(topic: \"t\", data: $d) { id } }","variables":{"d":1e400}}}`}},
		{false, true, []string{`{"type":"subscribe","id":"1","payload":{"query":"mutation { publish(topic: \"t\", data: ` + strings.Repeat("[", 1200) + strings.Repeat("]", 1200) + `) { id } }"}}`}},
		{false, true, []string{`{"type":"ping","payload":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`}},
		{false, true, []string{`{"type":"subscribe","id":"\xff\xfe","payload":{"query":"{ hello }"}}`}},
		{false, true, []string{"{\"type\":\"subscribe\",\"id\":\"\u2028\",\"payload\":{\"query\":\"{ h\u00e9llo }\"}}"}},
		{false, false, []string{`{"type":"connection_init","payload":{"a":1e999}}`}},
		{false, false, []string{`{"type":"subscribe","id":"1","payload":{"query":"{ hello }"}}`}},
		{false, true, []string{`{"type":"connection_init"}`}},
		{false, true, []string{`{nope`}},
		{false, true, []string{"\x00\x01\x02"}},
		{false, true, []string{`{"type":"subscribe","id":"d","payload":{"query":"subscription { count }"}}`, `{"type":"subscribe","id":"d","payload":{"query":"subscription { count }"}}`}},
		{true, false, []string{`{"type":"start","id":"1","payload":{"query":"{ hello }"}}`}},
		{true, true, []string{`{"type":"start","id":"1","payload":{"query":"subscription { count(intervalMs: 100) }"}}`, `{"type":"stop","id":"1"}`}},
		{true, true, []string{`{"type":"connection_terminate"}`}},
		{true, false, []string{`{"type":"connection_init","payload":[1]}`}},
		{true, true, []string{`{"type":"bogus"}`, `{`, `null`, `[]`, `{"type":1}`}},
	} {
		f.Add(s.legacy, s.init, []byte(strings.Join(s.frames, frameSep)))
	}
	e := start(f, fuzzConfig, replay.Config{})
	f.Fuzz(func(t *testing.T, legacy, init bool, input []byte) {
		proto := wstest.TransportWS
		if legacy {
			proto = wstest.LegacyWS
		}
		c := dialWS(t, e.url, proto)
		defer c.Close()
		if init {
			if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"connection_init","payload":{}}`)); err != nil {
				t.Fatalf("connection_init: %v", err)
			}
		}
		for _, frame := range strings.Split(string(input), frameSep) {
			typ := websocket.TextMessage
			if strings.HasPrefix(frame, "\x00") {
				typ = websocket.BinaryMessage
			}
			if c.WriteMessage(typ, []byte(frame)) != nil {
				break // closed by the server: the reads say why
			}
		}
		probe := `{"type":"ping","payload":{"probe":true}}`
		if legacy {
			probe = `{"type":"start","id":` + mustJSON(probeID) + `,"payload":{"query":"{ hello }"}}`
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(probe))
		if answered := readAnswers(t, c, proto); !answered {
			// The socket closed with a code of the table: the server
			// still serves the next connection.
			next := dialWS(t, e.url, wstest.TransportWS)
			defer next.Close()
			_ = next.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","payload":{"probe":true}}`))
			if !readAnswers(t, next, wstest.TransportWS) {
				t.Fatal("the next connection's ping got no pong")
			}
		}
	})
}

func dialWS(t *testing.T, endpoint, proto string) *websocket.Conn {
	t.Helper()
	c, err := wstest.TryDial(endpoint, proto, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

// readAnswers reads until the probe is answered (true) or the server
// closes with a code of its table (false), checking each message.
func readAnswers(t *testing.T, c *websocket.Conn, proto string) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, data, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || !slices.Contains(closeCodes, ce.Code) {
				t.Fatalf("read: %v, want a message or a close code of %v", err, closeCodes)
			}
			return false
		}
		var m struct {
			Type    string          `json:"type"`
			ID      *string         `json:"id"`
			Payload json.RawMessage `json:"payload"`
		}
		if typ != websocket.TextMessage || json.Unmarshal(data, &m) != nil || !slices.Contains(serverTypes[proto], m.Type) {
			t.Fatalf("%s server sent %q", proto, data)
		}
		id := ""
		if m.ID != nil {
			id = *m.ID
		}
		switch m.Type {
		case "next", "data", "error", "complete":
			if id == "" {
				t.Fatalf("%s without an id: %s", m.Type, data)
			}
		}
		if m.Type == "error" {
			checkErrorPayload(t, proto, data, m.Payload)
		}
		if m.Type == "next" || m.Type == "data" {
			var r struct {
				Data   json.RawMessage   `json:"data"`
				Errors []json.RawMessage `json:"errors"`
			}
			if json.Unmarshal(m.Payload, &r) != nil || (r.Data == nil && len(r.Errors) == 0) {
				t.Fatalf("result without data or errors: %s", data)
			}
			for _, e := range r.Errors {
				checkError(t, data, e)
			}
		}
		switch {
		case proto == wstest.TransportWS && m.Type == "pong" && string(m.Payload) == `{"probe":true}`:
			return true
		case proto == wstest.LegacyWS && id == probeID && m.Type != "complete":
			return true
		}
	}
}

// checkErrorPayload checks an error message's payload: a list of errors
// (graphql-transport-ws) or one error (graphql-ws).
func checkErrorPayload(t *testing.T, proto string, msg, payload []byte) {
	t.Helper()
	if proto == wstest.LegacyWS {
		checkError(t, msg, payload)
		return
	}
	var list []json.RawMessage
	if json.Unmarshal(payload, &list) != nil || len(list) == 0 {
		t.Fatalf("error payload not a list of errors: %s", msg)
	}
	for _, e := range list {
		checkError(t, msg, e)
	}
}

// checkError checks one GraphQL error has a message and an extensions.code.
func checkError(t *testing.T, msg, raw []byte) {
	t.Helper()
	var e struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Message == "" {
		t.Fatalf("not a GraphQL error: %s in %s", raw, msg)
	}
	if code, _ := e.Extensions["code"].(string); code == "" {
		t.Fatalf("error without extensions.code: %s in %s", raw, msg)
	}
}

// FuzzSSE: whatever a client sends to the SSE transport (a POST body, or
// a GET query string, with any Last-Event-ID and Accept), the answer is
// well formed: an event stream of next and complete events whose data is
// a GraphQL response (errors coded), or a JSON error with a code; never a
// server error. A request the SSE transport does not take (Accept without
// text/event-stream) gets JSON, or GraphiQL's page.
func FuzzSSE(f *testing.F) {
	const sseAccept = "text/event-stream"
	for _, s := range []struct {
		get                bool
		body, last, accept string
	}{
		{false, `{"query":"{ hello }"}`, "", sseAccept},
		{true, `query=` + url.QueryEscape(`{ hello }`), "", sseAccept},
		{false, `{"query":"mutation{ publish(topic:\"x\", data: 1e400){ id } }"}`, "", sseAccept},
		{true, `query=` + url.QueryEscape(`mutation{ publish(topic:"x", data: 1e400){ id } }`), "", sseAccept},
		{false, `{"query":"subscription { count(target: 2, intervalMs: 100) }"}`, "", sseAccept},
		{false, `{"query":"subscription { count(target: 99999999999999999999) }"}`, "", sseAccept},
		{false, `{"query":"subscription { events(topics: [\"t\"]) { id } }"}`, "01M8AB89FQ5872B2PCN7G5GKBA", sseAccept},
		{true, `query=` + url.QueryEscape(`subscription { events(topics: ["t"]) { id } }`), "not-a-ulid", "text/event-stream;q=0.9, */*"},
		{false, `{"query":"mutation { publish(topic: \"t\", data: ` + strings.Repeat("[", 1200) + strings.Repeat("]", 1200) + `) { id } }"}`, "", sseAccept},
		{false, `{"query":"mutation($d: JSON!) { publish(topic: \"t\", data: $d) { id } }","variables":{"d":` + strings.Repeat("{\"a\":", 500) + "1" + strings.Repeat("}", 500) + `}}`, "", sseAccept},
		{true, `query=%7B+hello+%7D&variables=%7B%22a%22%3A1e400%7D`, "", sseAccept},
		{false, `{"query":"{ hello }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"x"}}}`, "", sseAccept},
		{false, "{\"query\":\"{ h\u00e9llo \xff }\"}", "\u00e9", sseAccept},
		{false, `{"query":`, "", sseAccept},
		{false, `null`, "", sseAccept},
		{true, `variables=%7B`, "", sseAccept},
		{false, `{"query":"{ hello }"}`, "", "application/json"},
		{true, ``, "", "text/html"},
	} {
		f.Add(s.get, []byte(s.body), s.last, s.accept)
	}
	e := start(f, fuzzConfig, replay.Config{})
	f.Fuzz(func(t *testing.T, get bool, body []byte, lastEventID, accept string) {
		if !validHeader(lastEventID) || !validHeader(accept) {
			t.Skip("not a header value an HTTP client sends")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		var req *http.Request
		if get {
			// Re-encoded: net/http itself answers a malformed request line.
			q, err := url.ParseQuery(string(body))
			if err != nil {
				t.Skip("not a query string")
			}
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, e.url+"?"+q.Encode(), nil)
		} else {
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil && !sseTakes(req) && errors.Is(err, context.DeadlineExceeded) {
			return // a subscription over plain POST or GET waits for its first event
		}
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		defer resp.Body.Close()
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		switch {
		case mt == "text/event-stream":
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("event stream with status %d", resp.StatusCode)
			}
			checkEventStream(t, resp)
		case mt == "application/json" || mt == "application/graphql-response+json":
			var r struct {
				Data   json.RawMessage   `json:"data"`
				Errors []json.RawMessage `json:"errors"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				t.Fatalf("status %d: JSON body: %v", resp.StatusCode, err)
			}
			if sseTakes(req) {
				// Refused before the stream opened: a coded error, and
				// never a server error.
				if resp.StatusCode < 400 || resp.StatusCode >= 500 || len(r.Errors) == 0 {
					t.Fatalf("SSE request answered %d with %s", resp.StatusCode, r.Errors)
				}
				for _, e := range r.Errors {
					checkError(t, nil, e)
				}
			}
		case mt == "text/html" && get && req.URL.RawQuery == "":
			// GraphiQL, for a browser that asks for a page.
		default:
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}

// sseTakes reports whether the SSE transport serves req (its Supports).
func sseTakes(req *http.Request) bool {
	for _, part := range strings.Split(req.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
			return true
		}
	}
	return false
}

func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}

// checkEventStream reads a stream until it ends or the request's deadline
// passes (a live subscription), checking every complete event block.
func checkEventStream(t *testing.T, resp *http.Response) {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 4<<20)
	var name string
	var data []string
	completed := false
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "":
				// a comment: keep-alive
			case "event":
				name = value
			case "data":
				data = append(data, value)
			case "id", "retry":
			default:
				t.Fatalf("unknown field in %q", line)
			}
			continue
		}
		switch name {
		case "":
			if len(data) > 0 {
				t.Fatalf("data without an event name: %q", data)
			}
		case "next":
			if completed || len(data) != 1 {
				t.Fatalf("next after complete, or %d data lines", len(data))
			}
			var r struct {
				Data   json.RawMessage   `json:"data"`
				Errors []json.RawMessage `json:"errors"`
			}
			if json.Unmarshal([]byte(data[0]), &r) != nil || (r.Data == nil && len(r.Errors) == 0) {
				t.Fatalf("next data is not a GraphQL response: %q", data[0])
			}
			for _, e := range r.Errors {
				checkError(t, []byte(data[0]), e)
			}
		case "complete":
			completed = true
		default:
			t.Fatalf("event %q", name)
		}
		name, data = "", nil
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline exceeded") && !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("reading the stream: %v", err)
	}
}
