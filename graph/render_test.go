package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/generated"
	"github.com/rewind-dev/rewind/graph/model"
	"github.com/rewind-dev/rewind/graph/render"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// compilingRoot serves the real resolvers, and compiles a renderer in the
// context of every subscription resolver, where a transport would. With
// feed set, events and realTimeMessages subscriptions deliver what the
// test sends on feed and messages instead of what the hub does.
type compilingRoot struct {
	*Resolver
	compiled chan compiled
	feed     chan *eventstore.Event
	messages chan *model.Message
}

type compiled struct {
	ctx context.Context
	r   *render.Renderer
	err error
}

func (c *compilingRoot) Subscription() generated.SubscriptionResolver {
	return compilingSubscription{c.Resolver.Subscription(), c}
}

type compilingSubscription struct {
	generated.SubscriptionResolver
	root *compilingRoot
}

func (s compilingSubscription) compile(ctx context.Context) {
	fc := graphql.GetFieldContext(ctx)
	prog, err := render.Compile(graphql.GetOperationContext(ctx), s.root.schema(), fc.Field, render.Options{Present: s.root.present})
	var r *render.Renderer
	if err == nil {
		r = s.root.cache.Renderer(ctx, prog)
	}
	s.root.compiled <- compiled{ctx, r, err}
}

func (s compilingSubscription) Count(ctx context.Context, target, intervalMs int) (<-chan int, error) {
	s.compile(ctx)
	return s.SubscriptionResolver.Count(ctx, target, intervalMs)
}

func (s compilingSubscription) Events(ctx context.Context, topics []string, afterID *string, types []string, last *int, since *time.Time, latest *bool, where *model.Filter) (<-chan *eventstore.Event, error) {
	s.compile(ctx)
	if s.root.feed != nil {
		return s.root.feed, nil
	}
	return s.SubscriptionResolver.Events(ctx, topics, afterID, types, last, since, latest, where)
}

func (s compilingSubscription) RealTimeMessages(ctx context.Context, afterID *string, last *int, since *time.Time, latest *bool, where *model.Filter) (<-chan *model.Message, error) {
	s.compile(ctx)
	if s.root.feed != nil {
		return s.root.messages, nil
	}
	return s.SubscriptionResolver.RealTimeMessages(ctx, afterID, last, since, latest, where)
}

