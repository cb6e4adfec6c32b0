package graph

// THIS CODE WILL BE UPDATED WITH SCHEMA CHANGES. PREVIOUS IMPLEMENTATION FOR SCHEMA CHANGES WILL BE KEPT IN THE COMMENT SECTION. IMPLEMENTATION FOR UNCHANGED SCHEMA WILL BE KEPT.

import (
	"context"
	"encoding/json"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/deliver"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/generated"
	"github.com/rewind-dev/rewind/graph/model"
	"github.com/rewind-dev/rewind/graph/render"
	"github.com/rewind-dev/rewind/replay"
)

// ID is the resolver for the id field.
func (r *eventResolver) ID(ctx context.Context, obj *eventstore.Event) (string, error) {
	return obj.ID.String(), nil
}

// Live is the resolver for the live field.
func (r *eventResolver) Live(ctx context.Context, obj *eventstore.Event) (bool, error) {
	return r.marks.Live(ctx, obj.Seq), nil
}

// Publish is the resolver for the publish field.
func (r *mutationResolver) Publish(ctx context.Context, topic string, typeArg *string, data json.RawMessage, idempotencyKey *string) (*eventstore.Event, error) {
	if err := r.mayPublish(ctx, topic); err != nil {
		return nil, err
	}
	ev := eventstore.Event{Topic: topic, Type: MessageType, Data: data}
	if typeArg != nil {
		ev.Type = *typeArg
	}
	var opts []eventstore.AppendOption
	if idempotencyKey != nil {
		// A key is the principal's own: another principal's same key
		// stores its own event and never sees this one.
		p, err := auth.From(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, eventstore.WithIdempotencyKey(*idempotencyKey), eventstore.WithIdempotencyScope(p.Subject))
	}
	ev, err := r.cfg.Store.Append(ctx, ev, opts...)
	if err != nil {
		return nil, err
	}
	appendsFrom(ctx).record(ctx, ev)
	return &ev, nil
}

// PublishBatch is the resolver for the publishBatch field.
func (r *mutationResolver) PublishBatch(ctx context.Context, events []*model.PublishInput) ([]*model.PublishResult, error) {
	batch := make([]eventstore.BatchEvent, len(events))
	for i, in := range events {
		batch[i].Event = eventstore.Event{Topic: in.Topic, Type: MessageType, Data: in.Data}
		if in.Type != nil {
			batch[i].Event.Type = *in.Type
		}
		if in.IdempotencyKey != nil {
			batch[i].Key = *in.IdempotencyKey
		}
	}
	res, err := r.Resolver.PublishBatch(ctx, batch)
	if err != nil {
		return nil, withIndex(ctx, err)
	}
	appendsFrom(ctx).recordBatch(ctx, res)
	out := make([]*model.PublishResult, len(res))
	for i, a := range res {
		if a.Err != nil {
			code, msg := r.Failure(ctx, a.Err)
			out[i] = &model.PublishResult{Error: &model.PublishError{Code: code, Message: msg}}
			continue
		}
		seq := int(a.Event.Seq)
		out[i] = &model.PublishResult{Event: &a.Event, Sequence: &seq}
	}
	return out, nil
}

// PublishMessage is the resolver for the publishMessage field.
func (r *mutationResolver) PublishMessage(ctx context.Context, content string) (*model.Message, error) {
	return r.AppendMessage(ctx, content)
}

// Hello is the resolver for the hello field.
func (r *queryResolver) Hello(ctx context.Context) (string, error) {
	if _, err := auth.From(ctx); err != nil {
		return "", err
	}
	return "Hello from Rewind", nil
}

