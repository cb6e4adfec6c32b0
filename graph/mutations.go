package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/scalar"
)

// mutationGate checks every append a mutation document asks for before
// any of them runs: topics, grants and the principal's rate, all at once.
// gqlgen executes mutation fields one after the other, so without it
// `{ a: publish(allowed) b: publish(forbidden) }` stored a and then
// answered data: null with b's error only: the client could not know.
type mutationGate struct{ r *Resolver }

var (
	_ graphql.HandlerExtension     = mutationGate{}
	_ graphql.OperationInterceptor = mutationGate{}
)

func (mutationGate) ExtensionName() string                   { return "MutationGate" }
func (mutationGate) Validate(graphql.ExecutableSchema) error { return nil }

func (g mutationGate) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return next(ctx)
	}
	evs, err := appendsOf(oc, g.r.cfg.Appends)
	if err == nil {
		err = g.r.mayAppendAll(ctx, evs)
	}
	if err != nil {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{g.r.present(ctx, err)}})
	}
	return next(context.WithValue(ctx, appendsKey{}, &appends{checked: true}))
}

// appendsOf lists the event of every append in the operation, in
// document order, as its resolver will append it: publish's arguments,
// publishMessage's message, a typed publish's data.
func appendsOf(oc *graphql.OperationContext, other func(field string, args map[string]any) (eventstore.Event, bool, error)) ([]eventstore.Event, error) {
	var evs []eventstore.Event
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Mutation"}) {
		// The limits extension has checked the arguments, so mapping them
		// cannot panic.
		args := f.ArgumentMap(oc.Variables)
		if other != nil {
			ev, ok, err := other(f.Name, args)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fieldAt(f), err)
			}
			if ok {
				evs = append(evs, ev)
				continue
			}
		}
		switch f.Name {
		case "publish":
			ev := eventstore.Event{Type: MessageType}
			ev.Topic, _ = args["topic"].(string)
			if t, ok := args["type"].(string); ok {
				ev.Type = t
			}
			data, err := scalar.UnmarshalJSON(args["data"])
			if err != nil {
				return nil, badInput("%s: data: %v", fieldAt(f), err)
			}
			ev.Data = data
			evs = append(evs, ev)
		case "publishMessage":
			content, _ := args["content"].(string)
			ev, err := messageEvent(content)
			if err != nil {
				return nil, err
			}
			evs = append(evs, ev)
		}
	}
	return evs, nil
}

// fieldAt names a field of the document in errors: its alias, and the
// field when the alias differs.
func fieldAt(f graphql.CollectedField) string {
	if f.Alias == f.Name {
		return f.Name
	}
	return f.Alias + " (" + f.Name + ")"
}

// mayAppendAll checks every event as the store will before storing it
// (topic, type, size, declared type), then that the principal may
// publish them all now.
func (r *Resolver) mayAppendAll(ctx context.Context, evs []eventstore.Event) error {
	topics := make([]string, len(evs))
	for i, ev := range evs {
		if err := r.cfg.Store.Validate(ev); err != nil {
			return err
		}
		topics[i] = ev.Topic
	}
	return r.mayPublishAll(ctx, topics)
}

// mayPublishAll checks that the request's principal may append to every
// topic now, taking one token of its rate for each.
func (r *Resolver) mayPublishAll(ctx context.Context, topics []string) error {
	p, err := auth.From(ctx)
	if err != nil {
		return err
	}
	for _, t := range topics {
		if err := eventstore.ValidateTopic(t); err != nil {
			return err
		}
		if err := p.CheckPublish(t); err != nil {
			return err
		}
	}
	return r.allow(p, len(topics))
}

// appends is what one mutation document has stored so far, so that a
// later failure can say which of its events were stored (extensions.stored).
type appends struct {
	checked bool // every topic was checked by mutationGate

	mu     sync.Mutex
	stored []map[string]any // {"path": alias, "id": ULID}
}

type appendsKey struct{}

func appendsFrom(ctx context.Context) *appends {
	a, _ := ctx.Value(appendsKey{}).(*appends)
	return a
}

// record notes that the current field stored ev.
func (a *appends) record(ctx context.Context, ev eventstore.Event) {
	if a == nil {
		return
	}
	path := ""
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		path = fc.Path().String()
	}
	a.mu.Lock()
	a.stored = append(a.stored, map[string]any{"path": path, "id": ev.ID.String()})
	a.mu.Unlock()
}

// storedSoFar returns the events stored by the document so far, nil if none.
func (a *appends) storedSoFar() []map[string]any {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.stored) == 0 {
		return nil
	}
	return append([]map[string]any(nil), a.stored...)
}

// Publish appends ev as Mutation.publish does: the principal's grant and
// rate (or the mutation document's gate), its idempotency key (nil: none),
// and the stored events the document's errors list. A typed API's publish
// fields append through it.
func (r *Resolver) Publish(ctx context.Context, ev eventstore.Event, key *string) (*eventstore.Event, error) {
	return (&mutationResolver{r}).Publish(ctx, ev.Topic, &ev.Type, ev.Data, key)
}
