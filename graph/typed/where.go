package typed

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventschema"
)

// checkWhere checks a typed field's where argument (raw, as ArgumentMap
// gives it) against the declared type: every path names a field of the
// event's data (of one member, for a union), the comparisons suit the
// field's type, and eq, ne and in compare with values of that type. A
// filter that could never match is a mistake to say at once, not an
// empty stream.
func (f *typedField) checkWhere(s *eventschema.Schema, where any) error {
	var members []*eventschema.Event
	if f.event != nil {
		members = []*eventschema.Event{f.event}
	} else {
		members = f.union.Members
	}
	var walk func(v any, at string) error
	walk = func(v any, at string) error {
		m, ok := v.(map[string]any)
		if !ok {
			return nil // eventfilter says what is wrong with it
		}
		for _, list := range []string{"and", "or"} {
			ks, _ := m[list].([]any)
			for i, k := range ks {
				if err := walk(k, fmt.Sprintf("%s[%d]", join(at, list), i)); err != nil {
					return err
				}
			}
		}
		if err := walk(m["not"], join(at, "not")); err != nil {
			return err
		}
		path, ok := m["path"].(string)
		if !ok {
			return nil
		}
		var t *ast.Type
		var why []string
		for _, e := range members {
			ft, err := e.FieldAt(path)
			if err == nil {
				t = ft
				break
			}
			why = append(why, err.Error())
		}
		if t == nil {
			return whereError(at, "path %s: %s", path, strings.Join(why, "; "))
		}
		return checkOperators(s, m, t, at, path)
	}
	return walk(where, "")
}

// checkOperators checks a leaf's operators against its field's type t.
func checkOperators(s *eventschema.Schema, leaf map[string]any, t *ast.Type, at, path string) error {
	for _, op := range []string{"gt", "gte", "lt", "lte"} {
		if _, ok := leaf[op]; ok && (t.Elem != nil || t.NamedType != "Int" && t.NamedType != "Float" && t.NamedType != "Time") {
			return whereError(at, "%s on %s: the field is %s; %s compares Int, Float and Time fields", op, path, t, op)
		}
	}
	values := map[string][]any{}
	for _, op := range []string{"eq", "ne"} {
		if v, ok := leaf[op]; ok && v != nil { // null: the field is null or absent
			values[op] = []any{v}
		}
	}
	if in, ok := leaf["in"].([]any); ok {
		values["in"] = in
	}
	for op, vs := range values {
		for _, v := range vs {
			text, err := json.Marshal(v)
			if err != nil {
				return whereError(at, "%s on %s: %v", op, path, err)
			}
			if err := s.CheckValue(nullable(t), text); err != nil {
				return whereError(at, "%s on %s (%s): %v", op, path, t, strings.TrimPrefix(err.Error(), eventschema.ErrInvalidData.Error()+": "))
			}
		}
	}
	return nil
}

// nullable is t without its outer non-null: compared values are never
// null here.
func nullable(t *ast.Type) *ast.Type {
	c := *t
	c.NonNull = false
	return &c
}

func whereError(at, format string, args ...any) error {
	where := "where"
	if at != "" {
		where += " " + at
	}
	return fmt.Errorf("%s: %w: %s", where, eventfilter.ErrInvalid, fmt.Sprintf(format, args...))
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}
