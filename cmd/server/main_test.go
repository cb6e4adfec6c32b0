package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/graph/document"
	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// proc is one running server process.
type proc struct{ *proctest.Rewind }

func (p *proc) graphqlURL() string { return p.URL() }

// startServer runs the server binary on dataDir with embedded JetStream and
// returns once /healthz answers 200. The process is killed when the test ends.
func startServer(t *testing.T, dataDir string) *proc {
	t.Helper()
	return &proc{proctest.StartRewind(t, "rewind", "DATA_DIR="+dataDir)}
}

// kill9 sends SIGKILL, so nothing shuts down cleanly, and waits for the exit.
func (p *proc) kill9(t *testing.T) { p.Kill9(t) }

const publishMutation = `mutation($topic: String!, $data: JSON!) {
  publish(topic: $topic, data: $data) { id topic type data time }
}`

// publish appends {"n": n} to topic through POST /graphql.
func (p *proc) publish(t *testing.T, topic string, n int) wstest.Event {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"query":     publishMutation,
		"variables": map[string]any{"topic": topic, "data": map[string]int{"n": n}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.graphqlURL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("publish %d: %v; stderr:\n%s", n, err, p.Log)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("publish %d: read response: %v", n, err)
	}
	var r struct {
		Data struct {
			Publish *wstest.Event `json:"publish"`
		} `json:"data"`
		Errors json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("publish %d: status %d, body %s: %v", n, resp.StatusCode, raw, err)
	}
	if resp.StatusCode != http.StatusOK || r.Errors != nil || r.Data.Publish == nil {
		t.Fatalf("publish %d: status %d, body %s; stderr:\n%s", n, resp.StatusCode, raw, p.Log)
	}
	ev := *r.Data.Publish
	if ev.ID == "" || ev.Topic != topic || ev.Type != "message" || ev.Time == "" {
		t.Fatalf("publish %d returned %+v", n, ev)
	}
	assertData(t, fmt.Sprintf("publish %d", n), ev.Data, n)
	return ev
}

func assertData(t *testing.T, what string, data json.RawMessage, n int) {
	t.Helper()
	var got, want any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s: data %s: %v", what, data, err)
	}
	_ = json.Unmarshal(fmt.Appendf(nil, `{"n":%d}`, n), &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: data %s, want {\"n\":%d}", what, data, n)
	}
}

// assertEvents fails unless got is exactly want, in order.
func assertEvents(t *testing.T, what string, got, want []wstest.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Topic != w.Topic || g.Type != w.Type || g.Time != w.Time {
			t.Fatalf("%s: event %d is %s %s %s %s, want %s %s %s %s\ngot ids:  %v\nwant ids: %v",
				what, i, g.ID, g.Topic, g.Type, g.Time, w.ID, w.Topic, w.Type, w.Time, ids(got), ids(want))
		}
		var n struct{ N int }
		_ = json.Unmarshal(w.Data, &n)
		assertData(t, fmt.Sprintf("%s: event %d (%s)", what, i, g.ID), g.Data, n.N)
	}
}

