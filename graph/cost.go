package graph

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/deliver"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/generated"
	"github.com/rewind-dev/rewind/graph/model"
	"github.com/rewind-dev/rewind/internal/saturate"
)

// Defaults of the operation limits in Limits, declared once.
const (
	// DefaultMaxDepth is the deepest selection nesting of an operation.
	DefaultMaxDepth = 12
	// DefaultMaxCost is the largest operation cost (see costs): room for a
	// subscription replaying the last eventstore.MaxLast events, or for ten
	// full pages of history with a dozen fields an event, but not for
	// hundreds of aliased pages.
	DefaultMaxCost = 200_000
	// DefaultMaxStorageReads is how many fields that read storage one
	// operation may hold (Query.event, events and topics; subscriptions
	// with a start point).
	DefaultMaxStorageReads = 10
)

// Weights of the cost model, in units of one field rendered once.
const (
	// defaultPage is Query.events' first when it is null (the schema's
	// default, 50, arrives as an argument).
	defaultPage = 50
	// defaultTopicsPage is Query.topics' first when it is null (the
	// schema's default, 100, arrives as an argument); each topic listed
	// costs its selection plus topicReads, its first and last events read.
	defaultTopicsPage = 100
	topicReads        = 2
	// replayWeight is what a replay from afterId or since costs beyond its
	// selection: it reads storage at the pace its subscriber consumes, so
	// it is charged one page (maxPage events) read ahead, not the whole
	// history after the start, which only time bounds.
	replayWeight = maxPage
	// filterNodeWeight and filterValueWeight are what each step of a where
	// argument's evaluation work adds (eventfilter.Spec.Size: a step per
	// filter and per path segment, eight per range comparison, three per
	// value compared plus one per 8 bytes of it): work done on every event
	// the field reads, not per result rendered. One each: a filter at every
	// bound costs about 11,000, a simple one a few.
	filterNodeWeight  = 1
	filterValueWeight = 1
	// filteredScanWeight is what a filtered page of history adds: one per
	// event it may read (maxScanPerPage) to find its page.
	filteredScanWeight = maxScanPerPage
)

// costs is the cost model of the schema's list and storage fields, through
// gqlgen's per-field complexity functions; any other field costs one plus
// its selection. A list costs its page size (publishBatch: its events,
// which walker.field counts) times its selection; a subscription costs its selection once (each event
// renders it once, as the subscriber reads) plus the storage its start
// point reads: last, the events AfterLast reads back over; afterId, since
// or latest, replayWeight.
func costs() generated.ComplexityRoot {
	var c generated.ComplexityRoot
	c.Query.Events = func(child int, _ string, first *int, _ *string, where *model.Filter) int {
		n := defaultPage
		if first != nil {
			n = min(max(*first, 1), maxPage) // out of range is refused by the resolver
		}
		if where != nil {
			return saturate.Add(saturate.Mul(n, child), saturate.Add(filteredScanWeight, whereCost(where)))
		}
		return saturate.Mul(n, child)
	}
	c.Query.Topics = func(child int, first *int, _ *string) int {
		n := defaultTopicsPage
		if first != nil {
			n = min(max(*first, 1), maxPage) // out of range is refused by the resolver
		}
		return saturate.Mul(n, saturate.Add(child, topicReads))
	}
	c.Subscription.Events = func(child int, _ []string, afterID *string, _ []string, last *int, since *time.Time, latest *bool, where *model.Filter) int {
		return saturate.Add(child, saturate.Add(startWeight(afterID, last, since, latest), whereCost(where)))
	}
	c.Subscription.RealTimeMessages = func(child int, afterID *string, last *int, since *time.Time, latest *bool, where *model.Filter) int {
		return saturate.Add(child, saturate.Add(startWeight(afterID, last, since, latest), whereCost(where)))
	}
	return c
}

// Costs is the cost model of Rewind's fields, for the twins of them a
// typed API serves (typed.CostModel): a subscription its selection plus
// its start point's reads and its filter, a page its size times its
// selection plus its filter's scan.
type Costs struct{}

// Subscription is what a subscription with child's selection costs.
func (Costs) Subscription(child int, st deliver.Start, where any) int {
	return saturate.Add(child, saturate.Add(startWeight(st.AfterID, st.Last, st.Since, st.Latest), whereArgCost(where)))
}

