package typed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph/render"
)

// The Apollo Federation v2 subgraph contract (ServeFederation):
//
//	Query._service: _Service!            the subgraph SDL, with @link and @key
//	Query._entities(representations: [_Any!]!): [_Entity]!
//	union _Entity = Event | OrderPlacedEvent | ...   (@key(fields: "id"))
//
// It is served by the same executor layer as the typed API rather than by
// gqlgen's federation plugin: that plugin generates code for the entity
// types it sees at build time, and the envelopes of typed events only
// exist once --schema is read at start. One mechanism serves Event and
// every envelope: an id resolves to the stored event, rendered by the
// typed projection (package graph/render).

// fedField names the two root fields of the contract.
type fedField uint8

const (
	fedService fedField = iota + 1
	fedEntities
)

// FederationVersion is the federation spec the subgraph SDL links to.
const FederationVersion = "https://specs.apollo.dev/federation/v2.3"

// federationSource names the source of the contract's types.
const federationSource = "rewind:federation.graphqls"

// maxRepresentations bounds one _entities call: each representation may
// cost a storage read. A gateway batches the events of one response.
const maxRepresentations = 1000

// maxMisses bounds the unknown ids one _entities call looks up: an id
// that is not stored costs a scan of the stream (eventstore.Resolve), so
// a call may cost as many scans as an operation's default storage reads
// (graph.DefaultMaxStorageReads) and no more. Known ids cost a request or a few.
const maxMisses = 10

// federate registers the contract's root fields and entity types and
// builds the subgraph SDL: Rewind's schema and userSDL (the user's types,
// entity stubs with their @key) and ext (the typed API) with @key on
// Event and every envelope. It returns the contract's SDL, which joins
// the executable schema.
func (a *API) federate(rewind []*ast.Source, envelopes []*typedField, userSDL, ext string, taken, rootTaken map[string]string) (string, error) {
	for _, name := range []string{"_Any", "_Entity", "_Service"} {
		if who, ok := taken[name]; ok {
			return "", fmt.Errorf("%w: federation's type %s clashes with %s", eventschema.ErrInvalidSchema, name, who)
		}
	}
	for _, name := range []string{"_service", "_entities"} {
		if who, ok := rootTaken["Query."+name]; ok {
			return "", fmt.Errorf("%w: federation's field Query.%s clashes with %s", eventschema.ErrInvalidSchema, name, who)
		}
	}
	a.fields["Query._service"] = &typedField{root: "Query", name: "_service", fed: fedService}
	a.fields["Query._entities"] = &typedField{root: "Query", name: "_entities", fed: fedEntities}
	a.entities = map[string]*typedField{"Event": nil}
	names := []string{"Event"}
	for _, f := range envelopes {
		a.entities[f.envelope] = f
		names = append(names, f.envelope)
	}

	docs, err := parser.ParseSchemas(append(slices.Clone(rewind),
		&ast.Source{Name: "rewind:event-types.graphqls", Input: userSDL},
		&ast.Source{Name: render.GeneratedSource, Input: ext})...)
	if err != nil {
		return "", fmt.Errorf("%w: the subgraph SDL does not build: %v", eventschema.ErrInvalidSchema, err)
	}
	for _, def := range docs.Definitions {
		if _, ok := a.entities[def.Name]; ok {
			def.Directives = append(def.Directives, &ast.Directive{Name: "key", Arguments: ast.ArgumentList{
				{Name: "fields", Value: &ast.Value{Kind: ast.StringValue, Raw: "id"}},
			}})
		}
	}
	var sdl strings.Builder
	fmt.Fprintf(&sdl, "extend schema @link(url: %q, import: [\"@key\"])\n\n", FederationVersion)
	formatter.NewFormatter(&sdl).FormatSchemaDocument(docs)
	a.subgraph = sdl.String()

	return `
"Federation: an entity's representation, {__typename, id}."
scalar _Any
"Federation: the types _entities resolves."
union _Entity = ` + strings.Join(names, " | ") + `
"Federation: the subgraph's schema."
type _Service {
  sdl: String
}
extend type Query {
  "Federation: the subgraph SDL, for composition."
  _service: _Service!
  "Federation: the events with these ids, as their types; null for an unknown id, null with FORBIDDEN for one the token may not read."
  _entities(representations: [_Any!]!): [_Entity]!
}
`, nil
}

