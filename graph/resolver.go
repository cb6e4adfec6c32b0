// Package graph is the gqlgen glue of Rewind's GraphQL API: resolvers that
// translate arguments into eventstore and replay calls, the JSON scalar,
// and the one place where errors become extensions.code.
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
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/model"
	"github.com/rewind-dev/rewind/replay"
)

// Resolver serves the schema from a store and a live hub, for the
// principal (package auth) each request's context carries.
type Resolver struct {
	store     *eventstore.Store
	hub       *replay.Hub
	present   graphql.ErrorPresenterFunc
	limiters  *lru.Cache[string, *rate.Limiter] // per principal; nil: no limit
	rate      rate.Limit
	burst     int
	live      liveMarks // caught-up points of running subscriptions
	renderers renderers // compiled selections of natively served subscriptions
	typed     *typedAPI // the typed API (ServeEvents, ServeFederation); nil: none
	events    *eventschema.Schema
	federated bool
}

// NewResolver returns the root resolver.
func NewResolver(store *eventstore.Store, hub *replay.Hub, log *slog.Logger) *Resolver {
	return &Resolver{store: store, hub: hub, present: ErrorPresenter(log)}
}

// schema is the schema the resolver serves: Rewind's own, with the typed
// API's types when it serves one.
func (r *Resolver) schema() *ast.Schema {
	if r.typed != nil {
		return r.typed.schema
	}
	return parsedSchema
}

// LimitPublishes allows each principal perSecond appends on average, in
// bursts of up to burst; beyond it publishes fail with RATE_LIMITED.
func (r *Resolver) LimitPublishes(perSecond float64, burst int) {
	r.limiters, _ = lru.New[string, *rate.Limiter](100_000)
	r.rate, r.burst = rate.Limit(perSecond), max(burst, 1)
}

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
		lim = rate.NewLimiter(r.rate, r.burst)
		r.limiters.Add(p.Subject, lim)
	}
	if !lim.AllowN(time.Now(), n) {
		return fmt.Errorf("%w: %s publishes faster than %.0f events/s", codes.ErrRateLimited, p.Subject, float64(r.rate))
	}
	return nil
}

// mayRead checks that the request's principal may read every pattern.
func mayRead(ctx context.Context, patterns ...string) error {
	p, err := auth.From(ctx)
	if err != nil {
		return err
	}
	return p.CheckRead(patterns...)
}

// owner is whom a subscription's filter work is charged to in the hub
// (replay.Request.Owner): the request's principal.
func owner(ctx context.Context) string {
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
	ev, err = r.store.Append(ctx, ev)
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

// toMessage reads a message event: {"content": "..."} or a bare string;
// any other data is shown as JSON text.
func toMessage(ev *eventstore.Event) *model.Message {
	m := &model.Message{ID: ev.ID.String(), Timestamp: ev.Time()}
	var body struct {
		Content *string `json:"content"`
	}
	switch {
	case json.Unmarshal(ev.Data, &body) == nil && body.Content != nil:
		m.Content = *body.Content
	case json.Unmarshal(ev.Data, &m.Content) == nil:
	default:
		m.Content = string(ev.Data)
	}
	return m
}

// cursor resolves a cursor argument (afterId, after) to a stream sequence.
func (r *Resolver) cursor(ctx context.Context, arg, id string) (uint64, error) {
	u, err := eventstore.ParseID(id)
	if err == nil {
		if err = readableCursor(ctx, r.store, u); err == nil {
			var seq uint64
			if seq, err = r.store.Resolve(ctx, u); err == nil {
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
