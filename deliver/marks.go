package deliver

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/rewind-dev/rewind/replay"
)

// Marks maps each running subscription, by its operation, to its
// caught-up point, for a live field that gqlgen's executor resolves in the
// operation's context rather than in the subscription resolver's. The
// zero value is ready; one serves a process.
type Marks struct{ m sync.Map } // *graphql.OperationContext -> *replay.LiveMark

// track records mark for ctx's operation until ctx ends.
func (ms *Marks) track(ctx context.Context, mark *replay.LiveMark) {
	if ms == nil || !graphql.HasOperationContext(ctx) {
		return
	}
	op := graphql.GetOperationContext(ctx)
	ms.m.Store(op, mark)
	context.AfterFunc(ctx, func() { ms.m.Delete(op) })
}

// Live reports whether the event at seq reached ctx's subscription live;
// false outside a subscription (a query, a mutation's result).
func (ms *Marks) Live(ctx context.Context, seq uint64) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	v, ok := ms.m.Load(graphql.GetOperationContext(ctx))
	return ok && v.(*replay.LiveMark).Live(seq)
}

// CaughtUp reports whether ctx's subscription has caught up.
func (ms *Marks) CaughtUp(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	v, ok := ms.m.Load(graphql.GetOperationContext(ctx))
	return ok && v.(*replay.LiveMark).CaughtUp()
}
