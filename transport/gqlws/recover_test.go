package gqlws_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/faultschema"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

var protos = []string{wstest.TransportWS, wstest.LegacyWS}

type faultServer struct {
	url    string
	schema *faultschema.Schema
	logs   *testenv.SyncBuffer
}

// startFault serves the fault schema over gqlws with cfg, logging JSON
// lines from info level up into logs.
func startFault(t *testing.T, cfg gqlws.Config) *faultServer {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	schema := faultschema.New()
	srv := httptest.NewServer(schema.Handler(gqlws.New(cfg)))
	t.Cleanup(func() {
		schema.Release()
		srv.CloseClientConnections()
		srv.Close()
	})
	return &faultServer{url: srv.URL, schema: schema, logs: logs}
}

// records returns the log records whose message starts with prefix.
func (s *faultServer) records(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, rec)
		}
	}
	return out
}

// dialInit connects and initialises.
func dialInit(t *testing.T, url, proto string, h http.Header) *wstest.Client {
	t.Helper()
	c := wstest.Dial(t, url, proto, h)
	c.Init()
	return c
}

// readRaw returns the next message as sent, pings and keep-alives included.
func readRaw(t *testing.T, c *wstest.Client) wstest.Message {
	t.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m wstest.Message
	if err := c.Conn.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// expectOK runs { ok } as operation id and checks it answers and
// completes: the connection still serves operations.
func expectOK(t *testing.T, c *wstest.Client, id string) {
	t.Helper()
	c.Subscribe(id, `{ ok }`, nil)
	if m := c.Read(5 * time.Second); !wstest.IsData(m) || m.ID != id || string(wstest.Decode(t, m).Data["ok"]) != "1" {
		t.Fatalf("{ ok }: %s %s %s", m.Type, m.ID, m.Payload)
	}
	if m := c.Read(5 * time.Second); m.Type != "complete" || m.ID != id {
		t.Fatalf("{ ok } end: %s %s", m.Type, m.ID)
	}
}

func expectInternalError(t *testing.T, m wstest.Message, id string) {
	t.Helper()
	if m.Type != "error" || m.ID != id || !slices.Equal(wstest.ErrorCodes(t, m), []string{gqlws.CodeInternal}) {
		t.Fatalf("%s: got %s %s %s, want error with code %s", id, m.Type, m.ID, m.Payload, gqlws.CodeInternal)
	}
}

// expectClose reads until the server closes with code.
func expectClose(t *testing.T, c *wstest.Client, code int) {
	t.Helper()
	for {
		_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.Conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("got %v, want close %d", err, code)
		}
		return
	}
}

// TestPanicEndsOnlyItsOperation: a panic while gqlgen creates the
// operation's context (where gqlparser panicked on 1e400), in Exec, or in
// the response handler ends that operation with an INTERNAL_SERVER_ERROR
// error, logged once with its stack; the connection goes on serving, and
// so does the server for other clients.
func TestPanicEndsOnlyItsOperation(t *testing.T) {
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			s := startFault(t, gqlws.Config{})
			other := wstest.Dial(t, s.url, proto, nil)
			other.Init()
			c := wstest.Dial(t, s.url, proto, nil)
			c.Init()
			fields := []string{"costly", "boom", "later"}
			for _, field := range fields {
				c.Subscribe(field, "{ "+field+" }", nil)
				expectInternalError(t, c.Read(5*time.Second), field)
				expectOK(t, c, "ok-"+field)
			}
			expectOK(t, other, "other")
			expectOK(t, dialInit(t, s.url, proto, nil), "new")

			recs := s.records(t, "websocket: panic")
			if len(recs) != len(fields) {
				t.Fatalf("%d panic records, want one per panic (%d):\n%s", len(recs), len(fields), s.logs)
			}
			for i, rec := range recs {
				stack, _ := rec["stack"].(string)
				if rec["level"] != "ERROR" || !strings.Contains(stack, "faultschema") || !strings.Contains(rec["panic"].(string), fields[i]) {
					t.Errorf("record %d: %v", i, rec)
				}
			}
		})
	}
}

// TestPanicInNativeStream: a stream whose Drain panics after emitting two
// results: both go out whole, then an INTERNAL_SERVER_ERROR error ends the
// subscription, and the connection goes on.
func TestPanicInNativeStream(t *testing.T) {
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			s := startFault(t, gqlws.Config{})
			c := wstest.Dial(t, s.url, proto, nil)
			c.Init()
			c.Subscribe("s", `subscription { stream }`, nil)
			for _, want := range []string{"1", "2"} {
				if m := c.Read(5 * time.Second); !wstest.IsData(m) || m.ID != "s" || string(wstest.Decode(t, m).Data["stream"]) != want {
					t.Fatalf("result %s: %s %s %s", want, m.Type, m.ID, m.Payload)
				}
			}
			expectInternalError(t, c.Read(5*time.Second), "s")
			expectOK(t, c, "ok")
			if recs := s.records(t, "websocket: panic"); len(recs) != 1 || !strings.Contains(recs[0]["stack"].(string), "faultschema") {
				t.Fatalf("panic records: %v", recs)
			}
		})
	}
}

