package deliver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/99designs/gqlgen/graphql"
	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport"
)

// Source is where subscriptions come from and how they end.
type Source struct {
	// Store resolves start points; Hub (running, see replay.Hub.Run)
	// replays and follows.
	Store *eventstore.Store
	Hub   *replay.Hub
	// Present turns the error a subscription ends with into the error
	// the client receives. Default graphql.DefaultErrorPresenter.
	Present graphql.ErrorPresenterFunc
	// CheckCursor, if set, is asked about the event a cursor names before
	// the subscription resolves it: its error is the cursor's (a cursor
	// on a topic the caller may not read answered as unknown, say).
	CheckCursor func(ctx context.Context, id ulid.ULID) error
	// Marks, if set, keeps each subscription's caught-up point for its
	// operation, for a live field gqlgen's executor resolves (see Marks).
	Marks *Marks
}

// Start is a subscription's start point as its arguments give it, nil
// meaning not given: at most one of them; none starts live.
type Start struct {
	AfterID *string
	Last    *int
	Since   *time.Time
	Latest  *bool
}

// Request sets req's start from st (see eventstore.Start). A subscription
// whose delivery carries the client's resume point (transport.Resumer:
// SSE's Last-Event-ID) starts after it instead, whatever it first asked
// for: that is how EventSource resumes with no code of the client's.
func (s Source) Request(ctx context.Context, req *replay.Request, st Start) error {
	afterID := st.AfterID
	start, err := eventstore.ParseStart(st.AfterID, st.Last, st.Since, st.Latest)
	if errors.Is(err, eventstore.ErrStartConflict) {
		return fmt.Errorf("%w: use afterId, last, since or latest, not two", err)
	}
	if id, ok := resumeID(ctx); ok {
		afterID = &id
		start, err = eventstore.ParseStart(afterID, nil, nil, nil)
	}
	if err == nil && start.After != nil && s.CheckCursor != nil && *start.After != (ulid.ULID{}) {
		err = s.CheckCursor(ctx, *start.After)
	}
	switch {
	case err != nil:
	case start.Latest:
		req.Latest = true // no position: the hub reads the newest of each topic
	default:
		req.After, req.Live, err = s.Store.StartAfter(ctx, eventstore.Query{Topics: req.Topics, Types: req.Types}, start)
	}
	if err != nil && afterID != nil {
		return fmt.Errorf("afterId: %w", err)
	}
	return err
}

// resumeID returns the resume point ctx's delivery carries, if any.
func resumeID(ctx context.Context) (string, bool) {
	d, _ := transport.From(ctx)
	if res, ok := d.(transport.Resumer); ok {
		return res.ResumeAfter()
	}
	return "", false
}

// Lifetime returns the context a subscription resolved in ctx should
// register what it holds on (a renderer's shape, the hub's registration):
// its delivery's own (transport.Lifetime), which ends with the operation
// but holds none of the executor's state, or ctx itself.
func Lifetime(ctx context.Context) context.Context {
	d, _ := transport.From(ctx)
	if l, ok := d.(transport.Lifetime); ok {
		if life := l.Lifetime(); life != nil {
			return life
		}
	}
	return ctx
}

// OnEnd runs f once the subscription resolved in ctx has ended: through
// its delivery (transport.Ender), which registers all of a subscription's
// at once, or on Lifetime(ctx).
func OnEnd(ctx context.Context, f func()) {
	d, _ := transport.From(ctx)
	if e, ok := d.(transport.Ender); ok {
		e.OnEnd(f)
		return
	}
	context.AfterFunc(Lifetime(ctx), f)
}

// ender reports the error a subscription ends with, once, to its
// delivery: the one end-of-stream rule of every way out.
type ender struct {
	ctx     context.Context // the subscription's end; with root, what presenting needs
	root    *rootField      // nil: ctx is the resolver's own
	d       transport.Delivery
	present graphql.ErrorPresenterFunc
	once    sync.Once
}

// rootField is what an error's path needs of the root field: strings,
// where a graphql.FieldContext and its ast.Field held for every idle
// subscription would cost some 300 bytes.
type rootField struct{ object, alias, name string }

// ender returns the ender of the subscription resolved in ctx. With a
// lean life (see Lifetime), it keeps of ctx only the root field's name and
// alias (its error's path), so that ctx's executor state can go.
func (s Source) ender(ctx, life context.Context) *ender {
	present := s.Present
	if present == nil {
		present = graphql.DefaultErrorPresenter
	}
	d, _ := transport.From(ctx)
	e := &ender{ctx: ctx, d: d, present: present}
	if life != ctx {
		e.ctx = life
		if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Field != nil {
			e.root = &rootField{object: fc.Object, alias: fc.Field.Alias, name: fc.Field.Name}
		}
	}
	return e
}

// fail reports err (nil: nothing, the subscription ends cleanly).
func (e *ender) fail(err error) {
	if err == nil || e.ctx.Err() != nil {
		return
	}
	e.once.Do(func() {
		ctx := e.ctx
		if r := e.root; r != nil {
			// The path of a root field is its alias.
			ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: r.object,
				Field: graphql.CollectedField{Field: &ast.Field{Alias: r.alias, Name: r.name}}})
		}
		presented := e.present(ctx, err)
		if e.d != nil {
			e.d.ReportError(presented)
		}
	})
}