// renderEnv runs subscriptions through gqlgen's executor on the real
// schema and resolvers.
type renderEnv struct {
	store *eventstore.Store
	root  *compilingRoot
	exec  *executor.Executor
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newRenderEnv(t testing.TB, store *eventstore.Store, hub *replay.Hub) *renderEnv {
	root := &compilingRoot{
		Resolver: New(Config{Store: store, Hub: hub, Logger: quietLog()}),
		compiled: make(chan compiled, 1),
	}
	return &renderEnv{store: store, root: root, exec: executor.New(generated.NewExecutableSchema(generated.Config{Resolvers: root}))}
}

// startStore starts JetStream, a store and a hub for the test.
func startStore(t testing.TB) (*eventstore.Store, *replay.Hub) {
	t.Helper()
	return startStoreWith(t, eventstore.Config{})
}

// startStoreWith is startStore with the store's config.
func startStoreWith(t testing.TB, cfg eventstore.Config) (*eventstore.Store, *replay.Hub) {
	t.Helper()
	store := testenv.StartNATS(t).Store(cfg)
	hub := replay.NewHub(store, replay.Config{}, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-hub.Ready()
	return store, hub
}

// sub is a running subscription: next returns gqlgen's data for its next
// event, c the renderer compiled for it.
type sub struct {
	op     *graphql.OperationContext
	ctx    context.Context
	handle graphql.ResponseHandler
	next   func() []byte
	c      compiled
}

// operation is ctx as a transport hands it to the executor: an anonymous
// principal's, with the operation's start time.
func operation(ctx context.Context) context.Context {
	return graphql.StartOperationTrace(auth.With(ctx, auth.Anyone()))
}

// subscribe starts query as an anonymous principal's subscription, ended
// with ctx.
func (e *renderEnv) subscribe(t testing.TB, ctx context.Context, query string, vars map[string]any) *sub {
	t.Helper()
	ctx = operation(ctx)
	op, errs := e.exec.CreateOperationContext(ctx, &graphql.RawParams{Query: query, Variables: vars})
	if errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	handle, ctx := e.exec.DispatchOperation(ctx, op)
	var c compiled
	select {
	case c = <-e.root.compiled:
	default:
		t.Fatalf("%s: the subscription resolver did not run", query)
	}
	s := &sub{op: op, ctx: ctx, handle: handle, c: c}
	s.next = func() []byte {
		t.Helper()
		resp := handle(ctx)
		if resp == nil {
			t.Fatalf("%s: the subscription ended early", query)
		}
		if len(resp.Errors) > 0 {
			t.Fatalf("%s: %v", query, resp.Errors)
		}
		return bytes.Clone(resp.Data) // the executor reuses its buffer
	}
	return s
}

// caughtUp reports whether the events subscription has caught up, after
// which the live field of each event is final.
func (s *sub) caughtUp(res *Resolver) bool { return res.marks.CaughtUp(s.ctx) }

const (
	zeroID   = "00000000000000000000000000"
	evArgs   = `(topics: ["render"], afterId: "` + zeroID + `")`
	msgArgs  = `(afterId: "` + zeroID + `")`
	evTopic  = "render"
	oddType  = "we\"ird \\ type\twith <\\/script> ü \x01 日本"
	allEvent = `{ id topic type data time live __typename }`
)

// renderPayloads are event data: JSON with everything a string escaper
// can get wrong, and whitespace that must come out as stored.
var renderPayloads = []string{
	`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`,
	`[1,2.5e10,-3,"x",{"y":[]}]`,
	`"unicode ü 日本 😀 \u2028\u2029 \u0000 escaped"`,
	`"quotes \" and \\ backslashes \/ slash"`,
	`{"html":"</script><script>alert(1)</script>","amp":"a&b<c>d"}`,
	"{ \"spaced\" : [ 1 , 2 ] ,\n\t\"newline\": \"x\" }",
	`null`,
	`true`,
	`-0.5e-7`,
	`{"ctrl":"\u0001\u001f\t\n\r\b\f"}`,
	"\"raw é and \u2028 in the bytes\"",
	`{"content":"a message in an event"}`,
}

// messagePayloads are data of message events, shown as content by
// toMessage in each of its ways.
var messagePayloads = []string{
	`{"content":"hi"}`,
	`{"content":"quote \" backslash \\ ctrl \u0001\u007f tab\t nl\n </script> ü 😀 \u2028"}`,
	"{ \"content\" : \"spaced\" }",
	`"a bare string ☃"`,
	`{"other":1,"s":"\"q\""}`,
	`42`,
	`{"content":null}`,
	`{"content":5}`,
	`{"content":""}`,
	"[\"x\",\n\"y\"]",
}

func appendAll(t *testing.T, store *eventstore.Store, topic, typ string, payloads []string) {
	t.Helper()
	for _, p := range payloads {
		if _, err := store.Append(context.Background(), eventstore.Event{Topic: topic, Type: typ, Data: json.RawMessage(p)}); err != nil {
			t.Fatalf("append %s: %v", p, err)
		}
	}
}

func stored(t *testing.T, store *eventstore.Store, q eventstore.Query) []*eventstore.Event {
	t.Helper()
	var out []*eventstore.Event
	for ev, err := range store.Read(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &ev)
	}
	return out
}

// TestRendererMatchesGqlgen runs each subscription twice through gqlgen's
// executor on the real schema, resolvers, store and hub, and checks that
// the renderer compiled in each writes, for every event, the data gqlgen
// wrote: replayed events (live false), then one appended once both have
// caught up (live true). The two subscriptions share a shape, so the
// second renderer is served from the first one's cache; the unshared
// path is checked on the side.
func TestRendererMatchesGqlgen(t *testing.T) {
	store, hub := startStore(t)
	env := newRenderEnv(t, store, hub)
	appendAll(t, store, evTopic, "message", renderPayloads[:6])
	appendAll(t, store, evTopic, oddType, renderPayloads[6:])
	appendAll(t, store, MessagesTopic, MessageType, messagePayloads)
	appendAll(t, store, MessagesTopic, "other", messagePayloads[:1]) // not a message: skipped
	// Stored events replay (live false) only once the hub has seen them.
	st, err := store.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the hub to see the stored events", func() bool { return hub.Head() >= st.LastSeq })

	const frag = `fragment F on Event { id data } fragment G on Event { live ...H type } fragment H on Event { topic time }`
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"every field", `subscription { events` + evArgs + allEvent + ` }`, nil},
		{"every field reversed", `subscription { events` + evArgs + ` { __typename live time data type topic id } }`, nil},
		{"id", `subscription { events` + evArgs + ` { id } }`, nil},
		{"data", `subscription { events` + evArgs + ` { data } }`, nil},
		{"type", `subscription { events` + evArgs + ` { type } }`, nil},
		{"time", `subscription { events` + evArgs + ` { time } }`, nil},
		{"live", `subscription { events` + evArgs + ` { live } }`, nil},
		{"typename", `subscription { events` + evArgs + ` { __typename } }`, nil},
		{"aliases", `subscription { events` + evArgs + ` { a: id b: topic c: data d: live e: __typename } }`, nil},
		{"aliases swap names", `subscription { events` + evArgs + ` { topic: type type: topic id: time time: id } }`, nil},
		{"one field twice under two aliases", `subscription { events` + evArgs + ` { x: data y: data data } }`, nil},
		{"duplicate fields", `subscription { events` + evArgs + ` { id id topic id data topic } }`, nil},
		{"root alias", `subscription { feed: events` + evArgs + ` { id live } }`, nil},
		{"root alias named like a field", `subscription { data: events` + evArgs + ` { data } }`, nil},
		{"fragments", `subscription { events` + evArgs + ` { ...F ...G time } } ` + frag, nil},
		{"fragment and field overlap", `subscription { events` + evArgs + ` { type ...F id ...G } } ` + frag, nil},
		{"inline fragments", `subscription { events` + evArgs + ` { ... on Event { topic } ... { time id } live } }`, nil},
		{"skip and include literal", `subscription { events` + evArgs + ` { id @skip(if: true) topic @include(if: false) data @include(if: true) live @skip(if: false) } }`, nil},
		{"include with variable true", `subscription($v: Boolean!) { events` + evArgs + ` { id @include(if: $v) topic @skip(if: $v) ...F @include(if: $v) ...G @skip(if: $v) ... on Event @skip(if: $v) { live } } } ` + frag,
			map[string]any{"v": true}},
		{"include with variable false", `subscription($v: Boolean!) { events` + evArgs + ` { id @include(if: $v) topic @skip(if: $v) ...F @include(if: $v) ...G @skip(if: $v) ... on Event @skip(if: $v) { live } } } ` + frag,
			map[string]any{"v": false}},
		{"everything skipped", `subscription($v: Boolean!) { events` + evArgs + ` { id @skip(if: $v) ... @include(if: false) { data } } }`, map[string]any{"v": true}},
		{"typename aliased", `subscription { e: events` + evArgs + ` { t: __typename __typename id } }`, nil},

		{"messages every field", `subscription { realTimeMessages` + msgArgs + ` { id content timestamp __typename } }`, nil},
		{"messages id", `subscription { realTimeMessages` + msgArgs + ` { id } }`, nil},
		{"messages content", `subscription { realTimeMessages` + msgArgs + ` { content } }`, nil},
		{"messages timestamp", `subscription { realTimeMessages` + msgArgs + ` { timestamp } }`, nil},
		{"messages typename", `subscription { realTimeMessages` + msgArgs + ` { __typename } }`, nil},
		{"messages aliases and fragments", `subscription($v: Boolean!) { m: realTimeMessages` + msgArgs + ` { c: content ...M ... on Message { timestamp @include(if: $v) } } } fragment M on Message { id content }`,
			map[string]any{"v": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			messages := strings.Contains(tc.query, "realTimeMessages")
			q := eventstore.Query{Topics: []string{evTopic}}
			if messages {
				q = eventstore.Query{Topics: []string{MessagesTopic}, Types: []string{MessageType}}
			}
			evs := stored(t, store, q)
			subs := []*sub{env.subscribe(t, ctx, tc.query, tc.vars), env.subscribe(t, ctx, tc.query, tc.vars)}
			got := make([][][]byte, len(subs))
			for i, s := range subs {
				if s.c.err != nil {
					t.Fatalf("newRenderer: %v", s.c.err)
				}
				for range evs {
					got[i] = append(got[i], s.next())
				}
			}
			if subs[0].c.r.Program() != subs[1].c.r.Program() {
				t.Fatal("two subscriptions of one query do not share a shape")
			}
			if !messages {
				testenv.Eventually(t, 10*time.Second, "caught up", func() bool {
					return subs[0].caughtUp(env.root.Resolver) && subs[1].caughtUp(env.root.Resolver)
				})
				ev, err := store.Append(ctx, eventstore.Event{Topic: evTopic, Type: "live", Data: json.RawMessage(renderPayloads[len(evs)%len(renderPayloads)])})
				if err != nil {
					t.Fatal(err)
				}
				evs = append(evs, &ev)
				for i, s := range subs {
					got[i] = append(got[i], s.next())
				}
			}
			compared := 0
			for i, s := range subs {
				for j, ev := range evs {
					live := env.root.marks.Live(s.c.ctx, ev.Seq)
					if !messages && live != (j == len(evs)-1) {
						t.Fatalf("event %d: live %v; the test needs replayed events and one live", j, live)
					}
					want := got[i][j]
					if out, _ := s.c.r.AppendResult([]byte("prefix"), ev, live); !bytes.Equal(out, append([]byte("prefix"), want...)) {
						t.Errorf("subscription %d, event %d (%s):\n renderer %s\n gqlgen   %s", i, j, ev.Data, out[len("prefix"):], want)
					}
					if out, _ := s.c.r.Program().Render(nil, ev, live); !bytes.Equal(out, want) {
						t.Errorf("subscription %d, event %d unshared:\n renderer %s\n gqlgen   %s", i, j, out, want)
					}
					compared++
				}
			}
			least := 2 * len(renderPayloads)
			if messages {
				least = 2 * len(messagePayloads)
			}
			if compared < least {
				t.Fatalf("compared %d outputs only", compared)
			}
		})
	}
}

