package typed

import (
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Examples returns example operations of the typed API, for GraphiQL's
// tabs: a typed subscription (on the first @events union, with a fragment
// on each member, or on the first event type) and a typed publish of the
// first event type with its required fields. None without event types.
func (a *API) Examples() []string {
	if a == nil || len(a.source.Events) == 0 {
		return nil
	}
	types := a.source.Types
	var sub strings.Builder
	if len(a.source.Unions) > 0 {
		u := a.source.Unions[0]
		fmt.Fprintf(&sub, "# Typed events, declared with --schema: data is\n# typed, so GraphiQL completes its fields, and\n# a fragment picks the fields of each member of\n# the union %s. Publish from the next tab.\n", u.Name)
		fmt.Fprintf(&sub, "subscription Follow%s {\n  %s(afterId: \"00000000000000000000000000\") {\n    id\n    topic\n    live\n    data {\n      __typename\n", u.Name, lowerCamel(u.Name))
		for _, m := range u.Members {
			fmt.Fprintf(&sub, "      ... on %s {\n", m.Name)
			writeSelection(&sub, types, m.Def, "        ", 0)
			sub.WriteString("      }\n")
		}
		sub.WriteString("    }\n  }\n}\n")
	} else {
		ev := a.source.Events[0]
		fmt.Fprintf(&sub, "# Typed events, declared with --schema: data is\n# typed, so GraphiQL completes its fields.\n# Publish from the next tab.\n")
		fmt.Fprintf(&sub, "subscription Follow%s {\n  %s(afterId: \"00000000000000000000000000\") {\n    id\n    topic\n    live\n    data {\n", ev.Name, lowerCamel(ev.Name))
		writeSelection(&sub, types, ev.Def, "      ", 0)
		sub.WriteString("    }\n  }\n}\n")
	}
	ev := a.source.Events[0]
	topic := exampleTopic(ev.Topics[0])
	var pub strings.Builder
	fmt.Fprintf(&pub, "# Append a %s event: data is checked against\n# its type, and a mismatch is refused with the\n# path of the first bad field.\n", ev.Name)
	fmt.Fprintf(&pub, "mutation Publish%s {\n  publish%s(\n    topic: %q\n    data: %s\n  ) {\n    id\n    time\n  }\n}\n", ev.Name, ev.Name, topic, exampleValue(types, &ast.Type{NamedType: ev.Name, NonNull: true}, 0))
	return []string{sub.String(), pub.String()}
}

// writeSelection writes def's fields, objects two levels deep.
func writeSelection(w *strings.Builder, types *ast.Schema, def *ast.Definition, indent string, depth int) {
	for _, f := range def.Fields {
		t := types.Types[f.Type.Name()]
		if t == nil || f.Directives.ForName("deprecated") != nil {
			continue
		}
		if t.Kind != ast.Object {
			fmt.Fprintf(w, "%s%s\n", indent, f.Name)
			continue
		}
		if depth < 1 {
			fmt.Fprintf(w, "%s%s {\n", indent, f.Name)
			writeSelection(w, types, t, indent+"  ", depth+1)
			fmt.Fprintf(w, "%s}\n", indent)
		}
	}
}

// exampleValue is a literal of type t: required fields only.
func exampleValue(types *ast.Schema, t *ast.Type, depth int) string {
	if t.Elem != nil {
		return "[" + exampleValue(types, t.Elem, depth) + "]"
	}
	def := types.Types[t.NamedType]
	if def == nil {
		return "null"
	}
	switch def.Kind {
	case ast.Enum:
		if len(def.EnumValues) > 0 {
			return def.EnumValues[0].Name
		}
	case ast.Object:
		if depth > 4 {
			return "{}"
		}
		var parts []string
		for _, f := range def.Fields {
			if f.Type.NonNull {
				parts = append(parts, f.Name+": "+exampleValue(types, f.Type, depth+1))
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	switch def.Name {
	case "Int":
		return "1"
	case "Float":
		return "9.5"
	case "Boolean":
		return "true"
	case "Time":
		return `"2026-01-01T00:00:00Z"`
	case "JSON":
		return "{}"
	case "ID":
		return `"1"`
	}
	return `"text"`
}

// exampleTopic is a topic matching pattern.
func exampleTopic(pattern string) string {
	tokens := strings.Split(pattern, ".")
	for i, t := range tokens {
		if t == "*" || t == ">" {
			tokens[i] = "example"
		}
	}
	return strings.Join(tokens, ".")
}
