package graph

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
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
var ErrResponseTooLarge = codes.New(codes.ResponseTooLarge, "response too large")

// fieldBytes bound what a field of the envelope renders beside data, its
// key and punctuation included: an id, a time, a boolean; a topic (at most
// 200 bytes, no escapes); a type (128 bytes of text, each escaped to at
// most 6).
const (
	smallFieldBytes = 48
	topicFieldBytes = 216
	typeFieldBytes  = 6*128 + 16
)

// renderCost is what rendering one event costs a selection: data times
// its stored size, plus fixed bytes for everything else.
type renderCost struct {
	data  int // how many times the event's data is rendered, at most
	fixed int // bytes of the other fields, keys and punctuation, at most
}

func (c renderCost) add(o renderCost) renderCost {
	return renderCost{data: addSat(c.data, o.data), fixed: addSat(c.fixed, o.fixed)}
}

// of returns the bytes one event of size dataBytes costs.
func (c renderCost) of(dataBytes int) int {
	return addSat(mulSat(c.data, dataBytes), c.fixed)
}

// costMeter measures selections' render costs in one operation.
type costMeter struct {
	oc     *graphql.OperationContext
	schema *ast.Schema
}

// selection returns the render cost of one event for selections on the
// type typename: Event, Message, a typed envelope, a connection of them
// (one edge), a union of them (_Entity: its costliest member).
func (m costMeter) selection(typename string, selections ast.SelectionSet) (c renderCost) {
	def := m.schema.Types[typename]
	if def == nil {
		return c
	}
	if def.Kind == ast.Union {
		for _, member := range def.Types {
			mc := m.object(member, typename, selections)
			if mc.of(1<<20) > c.of(1<<20) {
				c = mc
			}
		}
		return c
	}
	return m.object(typename, "", selections)
}

func (m costMeter) object(typename, union string, selections ast.SelectionSet) (c renderCost) {
	def := m.schema.Types[typename]
	if def == nil || def.Kind != ast.Object {
		return c
	}
	satisfies := []string{typename}
	if union != "" {
		satisfies = append(satisfies, union)
	}
	for _, f := range graphql.CollectFields(m.oc, selections, satisfies) {
		key := len(f.Alias) + 4 // "alias":,
		if f.Name == "__typename" {
			c.fixed = addSat(c.fixed, key+len(typename)+2)
			continue
		}
		fd := def.Fields.ForName(f.Name)
		if fd == nil {
			continue
		}
		switch {
		case drawsData(def, f.Name):
			c.data = addSat(c.data, m.dataTimes(fd.Type, f.Selections))
			c.fixed = addSat(c.fixed, key)
		case len(f.Selections) > 0:
			// A connection's edges, an edge's node, pageInfo.
			c = c.add(m.selection(fd.Type.Name(), f.Selections))
			c.fixed = addSat(c.fixed, key+2)
		case f.Name == "topic":
			c.fixed = addSat(c.fixed, key+topicFieldBytes)
		case f.Name == "type":
			c.fixed = addSat(c.fixed, key+typeFieldBytes)
		default:
			c.fixed = addSat(c.fixed, key+smallFieldBytes)
		}
	}
	return c
}

// drawsData reports whether field name of def renders the event's stored
// data: Event.data, Message.content and a typed envelope's data.
func drawsData(def *ast.Definition, name string) bool {
	switch {
	case def.Name == "Event" && name == "data", def.Name == "Message" && name == "content":
		return true
	case name == "data":
		pos := def.Position
		return pos != nil && pos.Src != nil && pos.Src.Name == typedSource && strings.HasSuffix(def.Name, "Event")
	}
	return false
}