// TestPanicInInitFunc: a panicking InitFunc runs on the connection's
// reader, whose state nothing then vouches for: the socket closes 1011,
// and the next connection is served.
func TestPanicInInitFunc(t *testing.T) {
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			s := startFault(t, gqlws.Config{InitFunc: func(ctx context.Context, payload map[string]any) (context.Context, time.Time, error) {
				if payload["boom"] != nil {
					panic("InitFunc panics")
				}
				return ctx, time.Time{}, nil
			}})
			c := wstest.Dial(t, s.url, proto, nil)
			c.Send(wstest.Message{Type: "connection_init", Payload: json.RawMessage(`{"boom":1}`)})
			expectClose(t, c, websocket.CloseInternalServerErr)
			expectOK(t, dialInit(t, s.url, proto, nil), "next")
			if recs := s.records(t, "websocket: panic"); len(recs) != 1 || !strings.Contains(recs[0]["stack"].(string), "InitFunc") {
				t.Fatalf("panic records: %v", recs)
			}
		})
	}
}

// TestNothingAfterClientComplete: a client that completes (stop on
// graphql-ws) a subscription while its resolver is still starting hears
// nothing more of it, not even the error the resolver returns once it
// sees its context cancelled; an operation the client left running gets
// its error.
func TestNothingAfterClientComplete(t *testing.T) {
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			s := startFault(t, gqlws.Config{})
			c := wstest.Dial(t, s.url, proto, nil)
			c.Init()
			const n = 10
			var stopped []string
			for i := range n {
				stopped = append(stopped, "b"+string(rune('0'+i)))
			}
			for _, id := range append(slices.Clone(stopped), "kept") {
				c.Subscribe(id, `subscription { blocked }`, nil)
				<-s.schema.Started()
			}
			for _, id := range stopped {
				c.Stop(id)
				if proto == wstest.LegacyWS {
					// The legacy server answers stop with complete.
					if m := c.Read(5 * time.Second); m.Type != "complete" || m.ID != id {
						t.Fatalf("stop %s: %s %s %s", id, m.Type, m.ID, m.Payload)
					}
				}
			}
			// The reader handles messages in order: once the ping is
			// answered (or the query done), every stop has been handled.
			barrier := func() []wstest.Message {
				var seen []wstest.Message
				if proto == wstest.TransportWS {
					c.Send(wstest.Message{Type: "ping"})
					for m := readRaw(t, c); m.Type != "pong"; m = readRaw(t, c) {
						seen = append(seen, m)
					}
					return seen
				}
				c.Subscribe("q", `{ ok }`, nil)
				for m := readRaw(t, c); m.Type != "complete" || m.ID != "q"; m = readRaw(t, c) {
					seen = append(seen, m)
				}
				return seen
			}
			seen := barrier()
			s.schema.Release()
			for range n + 1 {
				<-s.schema.Returned()
			}
			seen = append(seen, barrier()...)
			var kept bool
			for _, m := range seen {
				switch {
				case slices.Contains(stopped, m.ID):
					t.Errorf("after the client's stop: %s %s %s", m.Type, m.ID, m.Payload)
				case m.ID == "kept":
					kept = m.Type == "error"
				}
			}
			if !kept {
				// Not among the messages before the barrier: next.
				if m := c.Read(5 * time.Second); m.ID != "kept" || m.Type != "error" {
					t.Fatalf("the operation left running: %s %s %s", m.Type, m.ID, m.Payload)
				}
			}
		})
	}
}

// TestRefusedOriginIsLogged: browsers only say the handshake failed, so
// the server says at info level which origin it refused, and from where.
func TestRefusedOriginIsLogged(t *testing.T) {
	s := startFault(t, gqlws.Config{AllowedOrigins: []string{"https://app.example"}})
	_, err := wstest.TryDial(s.url, wstest.TransportWS, http.Header{"Origin": {"https://evil.example"}})
	if err == nil {
		t.Fatal("a refused origin connected")
	}
	recs := s.records(t, "websocket: origin refused")
	if len(recs) != 1 || recs[0]["level"] != "INFO" || recs[0]["origin"] != "https://evil.example" || !strings.HasPrefix(recs[0]["remote"].(string), "127.0.0.1:") {
		t.Fatalf("records: %v\n%s", recs, s.logs)
	}
	expectOK(t, dialInit(t, s.url, wstest.TransportWS, http.Header{"Origin": {"https://app.example"}}), "allowed")
}
