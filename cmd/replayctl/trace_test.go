package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rewind-dev/rewind/auth/jwtauth"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/apitest"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// TestTrace: trace ID tells where an event is (stored, its sequence,
// topic, type and the trace id of its append) and, with --server, which
// of that instance's subscriptions taking its topic are past it and which
// behind; an event that is not stored says so; a server that refuses the
// token fails the command.
func TestTrace(t *testing.T) {
	f := newFixture(t)
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	traced := f.nats.Store(eventstore.Config{Tracer: tp.Tracer("test")})
	srv := apitest.Start(t, f.store, api.Config{}, replay.Config{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reader, err := srv.Hub.Subscribe(replay.WithLabel(ctx, "graphql-sse"), replay.Request{Topics: []string{"orders.*"}})
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := srv.Hub.Attach(ctx, replay.Request{Topics: []string{"orders.>"}}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Hub.Attach(ctx, replay.Request{Topics: []string{"billing.>"}}, func() {}); err != nil {
		t.Fatal(err)
	}
	f.append(t, "orders.eu", "created", numbered(1, 2)...)
	ev, err := traced.Append(ctx, eventstore.Event{Topic: "orders.eu", Type: "created", Data: json.RawMessage(`{"n":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case <-reader.C:
		case <-time.After(10 * time.Second):
			t.Fatal("the reader got no event")
		}
	}
	testenv.Eventually(t, 10*time.Second, "the reader past the event", func() bool {
		for st := range srv.Hub.Subscriptions() {
			if st.Label == "graphql-sse" && st.Delivered == ev.Seq {
				return true
			}
		}
		return false
	})
	_ = stuck // takes nothing: behind

	got := lines[traceJSON](t, f.cli(t, nil, "trace", "--json", "--server", srv.URL, ev.ID.String()).ok(t).stdout)
	if len(got) != 1 {
		t.Fatalf("%d lines", len(got))
	}
	j := got[0]
	if !j.Stored || j.Seq != ev.Seq || j.Topic != "orders.eu" || j.Type != "created" || j.TraceID != ev.Trace.TraceID().String() || j.LastSeq != 3 {
		t.Errorf("trace: %+v", j)
	}
	if j.Server == nil || len(j.Server.Subscriptions) != 2 {
		t.Fatalf("server: %+v, want the two subscriptions that take orders.eu", j.Server)
	}
	if s := j.Server.Subscriptions[0]; s.Event != "past" || s.Via != "graphql-sse" || s.Position < ev.Seq {
		t.Errorf("reader: %+v, want past the event", s)
	}
	if s := j.Server.Subscriptions[1]; s.Event != "behind" || s.Pending != 3 || s.Behind != 3 {
		t.Errorf("stuck: %+v, want behind with 3 pending", s)
	}

	table := f.cli(t, nil, "trace", "--table", "--server", srv.URL, ev.ID.String()).ok(t).stdout
	for _, want := range []string{"sequence 3 of 1..3", ev.Trace.TraceID().String(), "2 subscriptions take the event: 1 past it, 1 behind"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	missing := lines[traceJSON](t, f.cli(t, nil, "trace", "--json", "01ARZ3NDEKTSV4RRFFQ69G5FAV").ok(t).stdout)
	if len(missing) != 1 || missing[0].Stored || missing[0].Why == "" {
		t.Errorf("unknown id: %+v", missing)
	}
	untraced := lines[traceJSON](t, f.cli(t, nil, "trace", "--json", mustFirstID(t, f)).ok(t).stdout)
	if len(untraced) != 1 || untraced[0].TraceID != "" {
		t.Errorf("untraced event: %+v", untraced)
	}

	key := authtest.NewHS256(t)
	verifier, err := jwtauth.New(jwtauth.Config{SecretFile: key.File})
	if err != nil {
		t.Fatal(err)
	}
	authed := apitest.Start(t, f.store, api.Config{Auth: verifier}, replay.Config{})
	res := f.cli(t, nil, "trace", "--server", authed.URL, "--token", key.Token(t, "reader", authtest.Grants{Subscribe: []string{">"}}, time.Hour), ev.ID.String())
	if res.code != 1 || !strings.Contains(res.stderr, "403") {
		t.Errorf("a token without the admin grant: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	res = f.cli(t, nil, "trace", "--json", "--server", authed.URL, "--token", key.Token(t, "ops", authtest.Grants{Admin: true}, time.Hour), ev.ID.String()).ok(t)
	if got := lines[traceJSON](t, res.stdout); len(got) != 1 || got[0].Server == nil {
		t.Errorf("admin token: %s", res.stdout)
	}
}

func mustFirstID(t *testing.T, f *fixture) string {
	t.Helper()
	for ev, err := range f.store.Read(context.Background(), eventstore.Query{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		return ev.ID.String()
	}
	t.Fatal("no event")
	return ""
}
