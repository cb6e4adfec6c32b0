package document

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/graph/generated"
	"github.com/rewind-dev/rewind/internal/docgen"
)

// nested nests field n times per level, levels deep, ending in leaf.
func nested(field string, n, levels int, leaf string) string {
	s := docgen.Repeated(leaf, n, "")
	for range levels {
		s = docgen.Repeated(field, n, s)
	}
	return s
}

// refused is the default limits' answer to query.
func refused(query string) *gqlerror.Error {
	return Extension(Limits{}, nil).(graphql.OperationParameterMutator).MutateOperationParameters(context.Background(), &graphql.RawParams{Query: query})
}

// spreads is a document that spreads n fragments, each selecting sel.
func spreads(n int, sel string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " ...F%d", i)
	}
	b.WriteString(" }")
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Query %s", i, sel)
	}
	return b.String()
}

// introspection is the query GraphiQL sends.
func introspection(t *testing.T) string {
	b, err := os.ReadFile("../testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name, query, refusal string
	}{
		{"introspection", introspection(t), ""},
		{"20,000 repeats", docgen.Repeated("hello", 20_000, ""), "more than 15000 tokens"},
		{"3,000 distinct", "{" + strings.Repeat(" __typename", 1) + func() string {
			var b strings.Builder
			for i := range 3000 {
				fmt.Fprintf(&b, " a%d: hello", i)
			}
			return b.String()
		}() + " }", "has 3001 fields and fragment spreads, the limit is 2000"},
		{"2,000 distinct", "{" + func() string {
			var b strings.Builder
			for i := range 2000 {
				fmt.Fprintf(&b, " a%d: hello", i)
			}
			return b.String()
		}() + " }", ""},
		{"201 repeats", docgen.Repeated("hello", 201, ""), "more than 20000 pairs"},
		{"200 repeats", docgen.Repeated("hello", 200, ""), ""},
		{"aliases are names", "{" + strings.Repeat(" a: hello", 201) + " }", "more than 20000 pairs"},
		{"inline fragments merge", "{" + strings.Repeat(" ... on Query { hello }", 201) + " }", "more than 20000 pairs"},
		{"spreads merge", spreads(201, "{ hello }"), "more than 20000 pairs"},
		{"selections compared", docgen.Repeated("topics", 16, docgen.Repeated("name", 16, "")), "more than 20000 pairs"},
		{"nested selections compared", nested("topics", 9, 2, "name"), "more than 20000 pairs"},
		{"distinct nested", "{ a: topics { name } b: topics { name } c: topics { name } }", ""},
		{"nested fragments stay linear", docgen.NestedFragments(30), ""},
		{"syntax error left to gqlgen", "{ hello", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refused(tc.query)
			switch {
			case tc.refusal == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refusal != "" && err == nil:
				t.Fatal("accepted")
			case err != nil && (!strings.Contains(err.Message, tc.refusal) || err.Extensions["code"] != codes.DocumentLimit):
				t.Fatalf("refusal %q (code %v), want one saying %q", err.Message, err.Extensions["code"], tc.refusal)
			}
		})
	}
}

// largestAccepted returns shape(n) for the largest n the document limits
// accept.
func largestAccepted(shape func(n int) string) string {
	ok := shape(1)
	for n := 2; n < 5000; n++ {
		q := shape(n)
		if refused(q) != nil {
			return ok
		}
		ok = q
	}
	return ok
}

// worstDocuments are the largest documents the default limits accept of
// shapes made for validation's pairwise comparisons: one name repeated,
// with selections of repeated names, at two and three levels, through
// connections, and through fragments.
func worstDocuments() map[string]string {
	return map[string]string{
		"flat":  largestAccepted(func(n int) string { return docgen.Repeated("hello", n, "") }),
		"two":   largestAccepted(func(n int) string { return docgen.Repeated("topics", n, docgen.Repeated("name", n, "")) }),
		"three": largestAccepted(func(n int) string { return nested("topics", n, 2, "name") }),
		"wide": largestAccepted(func(n int) string {
			return docgen.Repeated("events(topic: \"t\")", n, "{ edges "+docgen.Repeated("node", n, "{ id data }")+" }")
		}),
		"fragments": largestAccepted(func(n int) string { return spreads(n, docgen.Repeated("hello", n, "")) }),
		"distinct":  largestAccepted(func(n int) string { return spreads(n, "{ topics { name } }") }),
	}
}

// BenchmarkValidateWorst measures gqlparser's validation of the worst
// documents the document limits let through.
func BenchmarkValidateWorst(b *testing.B) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	for name, query := range worstDocuments() {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				doc, err := parser.ParseQuery(&ast.Source{Input: query})
				if err != nil {
					b.Fatal(err)
				}
				_ = validator.ValidateWithRules(schema, doc, rules.NewDefaultRules())
			}
		})
	}
}

// BenchmarkLimits measures the check itself on the same documents.
func BenchmarkLimits(b *testing.B) {
	for name, query := range worstDocuments() {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_ = refused(query)
			}
		})
	}
}