// resolveFederation resolves _service or _entities in ctx (the field's).
func (s *schema) resolveFederation(ctx context.Context, oc *graphql.OperationContext, tf *typedField, f graphql.CollectedField, args map[string]any) (out []byte, ok bool) {
	defer func() {
		// CollectFields panics on what validation should have refused.
		if v := recover(); v != nil {
			graphql.AddError(ctx, fmt.Errorf("%w: collect fields: %v", codes.ErrBadInput, v))
			out, ok = nil, false
		}
	}()
	if tf.fed == fedService {
		if oc.DisableIntrospection {
			// The subgraph SDL is the whole schema, typed topic patterns
			// included: with introspection off, only a gateway holding an
			// admin grant may read it.
			p, err := auth.From(ctx)
			if err == nil && !p.Admin {
				err = fmt.Errorf("%w: with introspection off, the subgraph schema (_service) is served to admin grants only", auth.ErrForbidden)
			}
			if err != nil {
				graphql.AddError(ctx, err)
				return nil, false
			}
		}
		buf := []byte{'{'}
		for i, sf := range graphql.CollectFields(oc, f.Selections, []string{"_Service"}) {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = render.AppendQuoted(buf, sf.Alias)
			buf = append(buf, ':')
			if sf.Name == "__typename" {
				buf = render.AppendQuoted(buf, "_Service")
			} else {
				buf = render.AppendQuoted(buf, s.api.subgraph)
			}
		}
		return append(buf, '}'), true
	}
	out, err := s.entities(ctx, oc, f, args)
	if err != nil {
		graphql.AddError(ctx, err)
		return nil, false
	}
	return out, true
}

// entities is _entities: each representation's event, rendered by its
// type's selection. A representation that names no event is null; one
// whose event the principal may not read is null with FORBIDDEN at its
// index, so the gateway gets no data of it.
func (s *schema) entities(ctx context.Context, oc *graphql.OperationContext, f graphql.CollectedField, args map[string]any) ([]byte, error) {
	reps, _ := args["representations"].([]any)
	if len(reps) > maxRepresentations {
		return nil, badInput("representations: at most %d, got %d", maxRepresentations, len(reps))
	}
	p, err := auth.From(ctx)
	if err != nil {
		return nil, err
	}
	progs := map[string]*render.Program{}
	charge := render.ChargeFor(ctx, s.api.schema)
	buf := []byte{'['}
	misses := 0
	for i, rep := range reps {
		if i > 0 {
			buf = append(buf, ',')
		}
		ictx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		if misses == maxMisses {
			graphql.AddError(ictx, badInput("representations: more than %d unknown ids in one call", maxMisses))
			buf = append(buf, "null"...)
			continue
		}
		ev, tf, err := s.entity(ctx, p, rep)
		if errors.Is(err, eventstore.ErrCursorNotFound) || errors.Is(err, eventstore.ErrCursorExpired) {
			misses++
			err = nil // no event: null, without error
		}
		if err != nil {
			graphql.AddError(ictx, err)
		}
		if ev != nil {
			if err := charge.Take(ev); err != nil {
				graphql.AddError(ictx, err)
				ev = nil
			}
		}
		if ev == nil {
			buf = append(buf, "null"...)
			continue
		}
		typename := "Event"
		if tf != nil {
			typename = tf.envelope
		}
		prog := progs[typename]
		if prog == nil {
			if prog, err = render.CompileObject(oc, s.api.schema, typename, "_Entity", f.Selections, s.renderOptions(ctx, tf)); err != nil {
				return nil, err
			}
			progs[typename] = prog
		}
		var errs gqlerror.List
		buf, errs = prog.RenderValue(buf, ev, false, ast.Path{ast.PathName(f.Alias), ast.PathIndex(i)})
		for _, e := range errs {
			graphql.AddError(ctx, e)
		}
	}
	return append(buf, ']'), nil
}

// entity finds the event a representation names and the typed field of
// its envelope (nil for Event): nil for none (with ErrCursorNotFound or
// ErrCursorExpired when the id is not stored), with an error for a
// representation that is not one or an event p may not read.
func (s *schema) entity(ctx context.Context, p *auth.Principal, rep any) (*eventstore.Event, *typedField, error) {
	m, _ := rep.(map[string]any)
	typename, _ := m["__typename"].(string)
	id, _ := m["id"].(string)
	tf, known := s.api.entities[typename]
	if !known || id == "" {
		return nil, nil, badInput("representations: give {__typename, id} of an entity (Event or a typed envelope)")
	}
	u, err := eventstore.ParseID(id)
	if err != nil {
		return nil, nil, err
	}
	if err := p.CheckReadSomething(); err != nil {
		return nil, nil, err // no lookup for who may read nothing
	}
	ev, err := s.deps.Source.Store.Get(ctx, u)
	if errors.Is(err, eventstore.ErrCursorNotFound) || errors.Is(err, eventstore.ErrCursorExpired) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("resolve entity %s: %w", id, err)
	}
	if err := p.CheckRead(ev.Topic); err != nil {
		return nil, nil, err
	}
	if tf != nil && !tf.holds(&ev) {
		return nil, nil, nil // an event, but not of this type
	}
	return &ev, tf, nil
}

// holds reports whether ev is one of the field's events.
func (f *typedField) holds(ev *eventstore.Event) bool {
	if f.event != nil {
		return f.event.Type == ev.Type && f.event.Matches(ev.Topic)
	}
	return f.union.Member(ev.Topic, ev.Type) != nil
}