// dataTimes bounds how many times a selection of typed data renders any
// one byte of the stored data: a leaf renders its value once; fields of
// one name under several aliases render it once each, so a name counts
// the sum of its aliases, and an object the most of its names. A leaf
// (JSON, a scalar) is 1.
func (m costMeter) dataTimes(t *ast.Type, selections ast.SelectionSet) int {
	def := m.schema.Types[t.Name()]
	if def == nil || len(selections) == 0 {
		return 1
	}
	members := []string{def.Name}
	union := ""
	if def.Kind == ast.Union {
		members, union = def.Types, def.Name
	}
	most := 1
	for _, member := range members {
		mdef := m.schema.Types[member]
		if mdef == nil {
			continue
		}
		satisfies := []string{member}
		if union != "" {
			satisfies = append(satisfies, union)
		}
		byName := map[string]int{}
		for _, f := range graphql.CollectFields(m.oc, selections, satisfies) {
			fd := mdef.Fields.ForName(f.Name)
			if fd == nil {
				continue
			}
			byName[f.Name] = addSat(byName[f.Name], m.dataTimes(fd.Type, f.Selections))
		}
		for _, n := range byName {
			most = max(most, n)
		}
	}
	return most
}

// checkRender refuses a root field whose selection could render one event
// in more than maxBytes, whatever the event, when its data is up to
// maxPayload bytes. It reports the cost of one event otherwise.
func checkRender(m costMeter, f *ast.Field, maxBytes, maxPayload int) (renderCost, error) {
	if strings.HasPrefix(f.Name, "__") || f.Definition == nil {
		return renderCost{}, nil
	}
	c := m.selection(f.Definition.Type.Name(), f.SelectionSet)
	if c.data == 0 {
		if c.fixed > maxBytes {
			return c, fmt.Errorf("%w: %s renders up to %d bytes an event, the limit is %d", ErrResponseTooLarge, f.Alias, c.fixed, maxBytes)
		}
		return c, nil
	}
	if worst := c.of(maxPayload); worst > maxBytes {
		return c, fmt.Errorf("%w: %s renders an event's data %d times (aliases and fragments count): with data up to %d bytes that is up to %d bytes an event, the limit is %d; select data fewer times",
			ErrResponseTooLarge, f.Alias, c.data, maxPayload, worst, maxBytes)
	}
	return c, nil
}

// responseBudget is an operation's MaxResponseBytes and what is left of it
// for the events its queries read.
type responseBudget struct {
	max  int
	left atomic.Int64
}

type budgetKey struct{}

// withResponseBudget returns ctx with a budget of n bytes.
func withResponseBudget(ctx context.Context, n int) context.Context {
	b := &responseBudget{max: n}
	b.left.Store(int64(n))
	return context.WithValue(ctx, budgetKey{}, b)
}

// responseLimit returns the MaxResponseBytes of ctx's operation, 0 for
// none.
func responseLimit(ctx context.Context) int {
	if b, ok := ctx.Value(budgetKey{}).(*responseBudget); ok {
		return b.max
	}
	return 0
}

// eventCharge charges the events one field reads against its operation's
// budget: each its render cost for its stored size.
type eventCharge struct {
	budget *responseBudget // nil: no budget (outside an operation)
	cost   renderCost
}

// chargeFor returns the charge of the field being resolved in ctx.
func (r *Resolver) chargeFor(ctx context.Context) eventCharge {
	b, _ := ctx.Value(budgetKey{}).(*responseBudget)
	fc := graphql.GetFieldContext(ctx)
	if b == nil || fc == nil || fc.Field.Field == nil || fc.Field.Definition == nil || !graphql.HasOperationContext(ctx) {
		return eventCharge{}
	}
	m := costMeter{oc: graphql.GetOperationContext(ctx), schema: r.schema()}
	return eventCharge{budget: b, cost: m.selection(fc.Field.Definition.Type.Name(), fc.Field.Selections)}
}

// take charges ev, and drops its data when the selection does not render
// it, so that a page of ids does not hold the events' data. It fails with
// ErrResponseTooLarge, charging nothing, when ev does not fit.
func (c eventCharge) take(ev *eventstore.Event) error {
	n := int64(c.cost.of(len(ev.Data)))
	if c.cost.data == 0 {
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
