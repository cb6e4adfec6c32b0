// Package graph serves Rewind's own GraphQL schema (schema.graphqls): its
// resolvers, mutations and their document gate, where filters, the cost
// model and operation limits, and the one error presenter that gives every
// error its extensions.code. Subscriptions go out through package
// deliver; a typed API (package graph/typed) is composed beside it by the
// server. It is a public package.
package graph

//go:generate go tool gqlgen generate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"golang.org/x/time/rate"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/deliver"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/generated"
	"github.com/rewind-dev/rewind/graph/model"
	"github.com/rewind-dev/rewind/graph/render"
	"github.com/rewind-dev/rewind/replay"
)

// Config is what the API serves from. Store and Hub are required.
type Config struct {
	Store *eventstore.Store
	Hub   *replay.Hub
	// Logger receives unexpected errors (shown to clients without detail).
	// Default: discard.
	Logger *slog.Logger
	// Schema is the schema served: Rewind's own merged with a typed API's
	// (typed.API.Schema). Default: Rewind's own.
	Schema *ast.Schema
	// Appends names the event a mutation field gqlgen's generated code does
	// not know appends (a typed API's publish fields, typed.API.Append),
	// so that a mutation document's gate checks them with the others.
	Appends func(field string, args map[string]any) (ev eventstore.Event, ok bool, err error)
	// PublishRate, when positive, bounds each principal's appends per
	// second, in bursts of PublishBurst (at least 1).
	PublishRate  float64
	PublishBurst int
}

// Resolver serves the schema from a store and a live hub, for the
// principal (package auth) each request's context carries.
type Resolver struct {
	cfg      Config
	present  graphql.ErrorPresenterFunc
	limiters *lru.Cache[string, *rate.Limiter] // per principal; nil: no limit
	marks    deliver.Marks                     // caught-up points of running subscriptions
	cache    render.Cache                      // renders shared by shape
}

// New returns the root resolver for cfg.
func New(cfg Config) *Resolver {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Schema == nil {
		cfg.Schema = generated.Schema()
	}
	r := &Resolver{cfg: cfg, present: ErrorPresenter(cfg.Logger)}
	if cfg.PublishRate > 0 {
		r.limiters, _ = lru.New[string, *rate.Limiter](100_000)
	}
	return r
}

// Sources are the SDL of Rewind's own schema, for a typed API built
// beside it (typed.Build).
func Sources() []*ast.Source { return generated.Sources() }

// Schema returns the executable schema: gqlgen's generated executor of
// Rewind's fields, on Config.Schema, with the cost model the limits
// measure.
func (r *Resolver) Schema() graphql.ExecutableSchema {
	return generated.NewExecutableSchema(generated.Config{Schema: r.cfg.Schema, Resolvers: r, Complexity: costs()})
}

// Source is where the API's subscriptions come from: the store and hub,
// errors presented as the API presents them, cursors checked against the
// caller's grants, caught-up points kept for the live field.
func (r *Resolver) Source() deliver.Source {
	return deliver.Source{
		Store: r.cfg.Store, Hub: r.cfg.Hub, Present: r.present,
		CheckCursor: func(ctx context.Context, id ulid.ULID) error { return readableCursor(ctx, r.cfg.Store, id) },
		Marks:       &r.marks,
	}
}

// Cache is the render cache the API's subscriptions share by shape.
func (r *Resolver) Cache() *render.Cache { return &r.cache }

// schema is the schema the resolver serves.
func (r *Resolver) schema() *ast.Schema { return r.cfg.Schema }

// mayPublish checks that the request's principal may append to topic now.
// Within a mutation document the gate has checked every append already.
func (r *Resolver) mayPublish(ctx context.Context, topic string) error {
	if a := appendsFrom(ctx); a != nil && a.checked {
		return nil
	}
	return r.mayPublishAll(ctx, []string{topic})
}

