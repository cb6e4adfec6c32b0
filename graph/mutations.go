package graph

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/render"
	"github.com/rewind-dev/rewind/graph/scalar"
	"github.com/rewind-dev/rewind/internal/saturate"
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
	pending, err := g.r.appendsOf(ctx, oc)
	if err == nil {
		err = g.r.mayAppendAll(ctx, pending, true)
	}
	if err != nil {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{g.r.present(ctx, withIndex(ctx, err))}})
	}
	return next(context.WithValue(ctx, appendsKey{}, &appends{checked: true}))
}

// pendingAppend is one append a mutation document asks for, as its
// resolver will append it.
type pendingAppend struct {
	field string // the field, as errors name it
	index int    // its index in a batch's events; -1 for a field of one event
	ev    eventstore.Event
	key   string // its idempotency key, "" for none
}

// refuse is err about this append: for an event of a batch, a
// *BatchError naming its index.
func (p pendingAppend) refuse(err error) error {
	if p.index < 0 {
		return err
	}
	return fmt.Errorf("%s: %w", p.field, &BatchError{Index: p.index, Err: err})
}

// appendsOf lists every append in the operation, in document order:
// publish's arguments, publishMessage's message, publishBatch's events, a
// typed publish's data. It refuses a batch over MaxBatch events, and
// batches whose results would render more than the operation's budget of
// bytes (their selection times their events' data), before anything runs.
func (r *Resolver) appendsOf(ctx context.Context, oc *graphql.OperationContext) ([]pendingAppend, error) {
	var out []pendingAppend
	renders := 0 // bytes the batches' results render, at most
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Mutation"}) {
		// The limits extension has checked the arguments, so mapping them
		// cannot panic.
		args := f.ArgumentMap(oc.Variables)
		key, _ := args["idempotencyKey"].(string)
		one := pendingAppend{field: fieldAt(f), index: -1, key: key}
		if r.cfg.Appends != nil {
			ev, ok, err := r.cfg.Appends(f.Name, args)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fieldAt(f), err)
			}
			if ok {
				one.ev = ev
				out = append(out, one)
				continue
			}
		}
		switch f.Name {
		case "publish":
			ev, err := publishEvent(args)
			if err != nil {
				return nil, badInput("%s: data: %v", fieldAt(f), err)
			}
			one.ev = ev
			out = append(out, one)
		case "publishMessage":
			content, _ := args["content"].(string)
			ev, err := messageEvent(content)
			if err != nil {
				return nil, err
			}
			one.ev = ev
			out = append(out, one)
		case "publishBatch":
			events := listOf(args["events"])
			if len(events) > MaxBatch {
				return nil, fmt.Errorf("%s: %w: %d events, the limit is %d a batch: split it", fieldAt(f), ErrBatchTooLarge, len(events), MaxBatch)
			}
			cost := render.Measure(oc, r.schema(), "PublishResult", f.Selections)
			for i, e := range events {
				in, _ := e.(map[string]any)
				ev, err := publishEvent(in)
				p := pendingAppend{field: fieldAt(f), index: i, ev: ev}
				if err != nil {
					return nil, p.refuse(badInput("data: %v", err))
				}
				p.key, _ = in["idempotencyKey"].(string)
				renders = saturate.Add(renders, cost.Bytes(len(ev.Data)))
				out = append(out, p)
			}
		}
	}
	if limit := render.Limit(ctx); limit > 0 && renders > limit {
		return nil, fmt.Errorf("%w: the results of publishBatch would render up to %d bytes, the limit is %d; select data fewer times, or send fewer events a batch",
			ErrResponseTooLarge, renders, limit)
	}
	return out, nil
}

// listOf is the elements of a list argument as mapped: a literal list, a
// variable's list (gqlparser may have made it a typed slice), or one value
// given for the list, which GraphQL coerces into a list of it, as the
// executor does.
func listOf(v any) []any {
	switch l := v.(type) {
	case nil:
		return nil
	case []any:
		return l
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return []any{v}
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out
}

// publishEvent is the event of publish's arguments, or of one of
// publishBatch's events (the same fields, mapped).
func publishEvent(args map[string]any) (eventstore.Event, error) {
	ev := eventstore.Event{Type: MessageType}
	ev.Topic, _ = args["topic"].(string)
	if t, ok := args["type"].(string); ok {
		ev.Type = t
	}
	data, err := scalar.UnmarshalJSON(args["data"])
	ev.Data = data
	return ev, err
}

// fieldAt names a field of the document in errors: its alias, and the
// field when the alias differs.
func fieldAt(f graphql.CollectedField) string {
	if f.Alias == f.Name {
		return f.Name
	}
	return f.Alias + " (" + f.Name + ")"
}

// mayAppendAll checks every append as the store will before storing it
// (topic, grant, type, size, declared type, key), in order, then, with
// rate, that the principal may publish them all now, taking one of its
// rate for each.
func (r *Resolver) mayAppendAll(ctx context.Context, pending []pendingAppend, rate bool) error {
	p, err := auth.From(ctx)
	if err != nil {
		return err
	}
	for _, a := range pending {
		if err := eventstore.ValidateTopic(a.ev.Topic); err != nil {
			return a.refuse(err)
		}
		if err := p.CheckPublish(a.ev.Topic); err != nil {
			return a.refuse(err)
		}
		var opts []eventstore.AppendOption
		if a.key != "" {
			opts = append(opts, eventstore.WithIdempotencyKey(a.key))
		}
		if err := r.cfg.Store.Validate(a.ev, opts...); err != nil {
			return a.refuse(err)
		}
	}
	if !rate {
		return nil
	}
	return r.allow(p, len(pending))
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
	path := fieldPath(ctx)
	a.mu.Lock()
	a.stored = append(a.stored, map[string]any{"path": path, "id": ev.ID.String()})
	a.mu.Unlock()
}

// fieldPath is the path of the field being resolved in ctx, "" outside one.
func fieldPath(ctx context.Context) string {
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		return fc.Path().String()
	}
	return ""
}

