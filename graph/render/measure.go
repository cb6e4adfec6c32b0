package render

import (
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/internal/saturate"
)

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

// Cost is what rendering one event costs a selection: Data times its
// stored size, plus Fixed bytes for everything else.
type Cost struct {
	Data  int // how many times the event's data is rendered, at most
	Fixed int // bytes of the other fields, keys and punctuation, at most
}

func (c Cost) add(o Cost) Cost {
	return Cost{Data: saturate.Add(c.Data, o.Data), Fixed: saturate.Add(c.Fixed, o.Fixed)}
}

// Bytes returns what one event whose data is dataBytes long costs.
func (c Cost) Bytes(dataBytes int) int {
	return saturate.Add(saturate.Mul(c.Data, dataBytes), c.Fixed)
}

// Measure returns the render cost of one event for selections (collected
// in op as gqlgen's executor collects them) on the type typename of
// schema: Event, Message, a typed envelope, a connection of them (one
// edge), a union of them (_Entity: its costliest member). Any other type
// renders no event: its cost is what its fields' selections cost.
func Measure(op *graphql.OperationContext, schema *ast.Schema, typename string, selections ast.SelectionSet) Cost {
	return meter{op, schema}.selection(typename, selections)
}

// meter measures selections' render costs in one operation.
type meter struct {
	oc     *graphql.OperationContext
	schema *ast.Schema
}

func (m meter) selection(typename string, selections ast.SelectionSet) (c Cost) {
	def := m.schema.Types[typename]
	if def == nil {
		return c
	}
	if def.Kind == ast.Union {
		for _, member := range def.Types {
			mc := m.object(member, typename, selections)
			if mc.Bytes(1<<20) > c.Bytes(1<<20) {
				c = mc
			}
		}
		return c
	}
	return m.object(typename, "", selections)
}

func (m meter) object(typename, union string, selections ast.SelectionSet) (c Cost) {
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
			c.Fixed = saturate.Add(c.Fixed, key+len(typename)+2)
			continue
		}
		fd := def.Fields.ForName(f.Name)
		if fd == nil {
			continue
		}
		switch {
		case drawsData(def, f.Name):
			c.Data = saturate.Add(c.Data, m.dataTimes(fd.Type, f.Selections))
			c.Fixed = saturate.Add(c.Fixed, key)
		case len(f.Selections) > 0:
			// A connection's edges, an edge's node, pageInfo.
			c = c.add(m.selection(fd.Type.Name(), f.Selections))
			c.Fixed = saturate.Add(c.Fixed, key+2)
		case f.Name == "topic":
			c.Fixed = saturate.Add(c.Fixed, key+topicFieldBytes)
		case f.Name == "type":
			c.Fixed = saturate.Add(c.Fixed, key+typeFieldBytes)
		default:
			c.Fixed = saturate.Add(c.Fixed, key+smallFieldBytes)
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
		return pos != nil && pos.Src != nil && pos.Src.Name == GeneratedSource && strings.HasSuffix(def.Name, "Event")
	}
	return false
}

// dataTimes bounds how many times a selection of typed data renders any
// one byte of the stored data: a leaf renders its value once; fields of
// one name under several aliases render it once each, so a name counts
// the sum of its aliases, and an object the most of its names. A leaf
// (JSON, a scalar) is 1.
func (m meter) dataTimes(t *ast.Type, selections ast.SelectionSet) int {
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
			byName[f.Name] = saturate.Add(byName[f.Name], m.dataTimes(fd.Type, f.Selections))
		}
		for _, n := range byName {
			most = max(most, n)
		}
	}
	return most
}