// TestRendererInvalidData checks data the store never holds, fed
// directly: empty or nil data, which gqlgen writes as null or nulls with
// an error; the renderer nulls the event with an error (GraphQL's null
// propagation), and writes what gqlgen writes when data is not selected.
func TestRendererInvalidData(t *testing.T) {
	env := newRenderEnv(t, nil, nil)
	env.root.feed = make(chan *eventstore.Event, 1)
	id := ulid.Make()
	for _, tc := range []struct {
		name, query string
		data        json.RawMessage
		same, errs  bool // the renderer writes what gqlgen writes; it reports errors
	}{
		{"nil data selected", `subscription { events(topics: ["x"]) { id data } }`, nil, false, true},
		{"nil data not selected", `subscription { events(topics: ["x"]) { id live } }`, nil, true, false},
		{"empty data", `subscription { events(topics: ["x"]) { id data } }`, json.RawMessage{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(operation(context.Background()))
			defer cancel()
			op, errs := env.exec.CreateOperationContext(ctx, &graphql.RawParams{Query: tc.query})
			if errs != nil {
				t.Fatal(errs)
			}
			handle, ctx := env.exec.DispatchOperation(ctx, op)
			c := <-env.root.compiled
			if c.err != nil {
				t.Fatal(c.err)
			}
			ev := &eventstore.Event{ID: id, Seq: 7, Topic: "x", Type: "t", Data: tc.data}
			env.root.feed <- ev
			resp := handle(ctx)
			out, rerrs := c.r.AppendResult(nil, ev, false)
			if tc.same && !bytes.Equal(out, resp.Data) {
				t.Errorf("renderer %s, gqlgen %s", out, resp.Data)
			}
			if !json.Valid(out) || (len(rerrs) > 0) != tc.errs {
				t.Errorf("renderer %s with errors %v", out, rerrs)
			}
		})
	}
}

// TestRendererRefuses checks the selections left to gqlgen's executor.
func TestRendererRefuses(t *testing.T) {
	env := newRenderEnv(t, nil, nil)
	env.root.feed = make(chan *eventstore.Event)
	for _, tc := range []struct{ name, query string }{
		{"deferred fragment", `subscription { events(topics: ["x"]) { id ... @defer { data } } }`},
		{"deferred named fragment", `subscription { events(topics: ["x"]) { id ...F @defer(label: "l") } } fragment F on Event { topic }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(operation(context.Background()))
			defer cancel()
			op, errs := env.exec.CreateOperationContext(ctx, &graphql.RawParams{Query: tc.query})
			if errs != nil {
				t.Skipf("gqlgen refuses it too: %v", errs)
			}
			env.exec.DispatchOperation(ctx, op)
			if c := <-env.root.compiled; !errors.Is(c.err, render.ErrNotRenderable) || !strings.Contains(c.err.Error(), "@defer") {
				t.Errorf("Compile: %v, want ErrNotRenderable for @defer", c.err)
			}
		})
	}
}
