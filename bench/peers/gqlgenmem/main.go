// Command gqlgenmem is rewind-bench's non-durable baseline: the simplest
// gqlgen server with Rewind's publish mutation and events subscription,
// fanning events out to subscribers through Go channels and storing
// nothing: gqlgen's stock WebSocket transport on gorilla/websocket, with
// the handler settings Rewind uses (keep-alive, init timeout, query cache).
package main

//go:generate go tool gqlgen generate --config gqlgen.yml

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/bench/peers/gqlgenmem/graph"
	"github.com/rewind-dev/rewind/eventstore"
)

// buffer is each subscriber's queue, as Rewind's live buffer; a subscriber
// whose queue is full is dropped (its subscription completes), since there
// is no storage to catch up from.
const buffer = 512

type subscriber struct {
	patterns []string
	types    map[string]bool
	ch       chan *graph.Event
}

type broker struct {
	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	entropy *ulid.MonotonicEntropy
}

func (b *broker) publish(ev *graph.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev.ID = ulid.MustNew(ulid.Now(), b.entropy).String()
	for s := range b.subs {
		if len(s.types) > 0 && !s.types[ev.Type] {
			continue
		}
		for _, p := range s.patterns {
			if eventstore.Match(p, ev.Topic) {
				select {
				case s.ch <- ev:
				default:
					delete(b.subs, s)
					close(s.ch)
				}
				break
			}
		}
	}
}

func (b *broker) remove(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

type resolver struct{ b *broker }

func (r *resolver) Mutation() graph.MutationResolver         { return r }
func (r *resolver) Query() graph.QueryResolver               { return r }
func (r *resolver) Subscription() graph.SubscriptionResolver { return r }

func (r *resolver) Hello(context.Context) (string, error) { return "Hello from gqlgenmem", nil }

func (r *resolver) Publish(_ context.Context, topic string, typ *string, data json.RawMessage, _ *string) (*graph.Event, error) {
	if err := eventstore.ValidateTopic(topic); err != nil {
		return nil, err
	}
	ev := &graph.Event{Topic: topic, Type: "message", Data: data, Time: time.Now().UTC()}
	if typ != nil {
		ev.Type = *typ
	}
	r.b.publish(ev)
	return ev, nil
}

func (r *resolver) Events(ctx context.Context, topics []string, afterID *string, types []string) (<-chan *graph.Event, error) {
	if afterID != nil {
		return nil, errors.New("afterId: this server stores nothing")
	}
	if len(topics) == 0 {
		return nil, errors.New("at least one topic is required")
	}
	for _, p := range topics {
		if err := eventstore.ValidatePattern(p); err != nil {
			return nil, err
		}
	}
	s := &subscriber{patterns: topics, ch: make(chan *graph.Event, buffer)}
	if len(types) > 0 {
		s.types = map[string]bool{}
		for _, t := range types {
			s.types[t] = true
		}
	}
	r.b.mu.Lock()
	r.b.subs[s] = struct{}{}
	r.b.mu.Unlock()
	context.AfterFunc(ctx, func() { r.b.remove(s) })
	return s.ch, nil
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8081"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b := &broker{subs: map[*subscriber]struct{}{}, entropy: ulid.Monotonic(rand.Reader, 0)}
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &resolver{b: b}}))
	maxBody := int64(2<<20 + 64<<10)
	srv.AddTransport(transport.Websocket{
		Implementation:        newGorillaWS(),
		KeepAlivePingInterval: 15 * time.Second,
		InitTimeout:           10 * time.Second,
		PayloadReadLimit:      &maxBody,
	})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))

	mux := http.NewServeMux()
	mux.Handle("/graphql", srv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	log.Info("listening", "addr", ln.Addr().String())
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
