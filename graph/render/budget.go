package render

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/eventstore"
)

// responseBudget is an operation's MaxResponseBytes and what is left of it
// for the events its queries read.
type responseBudget struct {
	max  int
	left atomic.Int64
}

type budgetKey struct{}

// WithBudget returns ctx with an operation's budget of n bytes: its queries
// charge the events they read against it (ChargeFor), and its renders stop
// at n (Limit).
func WithBudget(ctx context.Context, n int) context.Context {
	b := &responseBudget{max: n}
	b.left.Store(int64(n))
	return context.WithValue(ctx, budgetKey{}, b)
}

// Limit returns the budget of ctx's operation (see WithBudget), 0 for
// none.
func Limit(ctx context.Context) int {
	if b, ok := ctx.Value(budgetKey{}).(*responseBudget); ok {
		return b.max
	}
	return 0
}

// Charge charges the events one field reads against its operation's
// budget: each its render cost for its stored size. The zero Charge takes
// everything.
type Charge struct {
	budget *responseBudget // nil: no budget (outside an operation)
	cost   Cost
}

// ChargeFor returns the charge of the field being resolved in ctx, whose
// selection is on a type of schema.
func ChargeFor(ctx context.Context, schema *ast.Schema) Charge {
	b, _ := ctx.Value(budgetKey{}).(*responseBudget)
	fc := graphql.GetFieldContext(ctx)
	if b == nil || fc == nil || fc.Field.Field == nil || fc.Field.Definition == nil || !graphql.HasOperationContext(ctx) {
		return Charge{}
	}
	return Charge{budget: b, cost: Measure(graphql.GetOperationContext(ctx), schema, fc.Field.Definition.Type.Name(), fc.Field.Selections)}
}

// Take charges ev, and drops its data when the selection does not render
// it, so that a page of ids does not hold the events' data. It fails with
// ErrResponseTooLarge, charging nothing, when ev does not fit.
func (c Charge) Take(ev *eventstore.Event) error {
	n := int64(c.cost.Bytes(len(ev.Data)))
	if c.cost.Data == 0 {
		ev.Data = nil
	}
	if c.budget == nil {
		return nil
	}
	for {
		left := c.budget.left.Load()
		if n > left {
			return fmt.Errorf("%w: event %s renders %d bytes, and the operation has %d left of its limit", ErrResponseTooLarge, ev.ID, n, max(left, 0))
		}
		if c.budget.left.CompareAndSwap(left, left-n) {
			return nil
		}
	}
}
