package graph

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

// StartAt sets req's start from a subscription's GraphQL arguments
// afterId, last, since and latest (see eventstore.Start): Rewind's own
// fields and a library user's (package durable) read them the same way. A
// stream resuming over SSE (Last-Event-ID) continues after that id
// whatever it first asked for.
func StartAt(ctx context.Context, store *eventstore.Store, req *replay.Request, afterID *string, last *int, since *time.Time, latest *bool) error {
	st, err := eventstore.ParseStart(afterID, last, since, latest)
	if errors.Is(err, eventstore.ErrStartConflict) {
		return fmt.Errorf("%w: use afterId, last, since or latest, not two", err)
	}
	if resumed := resumeFrom(ctx, afterID); resumed != afterID {
		afterID = resumed
		st, err = eventstore.ParseStart(resumed, nil, nil, nil)
	}
	if err == nil && st.After != nil {
		err = readableCursor(ctx, store, *st.After)
	}
	switch {
	case err != nil:
	case st.Latest:
		req.Latest = true // no position: the hub reads the newest of each topic
	default:
		req.After, req.Live, err = store.StartAfter(ctx, eventstore.Query{Topics: req.Topics, Types: req.Types}, st)
	}
	if err != nil && afterID != nil {
		return fmt.Errorf("afterId: %w", err)
	}
	return err
}

// liveMarks maps each running subscription (its operation) to its
// caught-up point, for the live field, which resolves in the operation's
// context and not in the one the subscription resolver made.
type liveMarks struct{ m sync.Map }

// trackLive records the subscription's caught-up point for the live field
// and forgets it when the subscription ends.
func (r *Resolver) trackLive(ctx context.Context) replay.Option {
	op := graphql.GetOperationContext(ctx)
	mark := &replay.LiveMark{}
	r.live.m.Store(op, mark)
	context.AfterFunc(ctx, func() { r.live.m.Delete(op) })
	return mark.Option()
}

// isLive reports whether ev reached its subscription live.
func (r *Resolver) isLive(ctx context.Context, ev *eventstore.Event) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	v, ok := r.live.m.Load(graphql.GetOperationContext(ctx))
	if !ok {
		return false // a query, or a mutation's result
	}
	return v.(*replay.LiveMark).Live(ev.Seq)
}