// allow takes n appends from p's rate, all or none.
func (r *Resolver) allow(p *auth.Principal, n int) error {
	if r.limiters == nil || n == 0 {
		return nil
	}
	lim, ok := r.limiters.Get(p.Subject)
	if !ok {
		lim = rate.NewLimiter(rate.Limit(r.cfg.PublishRate), max(r.cfg.PublishBurst, 1))
		r.limiters.Add(p.Subject, lim)
	}
	if n > lim.Burst() {
		// AllowN would refuse it at any time: waiting cannot help.
		return fmt.Errorf("%w: %d appends at once are over %s's burst of %d (a rate of %.0f events/s): send at most %d at a time",
			ErrBatchTooLarge, n, p.Subject, lim.Burst(), r.cfg.PublishRate, lim.Burst())
	}
	if !lim.AllowN(time.Now(), n) {
		return fmt.Errorf("%w: %s publishes faster than %.0f events/s", codes.ErrRateLimited, p.Subject, r.cfg.PublishRate)
	}
	return nil
}

// MayRead checks that the request's principal may read every pattern.
func MayRead(ctx context.Context, patterns ...string) error {
	p, err := auth.From(ctx)
	if err != nil {
		return err
	}
	return p.CheckRead(patterns...)
}

// Owner is whom a subscription's filter work is charged to in the hub
// (replay.Request.Owner): the request's principal.
func Owner(ctx context.Context) string {
	if p, err := auth.From(ctx); err == nil {
		return p.Subject
	}
	return ""
}

// The seed's messages are events of this type on this topic.
const (
	MessagesTopic = "messages"
	MessageType   = "message"
)

// AppendMessage appends a seed-style message (also served by POST /publish-message).
func (r *Resolver) AppendMessage(ctx context.Context, content string) (*model.Message, error) {
	if err := r.mayPublish(ctx, MessagesTopic); err != nil {
		return nil, err
	}
	ev, err := messageEvent(content)
	if err != nil {
		return nil, err
	}
	ev, err = r.cfg.Store.Append(ctx, ev)
	if err != nil {
		return nil, err
	}
	return toMessage(&ev), nil
}

// messageEvent is the event a message is stored as.
func messageEvent(content string) (eventstore.Event, error) {
	data, err := json.Marshal(map[string]string{"content": content})
	return eventstore.Event{Topic: MessagesTopic, Type: MessageType, Data: data}, err
}

// toMessage reads a message event (see render.Content).
func toMessage(ev *eventstore.Event) *model.Message {
	return &model.Message{ID: ev.ID.String(), Timestamp: ev.Time(), Content: render.Content(ev.Data)}
}

// Cursor resolves a cursor argument (after) to a stream sequence, a cursor
// the caller may not read answered as an unknown one.
func (r *Resolver) Cursor(ctx context.Context, arg, id string) (uint64, error) {
	u, err := eventstore.ParseID(id)
	if err == nil {
		if err = readableCursor(ctx, r.cfg.Store, u); err == nil {
			var seq uint64
			if seq, err = r.cfg.Store.Resolve(ctx, u); err == nil {
				return seq, nil
			}
		}
	}
	return 0, fmt.Errorf("%s: %w", arg, err)
}

// readableCursor answers a cursor on a topic the request's principal may
// not read as it answers an id that is not stored (ErrCursorNotFound), so
// that cursors tell nothing of other topics' events. A request without a
// principal (a library's, see package durable) or an admin's is not
// checked, nor is the zero id (the start of the stream).
func readableCursor(ctx context.Context, store *eventstore.Store, id ulid.ULID) error {
	p, err := auth.From(ctx)
	if err != nil || p.Admin || id == (ulid.ULID{}) {
		return nil
	}
	ev, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	if !p.CanRead(ev.Topic) {
		return fmt.Errorf("cursor %s: %w", id, eventstore.ErrCursorNotFound)
	}
	return nil
}
