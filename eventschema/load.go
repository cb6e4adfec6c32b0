package eventschema

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/rewind-dev/rewind/eventstore"
)

// Prelude declares what a schema file may use beyond GraphQL's built-in
// types: the two directives, Rewind's scalars, and federation's @key for
// stubs of entities that other subgraphs own (see checkStub).
const Prelude = `
"Events on a topic matching one of topics, with this type, carry data of this object type."
directive @event(topics: [String!]!, type: String!) on OBJECT
"A union of @event types: an event's member is the one whose type and topics it matches."
directive @events on UNION
"An instant in RFC 3339 format, e.g. 2026-11-25T21:30:00.123Z."
scalar Time
"Any JSON value: object, array, string, number, boolean or null."
scalar JSON
"""
Federation: this type is an entity owned by another subgraph, referenced by its key. Allowed
only on stubs: @key(fields: "id", resolvable: false) on a type whose fields are the key's.
"""
directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT
`

// preludeName names the prelude in errors, which should never be its own.
const preludeName = "rewind-event-prelude.graphqls"

// Extensions are the file name endings Load reads in a folder.
var Extensions = []string{".graphqls", ".graphql"}

// Load reads the files named, and every schema file (see Extensions) in
// the folders named and below, as one schema. A folder's files are read in
// lexical order.
func Load(paths ...string) (*Schema, error) {
	var sources []*ast.Source
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
		}
		if !fi.IsDir() {
			src, err := read(p)
			if err != nil {
				return nil, err
			}
			sources = append(sources, src)
			continue
		}
		n := len(sources)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !slices.ContainsFunc(Extensions, func(ext string) bool { return strings.HasSuffix(path, ext) }) {
				return err
			}
			src, err := read(path)
			if err == nil {
				sources = append(sources, src)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
		}
		if len(sources) == n {
			return nil, fmt.Errorf("%w: %s holds no %s file", ErrInvalidSchema, p, strings.Join(Extensions, " or "))
		}
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("%w: no schema file given", ErrInvalidSchema)
	}
	return Parse(sources...)
}

func read(path string) (*ast.Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	return &ast.Source{Name: path, Input: string(b)}, nil
}

// Parse reads sources as one schema, refusing with ErrInvalidSchema, the
// file, the line and the reason whatever the server cannot serve.
func Parse(sources ...*ast.Source) (*Schema, error) {
	doc, err := parser.ParseSchemas(sources...)
	if err != nil {
		return nil, schemaError(err)
	}
	if err := checkDocument(doc); err != nil {
		return nil, err
	}
	if err := checkDeclared(doc); err != nil {
		return nil, err
	}
	types, err := gqlparser.LoadSchema(append([]*ast.Source{{Name: preludeName, Input: Prelude, BuiltIn: true}}, sources...)...)
	if err != nil {
		return nil, schemaError(err)
	}
	s := &Schema{Types: types, Definitions: doc.Definitions, Sources: sources, byType: map[string][]*Event{}}
	for _, def := range doc.Definitions {
		if err := s.checkDefinition(def); err != nil {
			return nil, err
		}
	}
	for _, def := range doc.Definitions {
		if d := def.Directives.ForName("event"); d != nil {
			e, err := newEvent(types, def, d)
			if err != nil {
				return nil, err
			}
			for _, other := range s.byType[e.Type] {
				if p, q, ok := overlap(e, other); ok {
					return nil, errorAt(def.Position, "%s (topics %s, type %s) and %s (topics %s, at line %d) can both match one event: give them different types or topics that cannot overlap",
						e.Name, p, e.Type, other.Name, q, other.Def.Position.Line)
				}
			}
			s.Events = append(s.Events, e)
			s.byType[e.Type] = append(s.byType[e.Type], e)
		}
	}
	for _, def := range doc.Definitions {
		if def.Kind == ast.Union {
			u, err := s.newUnion(def)
			if err != nil {
				return nil, err
			}
			s.Unions = append(s.Unions, u)
		}
	}
	if len(s.Events) == 0 {
		return nil, fmt.Errorf("%w: %s declares no event type: mark an object type with @event(topics: \"orders.*\", type: \"placed\")", ErrInvalidSchema, names(sources))
	}
	return s, nil
}

