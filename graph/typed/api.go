package typed

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	gqlparser "github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/render"
)

// The typed API: for each declared event type T (and @events union U),
// fields beside the generic ones, which stay as they are:
//
//	type TEvent { id: ID! topic: String! time: Time! live: Boolean! data: T! }
//	Subscription.t(topics, afterId, last, since, latest): TEvent!
//	Query.t(topic, first, after): TEventConnection!
//	Mutation.publishT(topic, data: TInput!, idempotencyKey): TEvent!  (not for unions)
//
// gqlgen's generated executor knows none of them: they are added to its
// schema (so validation and introspection see them) and served by
// the executable schema Serve returns, which hands every other root field
// to the generated code.

// API is the typed API built from one eventschema.Schema.
type API struct {
	schema *ast.Schema            // Rewind's schema merged with the typed additions
	fields map[string]*typedField // by root type and field: "Subscription.orderPlaced"
	sdl    string                 // the added SDL, for tests and GraphiQL
	source *eventschema.Schema    // what it was built from
	// entities are the entity types by name (Event and the envelopes,
	// see federation.go), with the field whose events they hold (nil for
	// Event); nil when federation is off.
	entities map[string]*typedField
	// subgraph is the federation subgraph SDL _service serves, "" when
	// federation is off.
	subgraph string
}

// typedField is one typed root field.
type typedField struct {
	root     string // Query, Mutation or Subscription
	name     string
	fed      fedField           // _service or _entities; 0 for typed event fields
	envelope string             // OrderPlacedEvent
	event    *eventschema.Event // nil for a union's fields
	union    *eventschema.Union // nil for an event's fields
	patterns []string           // the declared topic patterns
	types    []string           // the declared event types
}

// field returns the typed field root.name, or nil for one of Rewind's own.
func (a *API) field(root, name string) *typedField {
	if a == nil {
		return nil
	}
	return a.fields[root+"."+name]
}

// Schema is Rewind's schema merged with the typed API's types and fields:
// the schema gqlgen's executor, validation and introspection serve.
func (a *API) Schema() *ast.Schema { return a.schema }

// SDL returns the SDL the typed API adds: the user's types without
// Rewind's directives, the envelopes, inputs and root fields.
func (a *API) SDL() string { return a.sdl }

// Append returns the event the root mutation field name with args (mapped,
// the literals checked) appends, for a mutation document's gate to check
// before anything runs; ok is false when name is none of the typed API's.
func (a *API) Append(name string, args map[string]any) (ev eventstore.Event, ok bool, err error) {
	tf := a.field("Mutation", name)
	if tf == nil {
		return eventstore.Event{}, false, nil
	}
	ev, err = a.publishEvent(tf, args)
	return ev, true, err
}

// member returns the declaration an event of the field's union (or the
// field's event) with this topic and type belongs to, or nil.
func (f *typedField) member(topic, typ string) *eventschema.Event {
	if f.event != nil {
		return f.event
	}
	return f.union.Member(topic, typ)
}

