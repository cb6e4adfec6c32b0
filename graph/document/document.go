// Package document bounds what validating a GraphQL document may cost,
// before gqlgen validates it: validation compares the fields that share a
// response name pairwise, so a short document can cost seconds of CPU.
// It knows no schema, and any gqlgen server can use it.
package document

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/rewind-dev/rewind/codes"
)

// Defaults of Limits, declared once.
const (
	// DefaultMaxTokens bounds the lexical tokens of a document. GraphiQL's
	// introspection query has about 300.
	DefaultMaxTokens = 15_000
	// DefaultMaxFields bounds the fields and fragment spreads of a
	// document, counted as written (a fragment once, however often it is
	// spread).
	DefaultMaxFields = 2_000
	// DefaultMaxOverlaps bounds the pairs of fields sharing a response
	// name that validation (OverlappingFieldsCanBeMerged) will compare:
	// its work, which grows with the square of the repeats of a name
	// (through aliases, inline fragments, fragment spreads and their
	// nested selections alike). The worst documents within it validate in
	// about 10 ms on a 2-core machine (BenchmarkValidateWorst).
	DefaultMaxOverlaps = 20_000
)

// Limits bounds a document. Zero values take the Default constants.
type Limits struct {
	// MaxTokens bounds its lexical tokens. Default DefaultMaxTokens.
	MaxTokens int
	// MaxFields bounds its fields and fragment spreads, as written.
	// Default DefaultMaxFields.
	MaxFields int
	// MaxOverlaps bounds the pairs of fields sharing a response name that
	// validation will compare. Default DefaultMaxOverlaps.
	MaxOverlaps int
}

func (l Limits) withDefaults() Limits {
	if l.MaxTokens <= 0 {
		l.MaxTokens = DefaultMaxTokens
	}
	if l.MaxFields <= 0 {
		l.MaxFields = DefaultMaxFields
	}
	if l.MaxOverlaps <= 0 {
		l.MaxOverlaps = DefaultMaxOverlaps
	}
	return l
}

// Extension returns the gqlgen extension that refuses documents over l
// with codes.DocumentLimit before they are validated. Use it after any
// extension that fills in the query (automatic persisted queries): it
// checks the document gqlgen will parse. Documents in cached, gqlgen's
// query cache (nil for none), passed it already.
func Extension(l Limits, cached graphql.Cache[*ast.QueryDocument]) graphql.HandlerExtension {
	return &limiter{limits: l.withDefaults(), cached: cached}
}

// limiter refuses, before gqlgen parses and validates it, a
// document whose validation would cost out of proportion to its size.
// Validation compares the fields sharing a response name pairwise, and
// recursively their selections (10,000 repeats of one field took 3.6 s of
// CPU, 20,000 took 15.6 s), so the pairs it will compare are counted here
// first, the way it finds them, and the count stops at the limit: what
// this check spends is bounded by the limit too. A document gqlgen has
// cached passed it already and is not parsed again.
type limiter struct {
	limits Limits
	cached graphql.Cache[*ast.QueryDocument]
}

var (
	_ graphql.HandlerExtension          = (*limiter)(nil)
	_ graphql.OperationParameterMutator = (*limiter)(nil)
)

func (*limiter) ExtensionName() string                   { return "RewindDocumentLimits" }
func (*limiter) Validate(graphql.ExecutableSchema) error { return nil }

func (d *limiter) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query == "" {
		return nil // gqlgen answers it
	}
	if d.cached != nil {
		if _, ok := d.cached.Get(ctx, params.Query); ok {
			return nil
		}
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, d.limits.MaxTokens)
	if err != nil {
		if strings.Contains(err.Error(), "exceeded token limit") {
			return refusal("the document has more than %d tokens, the limit", d.limits.MaxTokens)
		}
		return nil // a syntax error: gqlgen's parser reports it with its code
	}
	return d.limits.Check(doc)
}