// recordBatch notes that the current field stored the events of res that
// were stored, each at its index.
func (a *appends) recordBatch(ctx context.Context, res []eventstore.Appended) {
	if a == nil {
		return
	}
	path := fieldPath(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, r := range res {
		if r.Err == nil {
			a.stored = append(a.stored, map[string]any{"path": fmt.Sprintf("%s[%d]", path, i), "id": r.Event.ID.String()})
		}
	}
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

// MaxBatch bounds the events of one publishBatch field or POST /publish
// request: JetStream's default atomic batch size, so that a batch within it
// (and within 8 MiB) is stored as one atomic batch, with one fsync.
const MaxBatch = 1000

// ErrBatchTooLarge: a batch of more events than MaxBatch, or appends at
// once (a batch, a document) over the principal's publish burst, which no
// wait would let pass.
var ErrBatchTooLarge = codes.New(codes.BatchTooLarge, "batch too large")

// BatchError refuses a batch for one of its events, at Index (from 0):
// nothing of the batch was stored.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("event %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// withIndex gives a GraphQL error refusing a batch for one of its events
// that event's index, in extensions.index; the error presenter adds the
// code. Other errors are returned as they are.
func withIndex(ctx context.Context, err error) error {
	be, ok := errors.AsType[*BatchError](err)
	if !ok {
		return err
	}
	return &gqlerror.Error{Message: err.Error(), Err: err, Path: graphql.GetPath(ctx), Extensions: map[string]any{"index": be.Index}}
}

// PublishBatch appends evs as publishBatch and POST /publish do. Every
// event is checked first, in order, as Append checks it (topic, grant,
// type, data, declared type, key), then the principal's rate takes one
// for each (or the mutation document's gate has done all that): a refused
// event refuses the batch, nothing stored, with a *BatchError naming its
// index. Then the events are stored in order, as atomic batches (see
// eventstore.Store.AppendEach), each with its own result: stored with its
// id and sequence (for a key used within the window, the original event),
// or its error, the others stored regardless. Keys are the principal's
// own, as publish's.
func (r *Resolver) PublishBatch(ctx context.Context, evs []eventstore.BatchEvent) ([]eventstore.Appended, error) {
	if len(evs) > MaxBatch {
		return nil, fmt.Errorf("%w: %d events, the limit is %d a batch: split it", ErrBatchTooLarge, len(evs), MaxBatch)
	}
	p, err := auth.From(ctx)
	if err != nil {
		return nil, err
	}
	// Within a mutation document the gate has checked the batch and taken
	// its rate; the events are checked again all the same, which costs
	// little beside storing them, so that no way of writing a document
	// past the gate stores an event the principal may not.
	gated := appendsFrom(ctx) != nil && appendsFrom(ctx).checked
	pending := make([]pendingAppend, len(evs))
	for i, be := range evs {
		pending[i] = pendingAppend{field: "publishBatch", index: i, ev: be.Event, key: be.Key}
	}
	if err := r.mayAppendAll(ctx, pending, !gated); err != nil {
		return nil, err
	}
	// A key is the principal's own: another principal's same key stores
	// its own event and never sees this one.
	return r.cfg.Store.AppendEach(ctx, evs, eventstore.WithIdempotencyScope(p.Subject))
}

// Failure is what a client is shown of err, the error of one event of a
// batch: its code and message, as the error presenter shows them (an
// unexpected error is logged and shown as INTERNAL_SERVER_ERROR without
// detail).
func (r *Resolver) Failure(ctx context.Context, err error) (code, message string) {
	if code := codes.Of(err); code != "" {
		return code, err.Error()
	}
	r.cfg.Logger.ErrorContext(ctx, "publish batch: unexpected error", "err", err)
	return codes.Internal, "internal error"
}
