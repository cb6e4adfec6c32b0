package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/graph/render"
)

// Bytes are part of an operation's cost. A stored event's data is up to
// the store's max payload, and a selection may render it many times
// (aliases of data, fragments, a connection's edges twice): an operation
// that asks for an event's data 2,000 times on a 500 KB event made the
// server build a 1 GB response for a cost of 2,000. So every selection
// that renders events is measured (renderCost) before it runs:
//
//   - Once per operation, statically: one event rendered by the selection
//     must fit MaxResponseBytes whatever its data (up to the max payload).
//     A selection that could not is refused before anything runs, over
//     every transport (RESPONSE_TOO_LARGE). This bounds each subscription
//     message, a mutation's result and every event of a query.
//   - As a query reads events (event, a page of history, _entities), each
//     is charged what it will render, from its stored size, against the
//     operation's budget of MaxResponseBytes, before it is kept: a page
//     that would go past it ends early (hasNextPage, continue after its
//     endCursor), an event that does not fit is an error, and events whose
//     data is not selected are not held at all.
//
// Typed data is projected (a field of a list is rendered for each of its
// elements, null when absent), so its renderer also stops at the limit
// (see renderState.room) rather than trust the estimate.

// DefaultResponsePayloads is MaxResponseBytes' default in max payloads:
// room for one event rendered in full a few times, or for pages of
// history of large events, and nothing a client asks by accident.
const DefaultResponsePayloads = 8

// ErrResponseTooLarge: what an operation asks would render more bytes than
// its limit allows.
var ErrResponseTooLarge = render.ErrResponseTooLarge

// checkRender refuses a root field whose selection could render one event
// in more than maxBytes, whatever the event, when its data is up to
// maxPayload bytes. It reports the cost of one event otherwise.
func checkRender(op *graphql.OperationContext, schema *ast.Schema, f *ast.Field, maxBytes, maxPayload int) error {
	if strings.HasPrefix(f.Name, "__") || f.Definition == nil {
		return nil
	}
	c := render.Measure(op, schema, f.Definition.Type.Name(), f.SelectionSet)
	if c.Data == 0 {
		if c.Fixed > maxBytes {
			return fmt.Errorf("%w: %s renders up to %d bytes an event, the limit is %d", ErrResponseTooLarge, f.Alias, c.Fixed, maxBytes)
		}
		return nil
	}
	if worst := c.Bytes(maxPayload); worst > maxBytes {
		return fmt.Errorf("%w: %s renders an event's data %d times (aliases and fragments count): with data up to %d bytes that is up to %d bytes an event, the limit is %d; select data fewer times",
			ErrResponseTooLarge, f.Alias, c.Data, maxPayload, worst, maxBytes)
	}
	return nil
}

// chargeFor returns the charge of the field being resolved in ctx (see
// render.ChargeFor).
func (r *Resolver) chargeFor(ctx context.Context) render.Charge {
	return render.ChargeFor(ctx, r.schema())
}