// Check counts doc's fields as written, then the pairs of overlapping
// fields validation would compare, up to the limits, and refuses it with
// codes.DocumentLimit over them.
func (l Limits) Check(doc *ast.QueryDocument) *gqlerror.Error {
	l = l.withDefaults()
	fields := 0
	var count func(ast.SelectionSet)
	count = func(ss ast.SelectionSet) {
		for _, sel := range ss {
			switch s := sel.(type) {
			case *ast.Field:
				fields++
				count(s.SelectionSet)
			case *ast.InlineFragment:
				count(s.SelectionSet)
			case *ast.FragmentSpread:
				fields++
			}
		}
	}
	for _, op := range doc.Operations {
		count(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		count(f.SelectionSet)
	}
	if fields > l.MaxFields {
		return refusal("the document has %d fields and fragment spreads, the limit is %d", fields, l.MaxFields)
	}
	o := overlaps{budget: l.MaxOverlaps, frags: map[string]*ast.FragmentDefinition{}, collected: map[*ast.Selection][]fieldGroup{}}
	for _, f := range doc.Fragments {
		o.frags[f.Name] = f
	}
	ok := true
	for _, op := range doc.Operations {
		ok = ok && o.everySet(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		ok = ok && o.everySet(f.SelectionSet)
	}
	if !ok {
		return refusal("validating the document would compare more than %d pairs of fields that share a response name, the limit: repeat a field (by aliases, fragments or spreads) less often", l.MaxOverlaps)
	}
	return nil
}

// overlaps counts the field pairs OverlappingFieldsCanBeMerged compares:
// in each selection set, every pair of fields with one response name
// (inline fragments and spread fragments collected into it), and for each
// pair with selections, the pairs of their selections' fields with one
// name, recursively. It counts fragments as expanded, where validation
// remembers pairs it compared: an upper bound of its work. It stops once
// the count passes budget.
type overlaps struct {
	budget    int
	n         int
	frags     map[string]*ast.FragmentDefinition
	collected map[*ast.Selection][]fieldGroup // by the set's first selection
}

// fieldGroup is the fields of one response name in a collected set.
type fieldGroup struct {
	name   string
	fields []*ast.Field
}

// everySet counts within every selection set of ss's tree.
func (o *overlaps) everySet(ss ast.SelectionSet) bool {
	for _, g := range o.collect(ss) {
		for i, a := range g.fields {
			for _, b := range g.fields[i+1:] {
				if !o.pair(a, b) {
					return false
				}
			}
		}
	}
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if !o.everySet(s.SelectionSet) {
				return false
			}
		case *ast.InlineFragment:
			if !o.everySet(s.SelectionSet) {
				return false
			}
		}
	}
	return true
}

// pair counts the comparison of a and b, and of their selections.
func (o *overlaps) pair(a, b *ast.Field) bool {
	if o.n++; o.n > o.budget {
		return false
	}
	if len(a.SelectionSet) == 0 || len(b.SelectionSet) == 0 {
		return true
	}
	ga, gb := o.collect(a.SelectionSet), o.collect(b.SelectionSet)
	for _, x := range ga {
		for _, y := range gb {
			if x.name != y.name {
				continue
			}
			for _, fa := range x.fields {
				for _, fb := range y.fields {
					if !o.pair(fa, fb) {
						return false
					}
				}
			}
		}
	}
	return true
}

// collect groups a set's fields by response name, its inline fragments'
// and spread fragments' (each once) included, in order of appearance.
func (o *overlaps) collect(ss ast.SelectionSet) []fieldGroup {
	if len(ss) == 0 {
		return nil
	}
	if g, ok := o.collected[&ss[0]]; ok {
		return g
	}
	var groups []fieldGroup
	index := map[string]int{}
	visited := map[string]bool{}
	var walk func(ast.SelectionSet)
	walk = func(ss ast.SelectionSet) {
		for _, sel := range ss {
			switch s := sel.(type) {
			case *ast.Field:
				name := s.Alias
				if name == "" {
					name = s.Name
				}
				i, ok := index[name]
				if !ok {
					i = len(groups)
					index[name] = i
					groups = append(groups, fieldGroup{name: name})
				}
				groups[i].fields = append(groups[i].fields, s)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				if def := o.frags[s.Name]; def != nil && !visited[s.Name] {
					visited[s.Name] = true
					walk(def.SelectionSet)
				}
			}
		}
	}
	walk(ss)
	o.collected[&ss[0]] = groups
	return groups
}

func refusal(format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": codes.DocumentLimit}}
}