// Page is what a page of first events (nil: the default) costs.
func (Costs) Page(child int, first *int, where any) int {
	n := defaultPage
	if first != nil {
		n = min(max(*first, 1), maxPage) // out of range is refused by the resolver
	}
	if where != nil {
		return saturate.Add(saturate.Mul(n, child), saturate.Add(filteredScanWeight, whereArgCost(where)))
	}
	return saturate.Mul(n, child)
}

// ReadsStorage reports whether one of Rewind's fields reads the store.
func (Costs) ReadsStorage(typeName, field string, args map[string]any) bool {
	return readsStorage(typeName, field, args)
}

// storageReader is an executable schema that says which of its fields
// read storage (a typed API's, wrapping Rewind's).
type storageReader interface {
	ReadsStorage(typeName, field string, args map[string]any) bool
}

// startWeight is what a subscription's start point reads from storage
// before or while it replays.
func startWeight(afterID *string, last *int, since *time.Time, latest *bool) int {
	switch {
	case latest != nil && *latest:
		// One read of the newest event of each topic: a bounded storage
		// read like afterId's, whatever the number of topics it matches.
		return replayWeight
	case last != nil:
		return min(max(*last, 1), eventstore.MaxLast) // out of range is refused by the resolver
	case afterID != nil, since != nil:
		return replayWeight
	}
	return 1 // live only
}

// readsStorage reports whether a field reads the store when it resolves;
// args are the field's raw arguments.
func readsStorage(typeName, field string, args map[string]any) bool {
	switch typeName + "." + field {
	case "Query.event", "Query.events", "Query.topics":
		return true
	case "Subscription.events", "Subscription.realTimeMessages":
		latest, _ := args["latest"].(bool)
		return latest || args["afterId"] != nil || args["last"] != nil || args["since"] != nil
	}
	return false
}

// measure is the shape of one selection set: its deepest field nesting,
// its cost and how many of its fields read storage.
type measure struct {
	depth, cost, reads int
}

func (m *measure) add(o measure) {
	m.depth = max(m.depth, o.depth)
	m.cost = saturate.Add(m.cost, o.cost)
	m.reads = saturate.Add(m.reads, o.reads)
}

// walker measures an operation in one pass over its document: each
// fragment is measured once, at its first spread, and its measure reused at
// every other spread. Neither depth nor cost of a fragment depends on where
// it is spread (the variables are the operation's), so the walk is linear
// in the document where expanding spreads would be exponential (a fragment
// spreading the next twice, 22 levels deep, is four million spreads).
type walker struct {
	ctx       context.Context
	es        graphql.ExecutableSchema
	vars      map[string]any
	fragments map[string]*measure // nil while being measured: a cycle counts nothing
	visited   int                 // selections walked, for tests
}

func measureOperation(ctx context.Context, es graphql.ExecutableSchema, op *ast.OperationDefinition, vars map[string]any) (measure, int, *gqlerror.Error) {
	w := &walker{ctx: ctx, es: es, vars: vars, fragments: map[string]*measure{}}
	m, err := w.selectionSet(op.SelectionSet)
	return m, w.visited, err
}

func (w *walker) selectionSet(set ast.SelectionSet) (measure, *gqlerror.Error) {
	var total measure
	for _, sel := range set {
		w.visited++
		var m measure
		var err *gqlerror.Error
		switch s := sel.(type) {
		case *ast.Field:
			m, err = w.field(s)
		case *ast.InlineFragment:
			if err = checkDirectives(s.Directives); err == nil {
				m, err = w.selectionSet(s.SelectionSet)
			}
		case *ast.FragmentSpread:
			if err = checkDirectives(s.Directives); err == nil {
				m, err = w.fragment(s)
			}
		}
		if err != nil {
			return measure{}, err
		}
		total.add(m)
	}
	return total, nil
}