// reserved are names a schema file may not define: the operation types,
// which Rewind owns, and Rewind's own API types.
var reserved = []string{"Query", "Mutation", "Subscription", "Event", "Message", "EventConnection", "EventEdge", "PageInfo", "TopicInfo", "Filter", "Time", "JSON",
	"PublishInput", "PublishResult", "PublishError"}

// checkDocument refuses what a schema file may not hold: schema and
// directive definitions, extensions, and Rewind's names.
func checkDocument(doc *ast.SchemaDocument) error {
	if len(doc.Schema) > 0 {
		return errorAt(doc.Schema[0].Position, "a schema definition is Rewind's own: declare only types")
	}
	if len(doc.SchemaExtension) > 0 {
		return errorAt(doc.SchemaExtension[0].Position, "a schema extension is Rewind's own: declare only types")
	}
	if len(doc.Directives) > 0 {
		return errorAt(doc.Directives[0].Position, "directive @%s: a schema file may use @event, @events, @key (entity stubs) and @deprecated, and declare no directive", doc.Directives[0].Name)
	}
	if len(doc.Extensions) > 0 {
		ext := doc.Extensions[0]
		return errorAt(ext.Position, "extend %s: a schema file declares whole types (Rewind adds the fields of Query, Mutation and Subscription itself)", ext.Name)
	}
	for _, def := range doc.Definitions {
		if slices.Contains(reserved, def.Name) {
			return errorAt(def.Position, "%s is a type of Rewind's own API: give yours another name", def.Name)
		}
		if strings.HasPrefix(def.Name, "_") {
			return errorAt(def.Position, "%s: names starting with _ are federation's (_Entity, _Service, _Any)", def.Name)
		}
	}
	return nil
}

// Scalars are the scalar types a schema file may use: GraphQL's own and
// Rewind's Time and JSON. Custom scalars are not supported: data checks
// and typed rendering know these alone.
var Scalars = []string{"String", "Int", "Float", "Boolean", "ID", "Time", "JSON"}

// checkDeclared refuses a field of a type that no file declares, before
// gqlparser would ("Undefined type DateTime."), saying which types there
// are: a custom scalar used without a declaration is the likely mistake.
func checkDeclared(doc *ast.SchemaDocument) error {
	declared := func(name string) bool {
		return slices.Contains(Scalars, name) || slices.ContainsFunc(doc.Definitions, func(d *ast.Definition) bool { return d.Name == name })
	}
	for _, def := range doc.Definitions {
		for _, f := range def.Fields {
			if name := namedType(f.Type); !declared(name) {
				return errorAt(f.Position, "%s.%s: type %s is declared nowhere: custom scalars are not supported; use one of %s (Time: RFC 3339; JSON: any value), or declare %s as an object type or enum in a --schema file",
					def.Name, f.Name, name, strings.Join(Scalars, ", "), name)
			}
		}
		for _, m := range def.Types {
			if !declared(m) {
				return errorAt(def.Position, "union %s: member %s is declared nowhere: declare it with @event in a --schema file", def.Name, m)
			}
		}
	}
	return nil
}

// checkDefinition refuses the kinds of types, fields and directives the
// server cannot serve as event data.
func (s *Schema) checkDefinition(def *ast.Definition) error {
	// gqlparser has refused directives where they do not apply: objects
	// may carry @event, unions @events, fields and enum values @deprecated.
	switch def.Kind {
	case ast.Object:
		if len(def.Interfaces) > 0 {
			return errorAt(def.Position, "%s implements %s: interfaces are not supported (event data has no interface types)", def.Name, def.Interfaces[0])
		}
		for _, f := range def.Fields {
			if err := s.checkField(def, f); err != nil {
				return err
			}
		}
		if err := s.checkStub(def); err != nil {
			return err
		}
		return s.checkCycle(def)
	case ast.Enum:
		return nil
	case ast.Union:
		if def.Directives.ForName("events") == nil {
			return errorAt(def.Position, "union %s: mark it @events (a union of event types); event data cannot hold unions", def.Name)
		}
		return nil
	case ast.Scalar:
		return errorAt(def.Position, "scalar %s: custom scalars are not supported; use one of %s (Time: RFC 3339; JSON: any value)", def.Name, strings.Join(Scalars, ", "))
	case ast.Interface:
		return errorAt(def.Position, "interface %s: interfaces are not supported (event data has no interface types)", def.Name)
	case ast.InputObject:
		return errorAt(def.Position, "input %s: Rewind generates the input types (%sInput from type %s): declare object types only", def.Name, strings.TrimSuffix(def.Name, "Input"), strings.TrimSuffix(def.Name, "Input"))
	}
	return errorAt(def.Position, "%s: unsupported kind of type", def.Name)
}