// Event is the resolver for the event field.
func (r *queryResolver) Event(ctx context.Context, id string) (*eventstore.Event, error) {
	u, err := eventstore.ParseID(id)
	if err != nil {
		return nil, err
	}
	// A principal that may read nothing starts no lookup: a lookup of an
	// unknown id can cost a scan of the stream.
	p, err := auth.From(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.CheckReadSomething(); err != nil {
		return nil, err
	}
	ev, err := r.cfg.Store.Get(ctx, u)
	if errIs(err, eventstore.ErrCursorNotFound, eventstore.ErrCursorExpired) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !p.CanRead(ev.Topic) {
		return nil, nil // as if unknown: ids cannot probe other topics
	}
	if err := r.chargeFor(ctx).Take(&ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Events is the resolver for the events field.
func (r *queryResolver) Events(ctx context.Context, topic string, first *int, after *string, where *model.Filter) (*model.EventConnection, error) {
	n := defaultPage
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxPage {
		return nil, badInput("first must be between 1 and %d, got %d", maxPage, n)
	}
	if err := eventstore.ValidatePattern(topic); err != nil {
		return nil, err
	}
	if err := MayRead(ctx, topic); err != nil {
		return nil, err
	}
	filter, err := CompileWhere(where)
	if err != nil {
		return nil, err
	}
	pq := pageQuery{q: eventstore.Query{Topics: []string{topic}}, n: n, filter: filter, charge: r.chargeFor(ctx)}
	if after != nil {
		seq, err := r.Cursor(ctx, "after", *after)
		if err != nil {
			return nil, err
		}
		pq.q.After = seq
	}
	p, err := readPage(ctx, r.cfg.Store, pq)
	if err != nil {
		return nil, err
	}
	conn := &model.EventConnection{Edges: make([]*model.EventEdge, len(p.events)), PageInfo: &model.PageInfo{HasNextPage: p.hasNext}}
	for i, ev := range p.events {
		conn.Edges[i] = &model.EventEdge{Cursor: ev.ID.String(), Node: ev}
	}
	switch {
	case p.end != ulid.ULID{}:
		end := p.end.String()
		conn.PageInfo.EndCursor = &end
	case len(conn.Edges) > 0:
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	return conn, nil
}

// Topics is the resolver for the topics field.
func (r *queryResolver) Topics(ctx context.Context, first *int, after *string) ([]*model.TopicInfo, error) {
	page := eventstore.TopicPage{Limit: defaultTopicsPage}
	if first != nil {
		page.Limit = *first
	}
	if page.Limit < 1 || page.Limit > maxPage {
		return nil, badInput("first must be between 1 and %d, got %d", maxPage, page.Limit)
	}
	if after != nil {
		page.After = *after
	}
	p, err := auth.From(ctx)
	if err != nil {
		return nil, err
	}
	readable := p.Subscribe
	if p.Admin {
		readable = []string{">"}
	}
	topics, _, err := r.cfg.Store.Topics(ctx, readable, page) // costs what p may read, not what the stream holds
	if err != nil {
		return nil, err
	}
	out := make([]*model.TopicInfo, 0, len(topics))
	for _, t := range topics {
		if !p.CanRead(t.Name) {
			continue // a listing shows what the principal may read
		}
		first, last := t.FirstID.String(), t.LastID.String()
		out = append(out, &model.TopicInfo{Name: t.Name, Events: int(t.Events), FirstID: &first, LastID: &last})
	}
	return out, nil
}

// minCountIntervalMs is count's shortest interval: at 1 ms, 200 counts on
// one socket kept the server busy sending 48,000 messages a second.
const minCountIntervalMs = 100

// Count is the resolver for the count field.
func (r *subscriptionResolver) Count(ctx context.Context, target int, intervalMs int) (<-chan int, error) {
	if _, err := auth.From(ctx); err != nil {
		return nil, err
	}
	if target < 0 || target > 100_000 || intervalMs < minCountIntervalMs || intervalMs > 3_600_000 {
		return nil, badInput("target must be 0 to 100000 and intervalMs %d to 3600000", minCountIntervalMs)
	}
	ch := make(chan int)
	go func() {
		defer close(ch)
		tick := time.NewTicker(time.Duration(intervalMs) * time.Millisecond)
		defer tick.Stop()
		for i := range target {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
			if i == target-1 {
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// Events is the resolver for the events field.
func (r *subscriptionResolver) Events(ctx context.Context, topics []string, afterID *string, types []string, last *int, since *time.Time, latest *bool, where *model.Filter) (<-chan *eventstore.Event, error) {
	for _, t := range topics {
		if err := eventstore.ValidatePattern(t); err != nil {
			return nil, err
		}
	}
	if err := MayRead(ctx, topics...); err != nil {
		return nil, err
	}
	filter, err := CompileWhere(where)
	if err != nil {
		return nil, err
	}
	req := replay.Request{Topics: topics, Types: types, Filter: filter, Owner: Owner(ctx)}
	src := r.Source()
	if err := src.Request(ctx, &req, deliver.Start{AfterID: afterID, Last: last, Since: since, Latest: latest}); err != nil {
		return nil, err
	}
	if native, err := r.stream(ctx, src, req); native || err != nil {
		return make(chan *eventstore.Event), err // gqlgen never reads it: the transport drains the stream
	}
	return deliver.Relay(ctx, src, req, func(ev *eventstore.Event, _ bool) (*eventstore.Event, bool, error) { return ev, true, nil })
}

// RealTimeMessages is the resolver for the realTimeMessages field.
func (r *subscriptionResolver) RealTimeMessages(ctx context.Context, afterID *string, last *int, since *time.Time, latest *bool, where *model.Filter) (<-chan *model.Message, error) {
	if err := MayRead(ctx, MessagesTopic); err != nil {
		return nil, err
	}
	filter, err := CompileWhere(where)
	if err != nil {
		return nil, err
	}
	req := replay.Request{Topics: []string{MessagesTopic}, Types: []string{MessageType}, Filter: filter, Owner: Owner(ctx)}
	src := r.Source()
	if err := src.Request(ctx, &req, deliver.Start{AfterID: afterID, Last: last, Since: since, Latest: latest}); err != nil {
		return nil, err
	}
	if native, err := r.stream(ctx, src, req); native || err != nil {
		return make(chan *model.Message), err
	}
	return deliver.Relay(ctx, src, req, func(ev *eventstore.Event, _ bool) (*model.Message, bool, error) { return toMessage(ev), true, nil })
}

// stream serves the subscription resolved in ctx natively when its
// delivery takes streams (see deliver.Source.Stream), each event rendered
// by the subscription's selection, once per shape; false when it must go
// through gqlgen's channel (another delivery, a selection the renderer
// cannot write exactly: @defer).
func (r *Resolver) stream(ctx context.Context, src deliver.Source, req replay.Request) (bool, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return false, nil
	}
	prog, err := render.Compile(graphql.GetOperationContext(ctx), r.schema(), fc.Field, render.Options{Present: r.present})
	if err != nil {
		return false, nil
	}
	rr, release := r.cache.Hold(prog)
	deliver.OnEnd(ctx, release)
	return src.Stream(ctx, req, rr, nil)
}

// Event returns the EventResolver implementation.
func (r *Resolver) Event() generated.EventResolver { return &eventResolver{r} }

// Mutation returns generated.MutationResolver implementation.
func (r *Resolver) Mutation() generated.MutationResolver { return &mutationResolver{r} }

// Query returns the QueryResolver implementation.
func (r *Resolver) Query() generated.QueryResolver { return &queryResolver{r} }

// Subscription returns generated.SubscriptionResolver implementation.
func (r *Resolver) Subscription() generated.SubscriptionResolver { return &subscriptionResolver{r} }

type (
	eventResolver        struct{ *Resolver }
	mutationResolver     struct{ *Resolver }
	queryResolver        struct{ *Resolver }
	subscriptionResolver struct{ *Resolver }
)
