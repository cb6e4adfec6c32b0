package graph

import (
	"encoding/json"
	"fmt"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/graph/model"
	"github.com/rewind-dev/rewind/internal/saturate"
)

// CompileWhere turns a field's where argument into the filter a
// replay.Request or a history read applies (nil for none): Rewind's own
// fields and typed ones read it the same way. Its errors are
// BAD_USER_INPUT and say where in the argument the problem is.
func CompileWhere(where *model.Filter) (*eventfilter.Filter, error) {
	if where == nil {
		return nil, nil
	}
	var nodes int
	spec, err := toSpec(where, &nodes, 1)
	if err == nil {
		var f *eventfilter.Filter
		if f, err = eventfilter.Compile(spec); err == nil {
			return f, nil
		}
	}
	return nil, fmt.Errorf("where: %w", err)
}

// toSpec converts the GraphQL input, refusing inputs past the bounds
// before it has copied them whole.
func toSpec(f *model.Filter, nodes *int, depth int) (*eventfilter.Spec, error) {
	if *nodes++; *nodes > eventfilter.MaxNodes {
		return nil, fmt.Errorf("%w: a filter holds %d filters at most", eventfilter.ErrInvalid, eventfilter.MaxNodes)
	}
	if depth > eventfilter.MaxDepth {
		return nil, fmt.Errorf("%w: filters nest %d deep at most", eventfilter.ErrInvalid, eventfilter.MaxDepth)
	}
	s := &eventfilter.Spec{
		Eq: omittableJSON(f.Eq.ValueOK()), Ne: omittableJSON(f.Ne.ValueOK()), In: f.In,
		Gt: f.Gt, Gte: f.Gte, Lt: f.Lt, Lte: f.Lte, Exists: f.Exists,
	}
	if f.Path != nil {
		s.Path = *f.Path
	}
	for _, list := range []struct {
		in  []*model.Filter
		out *[]*eventfilter.Spec
	}{{f.And, &s.And}, {f.Or, &s.Or}} {
		if list.in == nil {
			continue
		}
		*list.out = make([]*eventfilter.Spec, 0, min(len(list.in), eventfilter.MaxNodes))
		for _, k := range list.in {
			ks, err := toSpec(k, nodes, depth+1)
			if err != nil {
				return nil, err
			}
			*list.out = append(*list.out, ks)
		}
	}
	if f.Not != nil {
		var err error
		if s.Not, err = toSpec(f.Not, nodes, depth+1); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// omittableJSON is an eq or ne value: absent is nil, null is JSON null.
func omittableJSON(v json.RawMessage, set bool) json.RawMessage {
	if set && v == nil {
		return json.RawMessage("null")
	}
	return v
}

// whereCost is what a where argument adds to its field's cost: each filter
// and each value it compares with is evaluated on every event the field
// reads (eventfilter.Spec.Size, bounded whatever the argument). An
// argument past the filter bounds, which compiling refuses, costs as one
// just past them.
func whereCost(where *model.Filter) int {
	if where == nil {
		return 0
	}
	var nodes int
	spec, err := toSpec(where, &nodes, 1)
	if err != nil {
		return filterCost(eventfilter.MaxNodes+1, 0)
	}
	return filterCost(spec.Size())
}

// whereArgCost is whereCost for a raw where argument (typed fields).
func whereArgCost(where any) int {
	if where == nil {
		return 0
	}
	var spec eventfilter.Spec
	text, err := json.Marshal(where)
	if err != nil || json.Unmarshal(text, &spec) != nil {
		return filterCost(eventfilter.MaxNodes+1, 0)
	}
	return filterCost(spec.Size())
}

func filterCost(nodes, values int) int {
	return saturate.Add(saturate.Mul(nodes, filterNodeWeight), saturate.Mul(values, filterValueWeight))
}