// checkStub allows @key only on a stub of an entity another subgraph
// owns: resolvable: false (Rewind cannot resolve it) and every field part
// of the key, so that stored data holds the key and nothing more and the
// gateway fetches the rest from the owner. Rewind's own entities are
// Event and the typed envelopes (see the graph package).
func (s *Schema) checkStub(def *ast.Definition) error {
	keys := def.Directives.ForNames("key")
	if len(keys) == 0 {
		return nil
	}
	if def.Directives.ForName("event") != nil {
		return errorAt(def.Position, "%s is an @event type and an entity stub (@key): its events are entities already (%sEvent @key(fields: \"id\")); declare the stub as its own type", def.Name, def.Name)
	}
	inKey := map[string]bool{}
	for _, k := range keys {
		resolvable := true
		if a := k.Arguments.ForName("resolvable"); a != nil {
			v, _ := a.Value.Value(nil)
			resolvable, _ = v.(bool)
		}
		if resolvable {
			return errorAt(k.Position, "%s @key: only stubs of entities another subgraph owns are supported: add resolvable: false (Rewind resolves no entity of yours)", def.Name)
		}
		fields := ""
		if a := k.Arguments.ForName("fields"); a != nil {
			fields = a.Value.Raw
		}
		if strings.ContainsAny(fields, "{}()") || strings.TrimSpace(fields) == "" {
			return errorAt(k.Position, "%s @key(fields: %q): give the key's field names, e.g. \"id\" (nested keys are not supported)", def.Name, fields)
		}
		for _, name := range strings.Fields(fields) {
			f := def.Fields.ForName(name)
			if f == nil {
				return errorAt(k.Position, "%s @key: %s is not a field of %s", def.Name, name, def.Name)
			}
			if t := s.Types.Types[f.Type.Name()]; f.Type.Elem != nil || t == nil || t.Kind != ast.Scalar {
				return errorAt(f.Position, "%s.%s is part of the key: it must be a scalar (ID, String, Int)", def.Name, name)
			}
			inKey[name] = true
		}
	}
	for _, f := range def.Fields {
		if !inKey[f.Name] {
			return errorAt(f.Position, "%s.%s is not part of the key: a stub holds only its key, the owning subgraph serves the rest", def.Name, f.Name)
		}
	}
	return nil
}

func (s *Schema) checkField(def *ast.Definition, f *ast.FieldDefinition) error {
	if len(f.Arguments) > 0 {
		return errorAt(f.Position, "%s.%s has arguments: event data fields take none", def.Name, f.Name)
	}
	if strings.HasPrefix(f.Name, "__") {
		return errorAt(f.Position, "%s.%s: names starting with __ are GraphQL's", def.Name, f.Name)
	}
	t := s.Types.Types[namedType(f.Type)]
	if t == nil {
		return errorAt(f.Position, "%s.%s: unknown type %s", def.Name, f.Name, namedType(f.Type))
	}
	switch t.Kind {
	case ast.Scalar, ast.Enum, ast.Object:
		return nil
	case ast.Union:
		return errorAt(f.Position, "%s.%s is of union type %s: event data cannot hold unions (there are no input unions to publish it with)", def.Name, f.Name, t.Name)
	}
	return errorAt(f.Position, "%s.%s: a field of type %s cannot be event data", def.Name, f.Name, t.Name)
}