// Build builds the typed API of s (nil: no event types) beside Rewind's
// own schema (the SDL sources of package graph), with the federation
// subgraph contract when federated, or says which of s's names clash with
// Rewind's own (file and line of the definition).
func Build(rewind []*ast.Source, s *eventschema.Schema, federated bool) (*API, error) {
	if s == nil {
		s = &eventschema.Schema{Types: &ast.Schema{}}
	}
	base, err := gqlparser.LoadSchema(rewind...)
	if err != nil {
		return nil, fmt.Errorf("Rewind's schema: %w", err)
	}
	a := &API{fields: map[string]*typedField{}, source: s}
	taken := map[string]string{} // type name -> who defines it
	for name, def := range base.Types {
		if !def.BuiltIn {
			taken[name] = "Rewind's type " + name
		}
	}
	clash := func(pos *ast.Position, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", eventschema.ErrInvalidSchema, where(pos), fmt.Sprintf(format, args...))
	}

	// The user's definitions, as declared, without Rewind's directives.
	var defs []*ast.Definition
	for name, def := range s.Types.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		if b := base.Types[name]; b != nil && b.Kind == ast.Scalar && def.Kind == ast.Scalar {
			continue // Time and JSON, Rewind's own scalars
		}
		if who, ok := taken[name]; ok {
			return nil, clash(def.Position, "type %s clashes with %s", name, who)
		}
		taken[name] = "type " + name + " at " + where(def.Position)
		defs = append(defs, def)
	}
	slices.SortFunc(defs, func(x, y *ast.Definition) int { return comparePos(x.Position, y.Position, x.Name, y.Name) })
	// The subgraph SDL keeps @key on entity stubs; the executable schema
	// needs no federation directive.
	doc, fedDoc := &ast.SchemaDocument{}, &ast.SchemaDocument{}
	for _, def := range defs {
		d, fd := *def, *def
		d.Directives = withoutRewindDirectives(def.Directives, false)
		fd.Directives = withoutRewindDirectives(def.Directives, true)
		doc.Definitions = append(doc.Definitions, &d)
		fedDoc.Definitions = append(fedDoc.Definitions, &fd)
	}
	var sdl, userFedSDL strings.Builder
	formatter.NewFormatter(&sdl).FormatSchemaDocument(doc)
	formatter.NewFormatter(&userFedSDL).FormatSchemaDocument(fedDoc)
	var envelopes []*typedField // the Subscription field of each envelope

	// Rewind's root fields, which typed ones may not shadow.
	rootTaken := map[string]string{}
	for _, root := range []string{"Query", "Mutation", "Subscription"} {
		for _, f := range base.Types[root].Fields {
			rootTaken[root+"."+f.Name] = "Rewind's " + root + "." + f.Name
		}
	}
	addType := func(name string, def *ast.Definition) error {
		if who, ok := taken[name]; ok {
			return clash(def.Position, "%s needs the type %s, which clashes with %s", def.Name, name, who)
		}
		taken[name] = "the type " + name + " generated for " + def.Name
		return nil
	}
	addField := func(f *typedField, def *ast.Definition) error {
		key := f.root + "." + f.name
		if who, ok := rootTaken[key]; ok {
			return clash(def.Position, "%s needs the field %s, which clashes with %s", def.Name, key, who)
		}
		rootTaken[key] = key + " generated for " + def.Name
		a.fields[key] = f
		return nil
	}

	var ext strings.Builder
	inputs := map[string]bool{} // object types that need an input type
	envelope := func(name, data string, def *ast.Definition, patterns, types []string, ev *eventschema.Event, u *eventschema.Union) error {
		env := name + "Event"
		for _, t := range []string{env, env + "Connection", env + "Edge"} {
			if err := addType(t, def); err != nil {
				return err
			}
		}
		field := lowerCamel(name)
		mk := func(root, fname string) *typedField {
			return &typedField{root: root, name: fname, envelope: env, event: ev, union: u, patterns: patterns, types: types}
		}
		sub := mk("Subscription", field)
		if err := addField(sub, def); err != nil {
			return err
		}
		envelopes = append(envelopes, sub)
		if err := addField(mk("Query", field), def); err != nil {
			return err
		}
		fmt.Fprintf(&ext, "\n\"A stored %[1]s event (topics %[3]s): its envelope, with data typed.\"\ntype %[2]s {\n", name, env, strings.Join(patterns, ", "))
		ext.WriteString("  \"A ULID. Pass it as afterId to resume after this event.\"\n  id: ID!\n  topic: String!\n")
		ext.WriteString("  \"When the event was created (millisecond precision, from its id).\"\n  time: Time!\n")
		ext.WriteString("  \"As Event.live: false for replayed events, true from the first live one.\"\n  live: Boolean!\n")
		fmt.Fprintf(&ext, "  data: %s!\n}\n", data)
		fmt.Fprintf(&ext, "\n\"One page of %[1]s events.\"\ntype %[2]sConnection {\n  edges: [%[2]sEdge!]!\n  pageInfo: PageInfo!\n}\n", name, env)
		fmt.Fprintf(&ext, "\ntype %[1]sEdge {\n  \"The event's id: pass it as after to read the page that follows.\"\n  cursor: ID!\n  node: %[1]s!\n}\n", env)
		fmt.Fprintf(&ext, "\nextend type Subscription {\n  \"%[1]s events (as events: topics narrow the declared patterns, none: all of them; at most one start point), then live ones.\"\n", name)
		fmt.Fprintf(&ext, "  %s(topics: [String!], afterId: ID, last: Int, since: Time, latest: Boolean, where: Filter): %s!\n}\n", field, env)
		fmt.Fprintf(&ext, "\nextend type Query {\n  \"History of %[1]s events, oldest first, as events (topic narrows the declared patterns; first is 1 to 1000).\"\n", name)
		fmt.Fprintf(&ext, "  %s(topic: String, first: Int = 50, after: ID, where: Filter): %sConnection!\n}\n", field, env)
		return nil
	}
	for _, ev := range s.Events {
		if err := envelope(ev.Name, ev.Name, ev.Def, ev.Topics, []string{ev.Type}, ev, nil); err != nil {
			return nil, err
		}
		pub := &typedField{root: "Mutation", name: "publish" + ev.Name, envelope: ev.Name + "Event", event: ev, patterns: ev.Topics, types: []string{ev.Type}}
		if err := addField(pub, ev.Def); err != nil {
			return nil, err
		}
		fmt.Fprintf(&ext, "\nextend type Mutation {\n  \"Append a %[1]s event (type %[2]s) to a topic within %[3]s. The same idempotencyKey within the dedup window returns the original event.\"\n", ev.Name, ev.Type, strings.Join(ev.Topics, ", "))
		fmt.Fprintf(&ext, "  publish%[1]s(topic: String!, data: %[1]sInput!, idempotencyKey: String): %[1]sEvent!\n}\n", ev.Name)
		if err := needInputs(s.Types, ev.Def, inputs); err != nil {
			return nil, clash(ev.Def.Position, "%v", err)
		}
	}
	for _, u := range s.Unions {
		var patterns, types []string
		for _, m := range u.Members {
			for _, p := range m.Topics {
				if !slices.Contains(patterns, p) {
					patterns = append(patterns, p)
				}
			}
			if !slices.Contains(types, m.Type) {
				types = append(types, m.Type)
			}
		}
		if err := envelope(u.Name, u.Name, u.Def, patterns, types, nil, u); err != nil {
			return nil, err
		}
	}
	var names []string
	for n := range inputs {
		names = append(names, n)
	}
	slices.SortFunc(names, func(x, y string) int {
		dx, dy := s.Types.Types[x], s.Types.Types[y]
		return comparePos(dx.Position, dy.Position, x, y)
	})
	for _, n := range names {
		def := s.Types.Types[n]
		if err := addType(n+"Input", def); err != nil {
			return nil, err
		}
		writeInput(&ext, s.Types, def)
	}

	a.sdl = sdl.String() + ext.String()
	sources := append(slices.Clone(rewind),
		&ast.Source{Name: "rewind:event-types.graphqls", Input: sdl.String()},
		&ast.Source{Name: render.GeneratedSource, Input: ext.String()})
	if federated {
		fed, err := a.federate(rewind, envelopes, userFedSDL.String(), ext.String(), taken, rootTaken)
		if err != nil {
			return nil, err
		}
		sources = append(sources, &ast.Source{Name: federationSource, Input: fed})
	}
	merged, err := gqlparser.LoadSchema(sources...)
	if err != nil {
		return nil, fmt.Errorf("%w: the typed API does not build: %v", eventschema.ErrInvalidSchema, err)
	}
	a.schema = merged
	return a, nil
}

