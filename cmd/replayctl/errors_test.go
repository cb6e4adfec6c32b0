package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
)

func TestUsageAndErrors(t *testing.T) {
	f := newFixture(t)
	evs := f.append(t, "orders.eu", "created", numbered(1, 3)...)
	known := evs[0].ID.String()
	missing := "01M8AB89FYVCMXQY5JACWVPNP7"
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, exitUsage, "no command given"},
		{"unknown command", []string{"purge"}, exitUsage, `unknown command "purge"`},
		{"unknown flag", []string{"events", "--frobnicate"}, exitUsage, "flag provided but not defined: -frobnicate"},
		{"unknown global flag", []string{"--frobnicate", "events"}, exitUsage, "flag provided but not defined"},
		{"extra argument", []string{"topics", "now"}, exitUsage, "unexpected arguments"},
		{"json and table", []string{"events", "--json", "--table"}, exitUsage, "exclude each other"},
		{"malformed id", []string{"events", "--after", "01M8AB89"}, exitUsage, `--after: invalid id "01M8AB89"`},
		{"malformed until", []string{"events", "--until", "yesterday"}, exitUsage, "neither an event id nor a time"},
		{"malformed since", []string{"events", "--since", "last week"}, exitUsage, "is not a time"},
		{"after and since", []string{"events", "--after", known, "--since", "1h"}, exitUsage, "exclude each other"},
		{"last and after", []string{"events", "--after", known, "--last", "3"}, exitUsage, "exclude each other"},
		{"tail last and since", []string{"tail", "--topic", "orders.eu", "--since", "1h", "--last", "3"}, exitUsage, "exclude each other"},
		{"last too large", []string{"events", "--last", "1000000"}, exitUsage, "--last must be between"},
		{"invalid topic", []string{"events", "--topic", "orders..eu"}, exitUsage, "invalid topic"},
		{"negative limit", []string{"events", "--limit", "-1"}, exitUsage, "--limit cannot be negative"},
		{"id not stored", []string{"events", "--after", missing}, exitFailure, "no event has this id"},
		{"until not stored", []string{"events", "--until", missing}, exitFailure, "--until " + missing + ": no event has this id"},
		{"unknown topic", []string{"events", "--topic", "orders.uk"}, exitFailure, `no events on any topic "orders.uk"`},
		{"pattern matching nothing", []string{"export", "--topic", "payments.>"}, exitFailure, `no events on any topic matching "payments.>"`},
		{"tail without topic", []string{"tail"}, exitUsage, "--topic is required"},
		{"tail from unknown id", []string{"tail", "--topic", "orders.eu", "--after", missing}, exitFailure, "no event has this id"},
		{"replay without target", []string{"replay", "--topic", "orders.eu", "--after", known}, exitUsage, "--to is required"},
		{"replay without start", []string{"replay", "--topic", "orders.eu", "--to", "stdout"}, exitUsage, "--after or --since is required"},
		{"replay without topic", []string{"replay", "--after", known, "--to", "stdout"}, exitUsage, "--topic is required"},
		{"replay to unknown target", []string{"replay", "--topic", "orders.eu", "--after", known, "--to", "ftp://x"}, exitUsage, "want stdout, an http(s):// URL, or topic:NAME"},
		{"replay into itself", []string{"replay", "--topic", "orders.*", "--after", known, "--to", "topic:orders.eu"}, exitUsage, "among the replayed topics"},
		{"replay to bad topic", []string{"replay", "--topic", "orders.eu", "--after", known, "--to", "topic:a b"}, exitUsage, "invalid topic"},
		{"bad rate", []string{"replay", "--topic", "orders.eu", "--after", known, "--to", "stdout", "--rate", "fast"}, exitUsage, `--rate "fast"`},
		{"bad header", []string{"replay", "--topic", "orders.eu", "--after", known, "--to", "http://127.0.0.1:1/", "--header", "nocolon"}, exitUsage, "want 'Name: value'"},
		{"webhook unreachable", []string{"replay", "--topic", "orders.eu", "--after", known, "--to", "http://127.0.0.1:1/", "--retries", "1", "--backoff", "1ms"},
			exitFailure, "gave up after 2 attempts"},
		{"user without password", []string{"--nats-user", "admin", "topics"}, exitUsage, "--nats-user and --nats-password go together"},
		{"unknown stream", []string{"--stream", "OTHER", "topics"}, exitFailure, "stream OTHER at nats://"},
		{"import too many files", []string{"import", "a", "b"}, exitUsage, "at most one file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.name != "no command" {
				args = append([]string{"--nats-url", f.url}, args...)
			}
			r := cli(t, nil, args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr:\n%s\nwant it to contain %q", r.code, tc.code, r.stderr, tc.want)
			}
		})
	}

	t.Run("unreachable NATS", func(t *testing.T) {
		start := time.Now()
		r := cli(t, nil, "--nats-url", "nats://127.0.0.1:1", "topics")
		if r.code != exitFailure || !strings.Contains(r.stderr, "cannot reach NATS at nats://127.0.0.1:1") {
			t.Errorf("exit %d; stderr:\n%s", r.code, r.stderr)
		}
		t.Logf("failed in %v", time.Since(start))
	})

	t.Run("help", func(t *testing.T) {
		for _, c := range commands() {
			for _, args := range [][]string{{c.name, "--help"}, {"help", c.name}, {c.name, "-h"}} {
				r := cli(t, nil, args...)
				if r.code != 0 || !strings.Contains(r.stdout, "Usage: replayctl "+c.name) ||
					!strings.Contains(r.stdout, "Example:\n  replayctl ") || !strings.Contains(r.stdout, "Flags:") {
					t.Errorf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
				}
			}
		}
		r := cli(t, nil, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Commands:") || !strings.Contains(r.stdout, "--nats-url") {
			t.Errorf("--help: exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("environment", func(t *testing.T) {
		t.Setenv("NATS_URL", f.url)
		r := cli(t, nil, "events", "--limit", "1").ok(t)
		if got := lineIDs(lines[eventLine](t, r.stdout)); !equal(got, []string{known}) {
			t.Errorf("got %v", got)
		}
		t.Setenv("STREAM", "OTHER")
		if r := cli(t, nil, "--stream", "REWIND", "topics"); r.code != 0 {
			t.Errorf("a flag must win over the environment: exit %d, %s", r.code, r.stderr)
		}
	})
}

func TestDataDir(t *testing.T) {
	dir := t.TempDir()
	ns, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A server with its own settings: the CLI must leave them alone.
	store, err := eventstore.Open(ctx, nc, eventstore.Config{MaxPayload: 4096, MaxAge: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := store.AppendBatch(ctx, []eventstore.Event{
		{Topic: "orders.eu", Type: "created", Data: json.RawMessage(`{"n":1}`)},
		{Topic: "orders.eu", Type: "created", Data: json.RawMessage(`{"n":2}`)},
	})
	if err != nil {
		t.Fatal(err)
	}

	r := cli(t, nil, "--data-dir", dir, "topics")
	if r.code != exitFailure || !strings.Contains(r.stderr, fmt.Sprintf("in use by process %d, probably a running Rewind server", os.Getpid())) ||
		!strings.Contains(r.stderr, "--nats-url") || !strings.Contains(r.stderr, "--nats-listen") {
		t.Errorf("data dir held by a server: exit %d; stderr:\n%s", r.code, r.stderr)
	}

	nc.Close()
	ns.Shutdown()
	got := lines[eventLine](t, cli(t, nil, "--data-dir", dir, "events").ok(t).stdout)
	if !equal(lineIDs(got), ids(evs)) {
		t.Errorf("events from the data dir: %v, want %v", lineIDs(got), ids(evs))
	}
	var s statsJSON
	if err := json.Unmarshal([]byte(cli(t, nil, "stats", "--data-dir", dir).ok(t).stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.MaxMsgSize != 4096+1024 || s.MaxAge != "72h0m0s" {
		t.Errorf("opening the store changed its settings: max message size %d, max age %s", s.MaxMsgSize, s.MaxAge)
	}

	r = cli(t, nil, "--data-dir", t.TempDir()+"/none", "topics")
	if r.code != exitFailure || !strings.Contains(r.stderr, "no JetStream data in") {
		t.Errorf("empty data dir: exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

// TestFlagsBeforeCommand: a command's own flags work before the command
// as the connection flags do (replayctl --table topics), values and
// booleans alike, and mixed with flags after it.
func TestFlagsBeforeCommand(t *testing.T) {
	f := newFixture(t)
	evs := f.append(t, "orders.eu", "created", numbered(1, 3)...)
	f.append(t, "orders.us", "created", numbered(4, 4)...)

	table := cli(t, nil, "--table", "--nats-url", f.url, "topics").ok(t).stdout
	if !strings.Contains(table, "TOPIC") || !strings.Contains(table, "orders.us") {
		t.Errorf("--table topics printed no table:\n%s", table)
	}
	r := cli(t, nil, "--nats-url", f.url, "--topic", "orders.eu", "--json", "--limit", "2", "events", "--after", evs[0].ID.String()).ok(t)
	if got := lineIDs(lines[eventLine](t, r.stdout)); !equal(got, ids(evs[1:3])) {
		t.Errorf("flags on both sides of events: got %v, want %v", got, ids(evs[1:3]))
	}
	r = cli(t, nil, "--nats-url="+f.url, "--topic=stats", "events")
	if r.code != exitFailure || !strings.Contains(r.stderr, `no events on any topic "stats"`) {
		t.Errorf("--topic=stats events: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = cli(t, nil, "--nats-url", f.url, "--frobnicate", "topics")
	if r.code != exitUsage || !strings.Contains(r.stderr, "flag provided but not defined: -frobnicate\nrun 'replayctl topics --help'") {
		t.Errorf("unknown flag before the command: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r := cli(t, nil, "-h", "topics"); r.code != 0 || !strings.Contains(r.stdout, "Usage: replayctl topics") {
		t.Errorf("-h topics: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
