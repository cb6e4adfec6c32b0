package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/faultschema"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/transport/connlimit"
	"github.com/rewind-dev/rewind/transport/sse"
)

type faultServer struct {
	url    string
	schema *faultschema.Schema
	logs   *testenv.SyncBuffer
}

func startFault(t *testing.T, cfg sse.Config) *faultServer {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	schema := faultschema.New()
	srv := httptest.NewServer(schema.Handler(sse.New(cfg)))
	t.Cleanup(func() {
		schema.Release()
		srv.CloseClientConnections()
		srv.Close()
	})
	return &faultServer{url: srv.URL, schema: schema, logs: logs}
}

type event struct{ name, data string }

// get sends query as EventSource does and returns the response.
func get(t *testing.T, ctx context.Context, base, query string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+url.Values{"query": {query}}.Encode(), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// events reads a stream to its end.
func events(t *testing.T, resp *http.Response) []event {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, ct)
	}
	var out []event
	var ev event
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				out = append(out, ev)
			}
			ev = event{}
		case strings.HasPrefix(line, "event:"):
			ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			ev.data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	return out
}

func errorCodes(t *testing.T, data string) []string {
	t.Helper()
	var r struct {
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		t.Fatalf("data %q: %v", data, err)
	}
	var codes []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		codes = append(codes, c)
	}
	return codes
}

// TestPanicEndsOnlyItsRequest: a panic while gqlgen creates the
// operation's context, in Exec (on the request's goroutine) or in the
// response handler (on the goroutine that pulls responses) ends that
// request as an execution error does, a next event with an
// INTERNAL_SERVER_ERROR error and then complete, logged once with its
// stack; the server goes on.
func TestPanicEndsOnlyItsRequest(t *testing.T) {
	s := startFault(t, sse.Config{})
	fields := []string{"costly", "boom", "later"}
	for _, field := range fields {
		evs := events(t, get(t, context.Background(), s.url, "{ "+field+" }"))
		if len(evs) != 2 || evs[0].name != "next" || !slices.Equal(errorCodes(t, evs[0].data), []string{sse.CodeInternal}) || evs[1].name != "complete" {
			t.Fatalf("%s: %+v", field, evs)
		}
	}
	if evs := events(t, get(t, context.Background(), s.url, "{ ok }")); len(evs) != 2 || evs[0].data != `{"data":{"ok":1}}` {
		t.Fatalf("{ ok } after the panics: %+v", evs)
	}
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec["msg"].(string), "sse: panic") {
			recs = append(recs, rec)
		}
	}
	if len(recs) != len(fields) {
		t.Fatalf("%d panic records, want %d:\n%s", len(recs), len(fields), s.logs)
	}
	for i, rec := range recs {
		if rec["level"] != "ERROR" || !strings.Contains(rec["stack"].(string), "faultschema") || !strings.Contains(rec["panic"].(string), fields[i]) {
			t.Errorf("record %d: %v", i, rec)
		}
	}
}

// TestStreamsCountAgainstTheLimit: an open stream holds one of its
// address's connections until it ends; past the limit a request is
// refused with 429 and a GraphQL error coded TOO_MANY_CONNECTIONS.
func TestStreamsCountAgainstTheLimit(t *testing.T) {
	conns := connlimit.New(connlimit.Config{PerAddress: 1})
	s := startFault(t, sse.Config{Connections: conns})
	ctx, cancel := context.WithCancel(context.Background())
	open := get(t, ctx, s.url, "subscription { blocked }")
	if open.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", open.StatusCode)
	}
	<-s.schema.Started()
	refused := get(t, context.Background(), s.url, "{ ok }")
	var body struct {
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(refused.Body).Decode(&body); err != nil || refused.StatusCode != http.StatusTooManyRequests ||
		len(body.Errors) != 1 || body.Errors[0].Extensions["code"] != connlimit.Code {
		t.Fatalf("second stream: %d %+v %v", refused.StatusCode, body, err)
	}
	cancel()
	s.schema.Release()
	testenv.Eventually(t, 5*time.Second, "the stream's connection released", func() bool { return conns.Open() == 0 })
	if evs := events(t, get(t, context.Background(), s.url, "{ ok }")); len(evs) != 2 {
		t.Fatalf("after the stream ended: %+v", evs)
	}
}