func (w *walker) fragment(s *ast.FragmentSpread) (measure, *gqlerror.Error) {
	if m, seen := w.fragments[s.Name]; seen {
		if m == nil {
			return measure{}, nil
		}
		return *m, nil
	}
	if s.Definition == nil {
		return measure{}, nil
	}
	w.fragments[s.Name] = nil
	if err := checkDirectives(s.Definition.Directives); err != nil {
		return measure{}, err
	}
	m, err := w.selectionSet(s.Definition.SelectionSet)
	if err != nil {
		return measure{}, err
	}
	w.fragments[s.Name] = &m
	return m, nil
}

func (w *walker) field(f *ast.Field) (measure, *gqlerror.Error) {
	if err := checkDirectives(f.Directives); err != nil {
		return measure{}, err
	}
	// Checked, the arguments are safe to map, here and in the executor.
	if err := checkArguments(f.Arguments); err != nil {
		return measure{}, err
	}
	args := f.ArgumentMap(w.vars)
	child, err := w.selectionSet(f.SelectionSet)
	if err != nil {
		return measure{}, err
	}
	m := measure{depth: 1 + child.depth, reads: child.reads, cost: saturate.Add(1, child.cost)}
	if f.ObjectDefinition == nil {
		return m, nil
	}
	if f.ObjectDefinition.Name == "__Type" && f.Name == "ofType" {
		// A chain of ofType is one object each, never a list: it costs
		// what it selects and cannot multiply work, so it adds no depth.
		// Introspection queries nest it 7 to 9 times (graphql-js,
		// GraphiQL), which the depth limit refused.
		m.depth = child.depth
	}
	if f.ObjectDefinition.Name == "Mutation" && f.Name == "publishBatch" {
		// Each event's result renders the selection. The events are counted
		// here, from the argument as mapped: a complexity function would be
		// handed them decoded, each event's data marshalled again, a pass
		// over the whole batch for a count.
		m.cost = saturate.Add(1, saturate.Mul(max(len(listOf(args["events"])), 1), child.cost))
	} else if c, ok := w.es.Complexity(w.ctx, f.ObjectDefinition.Name, f.Name, child.cost, args); ok && c >= 1 {
		m.cost = c
	}
	reads := readsStorage
	if t, ok := w.es.(storageReader); ok {
		reads = t.ReadsStorage
	}
	if reads(f.ObjectDefinition.Name, f.Name, args) {
		m.reads = saturate.Add(m.reads, 1)
	}
	return m, nil
}

// checkArguments refuses number literals that do not fit Go's int64 or
// float64. gqlparser's validation bounds Int arguments to 32 bits, but
// custom scalars (JSON, Time) take any literal, ast.Value.Value fails on
// these, and ast.Field.ArgumentMap, which gqlgen calls for every field (in
// its complexity walk and in the generated executor), panics on a failure.
func checkArguments(args ast.ArgumentList) *gqlerror.Error {
	for _, a := range args {
		if err := checkValue(a.Name, a.Value); err != nil {
			return err
		}
	}
	return nil
}

// checkDirectives checks directives' arguments the same way.
func checkDirectives(dirs ast.DirectiveList) *gqlerror.Error {
	for _, d := range dirs {
		if err := checkArguments(d.Arguments); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(arg string, v *ast.Value) *gqlerror.Error {
	if v == nil {
		return nil
	}
	var problem string
	switch v.Kind {
	case ast.IntValue:
		if _, err := strconv.ParseInt(v.Raw, 10, 64); err != nil {
			problem = "does not fit a 64-bit integer"
		}
	case ast.FloatValue:
		if f, err := strconv.ParseFloat(v.Raw, 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			problem = "is out of the range of a 64-bit float"
		}
	case ast.ListValue, ast.ObjectValue:
		for _, c := range v.Children {
			if err := checkValue(arg, c.Value); err != nil {
				return err
			}
		}
	}
	if problem == "" {
		return nil
	}
	err := &gqlerror.Error{
		Message:    fmt.Sprintf("argument %s: the number %s %s; pass it in a variable or as a string", arg, abbreviate(v.Raw), problem),
		Extensions: map[string]any{"code": codes.BadUserInput},
	}
	if v.Position != nil {
		err.Locations = []gqlerror.Location{{Line: v.Position.Line, Column: v.Position.Column}}
	}
	return err
}

// abbreviate keeps an error message short whatever the literal's length.
func abbreviate(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:37] + "..."
}