// checkCycle refuses an object that must contain itself (a cycle of
// non-null, non-list fields): no finite data has that shape, and GraphQL
// refuses the input type Rewind would generate from it.
func (s *Schema) checkCycle(start *ast.Definition) error {
	var visit func(def *ast.Definition, path []string) error
	seen := map[string]bool{}
	visit = func(def *ast.Definition, path []string) error {
		for _, f := range def.Fields {
			if !f.Type.NonNull || f.Type.Elem != nil {
				continue
			}
			next := s.Types.Types[f.Type.NamedType]
			if next == nil || next.Kind != ast.Object {
				continue
			}
			p := append(slices.Clone(path), def.Name+"."+f.Name)
			if next.Name == start.Name {
				return errorAt(start.Position, "%s must contain itself (%s): make one of these fields nullable", start.Name, strings.Join(p, " -> "))
			}
			if !seen[next.Name] {
				seen[next.Name] = true
				if err := visit(next, p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return visit(start, nil)
}

func newEvent(types *ast.Schema, def *ast.Definition, d *ast.Directive) (*Event, error) {
	e := &Event{Name: def.Name, Def: def, types: types}
	arg := func(name string) any {
		if a := d.Arguments.ForName(name); a != nil {
			v, _ := a.Value.Value(nil) // a literal: no variables to fail on
			return v
		}
		return nil
	}
	switch v := arg("topics").(type) {
	case []any:
		for _, p := range v {
			s, _ := p.(string)
			e.Topics = append(e.Topics, s)
		}
	case string:
		e.Topics = []string{v}
	}
	if len(e.Topics) == 0 {
		return nil, errorAt(d.Position, "@event on %s needs at least one topic pattern", def.Name)
	}
	for _, p := range e.Topics {
		if err := eventstore.ValidatePattern(p); err != nil {
			return nil, errorAt(d.Position, "@event on %s: %v", def.Name, err)
		}
	}
	e.Type, _ = arg("type").(string)
	if err := eventstore.ValidateType(e.Type); err != nil {
		return nil, errorAt(d.Position, "@event on %s: %v", def.Name, err)
	}
	return e, nil
}

func (s *Schema) newUnion(def *ast.Definition) (*Union, error) {
	u := &Union{Name: def.Name, Def: def}
	for _, name := range def.Types {
		i := slices.IndexFunc(s.Events, func(e *Event) bool { return e.Name == name })
		if i < 0 {
			return nil, errorAt(def.Position, "union %s: member %s is not an @event type", def.Name, name)
		}
		m := s.Events[i]
		for _, other := range u.Members {
			if other.Type == m.Type {
				return nil, errorAt(def.Position, "union %s: members %s and %s have the same event type %s, so an event's member is ambiguous", def.Name, other.Name, m.Name, m.Type)
			}
		}
		u.Members = append(u.Members, m)
	}
	return u, nil
}

// overlap returns a pattern of a and one of b that share a topic.
func overlap(a, b *Event) (string, string, bool) {
	for _, p := range a.Topics {
		for _, q := range b.Topics {
			if eventstore.Overlap(p, q) {
				return p, q, true
			}
		}
	}
	return "", "", false
}

func namedType(t *ast.Type) string {
	for t.Elem != nil {
		t = t.Elem
	}
	return t.NamedType
}

func names(sources []*ast.Source) string {
	var out []string
	for _, s := range sources {
		out = append(out, s.Name)
	}
	return strings.Join(out, ", ")
}

// errorAt is an ErrInvalidSchema at pos: "file:line: reason".
func errorAt(pos *ast.Position, format string, args ...any) error {
	where := "schema"
	if pos != nil && pos.Src != nil {
		where = fmt.Sprintf("%s:%d", pos.Src.Name, pos.Line)
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidSchema, where, fmt.Sprintf(format, args...))
}

// schemaError turns gqlparser's errors into ErrInvalidSchema errors in
// errorAt's form.
func schemaError(err error) error {
	var list gqlerror.List
	if errors.As(err, &list) && len(list) > 0 {
		err = list[0]
	}
	var gerr *gqlerror.Error
	if !errors.As(err, &gerr) {
		return fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	where := "schema"
	if file, _ := gerr.Extensions["file"].(string); file != "" {
		where = file
	}
	if len(gerr.Locations) > 0 {
		where += fmt.Sprintf(":%d", gerr.Locations[0].Line)
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidSchema, where, gerr.Message)
}