func ids(evs []wstest.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// assertQuiet fails if operation traffic arrives on c within a short read.
// A timeout is the expected outcome: this asserts absence, so it must wait.
func assertQuiet(t *testing.T, what string, c *wstest.Client) {
	t.Helper()
	m, err := c.TryRead(300 * time.Millisecond)
	if err == nil {
		t.Fatalf("%s: unexpected %s for %q after the last event: %s", what, m.Type, m.ID, m.Payload)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: read ended with %v, want a timeout", what, err)
	}
}

const zeroID = "00000000000000000000000000"

// TestRestartResume checks that events survive SIGKILL of the server and
// that a client resumes after its last id on a new process, over either
// WebSocket protocol, with nothing lost or repeated.
func TestRestartResume(t *testing.T) {
	const topic = "orders"
	dataDir := t.TempDir()
	first := startServer(t, dataDir)

	var want []wstest.Event
	seen := map[string]bool{}
	publish := func(p *proc, n int) {
		t.Helper()
		ev := p.publish(t, topic, n)
		if seen[ev.ID] {
			t.Fatalf("publish %d returned id %s already given to an earlier event", n, ev.ID)
		}
		seen[ev.ID] = true
		want = append(want, ev)
	}
	for n := range 50 {
		publish(first, n)
	}

	sub := wstest.Dial(t, first.graphqlURL(), wstest.TransportWS, nil)
	sub.Init()
	sub.Subscribe("after20", wstest.EventsQuery, map[string]any{"topics": []string{topic}, "after": want[19].ID})
	got := sub.Collect("after20", "events", 30, 10*time.Second)
	assertEvents(t, "replay after the 20th event", got, want[20:50])
	lastSeen := got[len(got)-1].ID

	for n := 50; n < 60; n++ {
		publish(first, n)
	}
	// The open subscription turns live after its replay; receiving these
	// also shows they were stored before the kill.
	assertEvents(t, "live events before the kill", sub.Collect("after20", "events", 10, 10*time.Second), want[50:60])

	first.kill9(t)
	second := startServer(t, dataDir)
	for n := 60; n < 70; n++ {
		publish(second, n)
	}

	legacy := wstest.Dial(t, second.graphqlURL(), wstest.LegacyWS, nil)
	legacy.Init()
	legacy.Subscribe("resume", wstest.EventsQuery, map[string]any{"topics": []string{topic}, "after": lastSeen})
	assertEvents(t, "resume after the restart (graphql-ws)", legacy.Collect("resume", "events", 20, 10*time.Second), want[50:70])
	assertQuiet(t, "resume after the restart (graphql-ws)", legacy)

	all := wstest.Dial(t, second.graphqlURL(), wstest.TransportWS, nil)
	all.Init()
	all.Subscribe("all", wstest.EventsQuery, map[string]any{"topics": []string{topic}, "after": zeroID})
	assertEvents(t, "replay from the zero id", all.Collect("all", "events", 70, 15*time.Second), want)
	assertQuiet(t, "replay from the zero id", all)
}

// configEnv lists every variable parseFlags reads.
var configEnv = func() []string {
	var out []string
	for _, env := range flagEnv {
		out = append(out, env)
	}
	return out
}()

// defaultConfig is the configuration no flag and no variable changes.
func defaultConfig() config {
	var c config
	c.logLevel, c.logFormat, c.authMode, c.natsSync = "info", "text", "none", "always"
	s := &c.server
	s.Addr, s.ReadTimeout, s.IdleTimeout = ":8080", 30*time.Second, 120*time.Second
	s.NATS.Embedded.DataDir, s.NATS.Embedded.SyncAlways = "./data", true
	s.Store.Stream, s.Store.Replicas, s.Store.Duplicates = "REWIND", 1, 2*time.Minute
	s.Connections.Max, s.Connections.PerAddress = 10000, 1000
	s.WebSocket.MaxSubscriptions, s.WebSocket.InitTimeout = 200, 3*time.Second
	s.Limits.MaxDepth, s.Limits.MaxComplexity, s.Limits.MaxStorageReads = graph.DefaultMaxDepth, graph.DefaultMaxCost, graph.DefaultMaxStorageReads
	s.Limits.Document.MaxTokens, s.Limits.Document.MaxFields, s.Limits.Document.MaxOverlaps = document.DefaultMaxTokens, document.DefaultMaxFields, document.DefaultMaxOverlaps
	s.ClientReads, s.Hub.MaxFilterCost = api.DefaultClientReads, replay.DefaultMaxFilterCost
	return c
}

// with returns c changed by f.
func with(c config, f func(c *config, s *api.Config)) config {
	f(&c, &c.server)
	return c
}

func TestFlagsAndEnv(t *testing.T) {
	defaults := defaultConfig()
	fromEnv := map[string]string{
		"ADDR": "127.0.0.1:9000", "DATA_DIR": "/var/lib/rewind",
		"NATS_LISTEN": "127.0.0.1:4222", "ALLOWED_ORIGINS": "https://app.example", "MAX_PAYLOAD": "2048",
		"LOG_LEVEL": "debug",
	}
	envConfig := with(defaults, func(c *config, s *api.Config) {
		s.Addr, s.NATS.Embedded.DataDir, s.NATS.Embedded.Listen = "127.0.0.1:9000", "/var/lib/rewind", "127.0.0.1:4222"
		s.WebSocket.AllowedOrigins, s.Store.MaxPayload, c.logLevel = []string{"https://app.example"}, 2048, "debug"
	})
	allFlags := []string{
		"--addr", ":9999", "-data-dir=/srv/rewind", "--nats-listen", ":0",
		"--allowed-origins", "*", "--max-payload", "4096", "--log-level=warn",
	}
	flagConfig := with(defaults, func(c *config, s *api.Config) {
		s.Addr, s.NATS.Embedded.DataDir, s.NATS.Embedded.Listen = ":9999", "/srv/rewind", ":0"
		s.WebSocket.AllowedOrigins, s.Store.MaxPayload, c.logLevel = []string{"*"}, 4096, "warn"
	})
	cluster := map[string]string{
		"NATS_URL": "nats://n1:4222,nats://n2:4222,nats://n3:4222", "NATS_USER": "rewind", "NATS_PASSWORD": "s3cret",
		"NATS_CA": "/etc/ca.pem", "NATS_CERT": "/etc/c.pem", "NATS_KEY": "/etc/k.pem", "STREAM": "EV",
		"REPLICAS": "3", "MAX_AGE": "720h", "MAX_MSGS": "1000000", "MAX_BYTES": "1073741824", "DUPLICATE_WINDOW": "5m",
		"KEEP_PER_TOPIC": "2",
	}
	clusterConfig := with(defaults, func(c *config, s *api.Config) {
		n := &s.NATS
		n.URL, n.User, n.Password = "nats://n1:4222,nats://n2:4222,nats://n3:4222", "rewind", "s3cret"
		n.CA, n.Cert, n.Key = "/etc/ca.pem", "/etc/c.pem", "/etc/k.pem"
		st := &s.Store
		st.Stream, st.Replicas, st.MaxAge, st.MaxMsgs, st.MaxBytes, st.Duplicates = "EV", 3, 720*time.Hour, 1000000, 1<<30, 5*time.Minute
		st.MaxMsgsPerSubject = 2
	})

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    config
		wantErr string // substring of the error; empty: no error
	}{
		{name: "defaults", want: defaults},
		{name: "env overrides defaults", env: fromEnv, want: envConfig},
		{name: "flags override defaults", args: allFlags, want: flagConfig},
		{name: "flags override env", env: fromEnv, args: allFlags, want: flagConfig},
		{
			name: "one flag over env keeps the rest of env",
			env:  fromEnv, args: []string{"--data-dir", "/elsewhere"},
			want: with(envConfig, func(_ *config, s *api.Config) { s.NATS.Embedded.DataDir = "/elsewhere" }),
		},
		{
			name: "empty NATS_URL means embedded",
			env:  map[string]string{"NATS_URL": ""},
			want: defaults,
		},
		{name: "cluster settings from env", env: cluster, want: clusterConfig},
		{name: "token", args: []string{"--nats-url=nats://x:4222", "--nats-token=t"},
			want: with(defaults, func(_ *config, s *api.Config) { s.NATS.URL, s.NATS.Token = "nats://x:4222", "t" })},
		{name: "user without password", env: map[string]string{"NATS_URL": "nats://x", "NATS_USER": "u"}, wantErr: "go together"},
		{name: "two auth methods", args: []string{"--nats-url=nats://x", "--nats-token=t", "--nats-creds=f"}, wantErr: "use one of"},
		{name: "credentials without url", args: []string{"--nats-token=t"}, wantErr: "need --nats-url"},
		{name: "cert without key", args: []string{"--nats-url=nats://x", "--nats-cert=c"}, wantErr: "go together"},
		{name: "listen with url", args: []string{"--nats-url=nats://x", "--nats-listen=:4222"}, wantErr: "embedded server"},
		{name: "replicas out of range", env: map[string]string{"REPLICAS": "7"}, wantErr: "1 to 5"},
		{name: "bad duration", env: map[string]string{"MAX_AGE": "a month"}, wantErr: `MAX_AGE="a month"`},
		{name: "window longer than age", args: []string{"--max-age=1m"}, wantErr: "cannot be longer"},
		// JetStream would take 0 for its default: refused, with the fix.
		{name: "zero duplicate window", args: []string{"--duplicate-window=0"}, wantErr: "--duplicate-window=0s: JetStream always deduplicates appends, over 100ms at least, and Rewind's retried appends rely on it (0 would silently mean 2m): leave the flag out for the default of 2m, or give 100ms or more"},
		{name: "zero DUPLICATE_WINDOW", env: map[string]string{"DUPLICATE_WINDOW": "0s"}, wantErr: "leave the flag out for the default of 2m"},
		{name: "duplicate window under JetStream's minimum", args: []string{"--duplicate-window=50ms"}, wantErr: "give 100ms or more"},
		{name: "shortest duplicate window", args: []string{"--duplicate-window=100ms"},
			want: with(defaults, func(_ *config, s *api.Config) { s.Store.Duplicates = 100 * time.Millisecond })},
		{name: "filter budget", env: map[string]string{"MAX_FILTER_COST": "5000"},
			want: with(defaults, func(_ *config, s *api.Config) { s.Hub.MaxFilterCost = 5000 })},
		{name: "zero filter budget", args: []string{"--max-filter-cost=0"}, wantErr: "limits must be positive"},
		{name: "jwt without a key", args: []string{"--auth=jwt"}, wantErr: "needs one of --jwt-secret-file"},
		{name: "key without jwt", args: []string{"--jwt-secret-file=/s"}, wantErr: "need --auth=jwt"},
		{name: "unknown auth", env: map[string]string{"AUTH": "basic"}, wantErr: `--auth="basic"`},
		{name: "bad sync", args: []string{"--nats-sync=sometimes"}, wantErr: "--nats-sync"},
		{name: "jwt and limits", env: map[string]string{"AUTH": "jwt", "JWT_JWKS_FILE": "/k.json", "PUBLISH_RATE": "50", "NATS_SYNC": "2m", "INTROSPECTION": "false"},
			want: with(defaults, func(c *config, s *api.Config) {
				c.authMode, c.jwt.JWKSFile, c.natsSync = "jwt", "/k.json", "2m"
				s.PublishRate, s.PublishBurst, s.Limits.DisableIntrospection = 50, 100, true
				s.NATS.Embedded.SyncAlways, s.NATS.Embedded.SyncInterval = false, 2*time.Minute
			})},
		{name: "federation from env", env: map[string]string{"FEDERATION": "true"},
			want: with(defaults, func(_ *config, s *api.Config) { s.Federation = true })},
		{name: "federation flag over env", env: map[string]string{"FEDERATION": "true"}, args: []string{"--federation=false"}, want: defaults},
		{name: "unknown flag", args: []string{"--bogus"}, wantErr: "flag provided but not defined"},
		{name: "extra argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "extra argument after flags", args: []string{"--addr", ":1", "x", "y"}, wantErr: "unexpected arguments"},
		{name: "negative max payload", args: []string{"--max-payload", "-5"}, wantErr: "cannot be negative"},
		{name: "negative MAX_PAYLOAD", env: map[string]string{"MAX_PAYLOAD": "-1"}, wantErr: "cannot be negative"},
		{name: "negative keep per topic", args: []string{"--keep-per-topic", "-1"}, wantErr: "cannot be negative"},
		{name: "non-numeric max payload", args: []string{"--max-payload=lots"}, wantErr: "invalid value"},
		{name: "non-numeric MAX_PAYLOAD", env: map[string]string{"MAX_PAYLOAD": "lots"}, wantErr: `MAX_PAYLOAD="lots": use a size in bytes such as 1048576, 512KiB, 2MiB (binary, 2^20) or 2MB (SI, 10^6)`},
		{name: "MAX_PAYLOAD in SI megabytes", env: map[string]string{"MAX_PAYLOAD": "2MB"},
			want: with(defaults, func(_ *config, s *api.Config) { s.Store.MaxPayload = 2_000_000 })},
		{name: "sizes in binary units", args: []string{"--max-payload=512KiB", "--max-bytes", "10GiB"},
			want: with(defaults, func(_ *config, s *api.Config) { s.Store.MaxPayload, s.Store.MaxBytes = 512<<10, 10<<30 })},
		{name: "durations in days", env: map[string]string{"MAX_AGE": "30d", "DUPLICATE_WINDOW": "1d12h", "SHUTDOWN_DELAY": "5s"},
			want: with(defaults, func(_ *config, s *api.Config) {
				s.Store.MaxAge, s.Store.Duplicates, s.ShutdownDelay = 30*24*time.Hour, 36*time.Hour, 5*time.Second
			})},
		{name: "nats-sync interval in days", args: []string{"--nats-sync=1d"},
			want: with(defaults, func(c *config, s *api.Config) {
				c.natsSync, s.NATS.Embedded.SyncAlways, s.NATS.Embedded.SyncInterval = "1d", false, 24*time.Hour
			})},
		{name: "MAX_AGE not a duration", env: map[string]string{"MAX_AGE": "abc"}, wantErr: `MAX_AGE="abc": use a duration such as 90s, 15m, 12h or 30d`},
		{name: "--max-age not a duration", args: []string{"--max-age=a month"}, wantErr: `use a duration such as 90s, 15m, 12h or 30d`},
		{name: "GROUP_COMMIT not a boolean", env: map[string]string{"GROUP_COMMIT": "yes"}, wantErr: `GROUP_COMMIT="yes": use true or false`},
		{name: "INTROSPECTION not a boolean", env: map[string]string{"INTROSPECTION": "off"}, wantErr: `INTROSPECTION="off": use true or false`},
		{name: "introspection alone means true", env: map[string]string{"INTROSPECTION": "false"}, args: []string{"--introspection"}, want: defaults},
		{name: "unknown log level", env: map[string]string{"LOG_LEVEL": "verbose"}, wantErr: `--log-level="verbose": use debug, info, warn or error`},
		{name: "replicas on the embedded server", env: map[string]string{"REPLICAS": "3"},
			wantErr: "--replicas=3 needs a NATS cluster: use --replicas=1 with the embedded server, or --nats-url"},
		{name: "timeouts", env: map[string]string{"READ_TIMEOUT": "5s", "IDLE_TIMEOUT": "2m"},
			want: with(defaults, func(_ *config, s *api.Config) { s.ReadTimeout, s.IdleTimeout = 5*time.Second, 2*time.Minute })},
		{name: "zero read timeout", args: []string{"--read-timeout=0"}, wantErr: "must be positive"},
		{name: "schema files from flags and the environment", env: map[string]string{"SCHEMA": "a.graphqls, types/"},
			want: with(defaults, func(c *config, _ *api.Config) { c.schema = []string{"a.graphqls", "types/"} })},
		{name: "schema flags repeated", env: map[string]string{"SCHEMA": "ignored.graphqls"}, args: []string{"--schema=a.graphqls", "--schema", "b.graphqls,c"},
			want: with(defaults, func(c *config, _ *api.Config) { c.schema = []string{"a.graphqls", "b.graphqls", "c"} })},
		{name: "unknown flag hints at --help", args: []string{"--port", "80"}, wantErr: "flag provided but not defined: -port\nrun server --help for the flags"},
		{name: "a port alone in ADDR", env: map[string]string{"ADDR": "27187"}, wantErr: `--addr "27187": not host:port: use :27187 (every interface) or 127.0.0.1:27187 (this machine only)`},
		{name: "no port in --nats-listen", args: []string{"--nats-listen", "localhost"}, wantErr: `--nats-listen "localhost": not host:port: use :8080`},
		{name: "MAX_PAYLOAD over the embedded server's", env: map[string]string{"MAX_PAYLOAD": "100MiB"},
			wantErr: "--max-payload 104857600 bytes is more than the embedded NATS server carries: at most 8387584 bytes (its max_payload, 8388608 bytes, less 1024 for headers); set --max-payload to 8191KiB or less, or run a NATS server with a larger max_payload and connect to it with --nats-url"},
		{name: "MAX_PAYLOAD at the embedded server's ceiling", env: map[string]string{"MAX_PAYLOAD": "8191KiB"},
			want: with(defaults, func(_ *config, s *api.Config) { s.Store.MaxPayload = 8191 << 10 })},
		{name: "MAX_PAYLOAD for an external NATS", env: map[string]string{"MAX_PAYLOAD": "100MiB", "NATS_URL": "nats://x:4222"},
			want: with(defaults, func(_ *config, s *api.Config) { s.Store.MaxPayload, s.NATS.URL = 100<<20, "nats://x:4222" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range configEnv {
				t.Setenv(k, "") // restores the ambient value after the test
				if err := os.Unsetenv(k); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseFlags(%q)\n got %+v\nwant %+v", tt.args, got, tt.want)
			}
		})
	}
}
