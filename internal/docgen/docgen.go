// Package docgen builds the GraphQL documents that tests of validation,
// cost and document limits send: large by construction, cheap to write.
package docgen

import (
	"fmt"
	"strings"
)

// NestedFragments is a document of n fragments where each spreads the
// next twice: 2^n spreads once expanded, n+1 fragments written.
func NestedFragments(n int) string {
	var b strings.Builder
	b.WriteString(`{ events(topic: "t", first: 1) { edges { node { ...F0 } } } }`)
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Event { ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Event { id }", n)
	return b.String()
}

// Repeated is a selection set of field n times, each followed by the
// selection sub when sub is not empty.
func Repeated(field string, n int, sub string) string {
	var b strings.Builder
	b.WriteString("{")
	for range n {
		b.WriteString(" " + field)
		if sub != "" {
			b.WriteString(" " + sub)
		}
	}
	b.WriteString(" }")
	return b.String()
}

// Aliases is sel under n aliases, a0 to a(n-1), as a selection's
// contents (no braces).
func Aliases(n int, sel string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, sel)
	}
	return b.String()
}