// needInputs marks def and every object type its fields reach as needing
// an input type (publishT's data).
func needInputs(types *ast.Schema, def *ast.Definition, seen map[string]bool) error {
	if seen[def.Name] {
		return nil
	}
	seen[def.Name] = true
	for _, f := range def.Fields {
		t := types.Types[f.Type.Name()]
		if t == nil {
			return fmt.Errorf("field %s.%s: unknown type %s", def.Name, f.Name, f.Type.Name())
		}
		switch t.Kind {
		case ast.Object:
			if err := needInputs(types, t, seen); err != nil {
				return err
			}
		case ast.Union, ast.Interface:
			return fmt.Errorf("field %s.%s: a %s cannot be published (no input type for %s)", def.Name, f.Name, strings.ToLower(string(t.Kind)), t.Name)
		}
	}
	return nil
}

// writeInput writes def's input type: the same fields, object types
// replaced by their input types, enums and scalars as they are.
func writeInput(w *strings.Builder, types *ast.Schema, def *ast.Definition) {
	w.WriteString("\n")
	if def.Description != "" {
		fmt.Fprintf(w, "%s\n", sdlString(def.Description))
	}
	fmt.Fprintf(w, "input %sInput {\n", def.Name)
	for _, f := range def.Fields {
		if f.Description != "" {
			fmt.Fprintf(w, "  %s\n", sdlString(f.Description))
		}
		fmt.Fprintf(w, "  %s: %s\n", f.Name, inputType(types, f.Type))
	}
	w.WriteString("}\n")
}

func inputType(types *ast.Schema, t *ast.Type) string {
	var s string
	if t.Elem != nil {
		s = "[" + inputType(types, t.Elem) + "]"
	} else {
		s = t.NamedType
		if d := types.Types[s]; d != nil && d.Kind == ast.Object {
			s += "Input"
		}
	}
	if t.NonNull {
		s += "!"
	}
	return s
}

// withoutRewindDirectives drops @event and @events, and @key unless
// keepKey (the subgraph SDL's entity stubs).
func withoutRewindDirectives(dirs ast.DirectiveList, keepKey bool) ast.DirectiveList {
	var out ast.DirectiveList
	for _, d := range dirs {
		if d.Name != "event" && d.Name != "events" && (keepKey || d.Name != "key") {
			out = append(out, d)
		}
	}
	return out
}

// lowerCamel is a type's name as a field's: OrderPlaced orderPlaced,
// URLChanged urlChanged.
func lowerCamel(s string) string {
	r := []rune(s)
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	if n > 1 && n < len(r) {
		n-- // the last capital starts the next word
	}
	for i := range n {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

// where names a definition's file and line.
func where(pos *ast.Position) string {
	if pos == nil || pos.Src == nil {
		return "(unknown position)"
	}
	return fmt.Sprintf("%s:%d", pos.Src.Name, pos.Line)
}

func comparePos(x, y *ast.Position, xn, yn string) int {
	if x != nil && y != nil && x.Src != nil && y.Src != nil {
		if c := cmp.Compare(x.Src.Name, y.Src.Name); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Start, y.Start); c != 0 {
			return c
		}
	}
	return cmp.Compare(xn, yn)
}

// sdlString quotes s as a GraphQL string, whose escapes are JSON's.
func sdlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
