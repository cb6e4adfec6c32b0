package eventschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// CheckData checks data against e's type as GraphQL coerces an input
// value of the input type Rewind generates from it (OrderPlacedInput):
// every non-null field present and not null, no field the type lacks, Int
// a whole number within 32 bits, Float any number, String a string, ID a
// string or a whole number, Boolean true or false, an enum one of its
// values' names, Time an RFC 3339 string, JSON anything; a single value
// where a list is declared is a list of one. It returns the first
// mismatch, in the order of the type's fields, as a *DataError.
func (e *Event) CheckData(data json.RawMessage) error {
	return e.check(data, false)
}

// CheckStored checks that stored data can be served as e's type: as
// CheckData, but fields the type lacks (removed since, say) are ignored,
// as the API does not select them. A stored event that fails it is served
// with an EVENT_SHAPE_MISMATCH error (see README, Typed events).
func (e *Event) CheckStored(data json.RawMessage) error {
	return e.check(data, true)
}

func (e *Event) check(data json.RawMessage, stored bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return &DataError{Event: e.Name, Reason: "not JSON: " + err.Error()}
	}
	c := checker{types: e.types, extraFields: stored}
	if reason := c.object(e.Def, v); reason != "" {
		return &DataError{Event: e.Name, Path: c.path(), Reason: reason}
	}
	return nil
}

// checker walks one value, keeping the path to where it is.
type checker struct {
	types       *ast.Schema
	extraFields bool   // fields the type lacks are let through
	steps       []step // from the data down to the value being checked
}

type step struct {
	field string // a field's name, or "" for a list index
	index int
}

func (c *checker) path() string {
	var b strings.Builder
	for _, s := range c.steps {
		if s.field == "" {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.field)
	}
	return b.String()
}

// value checks v, the value present for a field of type t (nil is JSON
// null), and returns why it does not coerce, or "".
func (c *checker) value(t *ast.Type, v any) string {
	if v == nil {
		if t.NonNull {
			return "expected " + t.String() + ", got null"
		}
		return ""
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			// Input coercion: a single value is a list of one.
			return c.value(t.Elem, v)
		}
		for i, item := range list {
			c.steps = append(c.steps, step{index: i})
			if reason := c.value(t.Elem, item); reason != "" {
				return reason
			}
			c.steps = c.steps[:len(c.steps)-1]
		}
		return ""
	}
	def := c.types.Types[t.NamedType]
	switch def.Kind {
	case ast.Object:
		return c.object(def, v)
	case ast.Enum:
		s, ok := v.(string)
		if ok && def.EnumValues.ForName(s) != nil {
			return ""
		}
		return "expected " + def.Name + " (" + enumNames(def) + "), got " + describe(v)
	}
	if scalar(def.Name, v) {
		return ""
	}
	if def.Name == "Time" {
		return "expected Time, an RFC 3339 string such as 2026-12-07T10:00:00Z, got " + describe(v)
	}
	return "expected " + def.Name + ", got " + describe(v)
}

// object checks v against the object type def.
func (c *checker) object(def *ast.Definition, v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return "expected an object (" + def.Name + "), got " + describe(v)
	}
	for _, f := range def.Fields {
		c.steps = append(c.steps, step{field: f.Name})
		fv, present := m[f.Name]
		if !present && f.Type.NonNull {
			return "required (" + f.Type.String() + "), missing"
		}
		if reason := c.value(f.Type, fv); reason != "" {
			return reason
		}
		c.steps = c.steps[:len(c.steps)-1]
	}
	if c.extraFields {
		return ""
	}
	var unknown []string
	for k := range m {
		if def.Fields.ForName(k) == nil {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		c.steps = append(c.steps, step{field: slices.Min(unknown)})
		return "not a field of " + def.Name
	}
	return ""
}

// scalar reports whether v coerces to the scalar named.
func scalar(name string, v any) bool {
	switch name {
	case "String":
		_, ok := v.(string)
		return ok
	case "Boolean":
		_, ok := v.(bool)
		return ok
	case "Int":
		f, ok := number(v)
		return ok && f == math.Trunc(f) && f >= math.MinInt32 && f <= math.MaxInt32
	case "Float":
		_, ok := number(v)
		return ok
	case "ID":
		if _, ok := v.(string); ok {
			return true
		}
		f, ok := number(v)
		return ok && f == math.Trunc(f)
	case "Time":
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	case "JSON":
		return true
	}
	return false
}

// number returns v as a finite float64, if it is a JSON number.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil && !math.IsInf(f, 0)
}

// describe names v's JSON kind, with a short form of it.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return "string " + short(strconv.Quote(v))
	case json.Number:
		return "number " + short(string(v))
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func short(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

func enumNames(def *ast.Definition) string {
	var out []string
	for _, v := range def.EnumValues {
		out = append(out, v.Name)
	}
	return strings.Join(out, ", ")
}

// CheckValue checks one JSON value against a type of the schema (a
// field's, from FieldAt) with CheckData's rules: nil, or why it does not
// coerce ("expected Int, got string \"3\"").
func (s *Schema) CheckValue(t *ast.Type, value json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: not JSON: %v", ErrInvalidData, err)
	}
	c := checker{types: s.Types}
	if reason := c.value(t, v); reason != "" {
		if p := c.path(); p != "" {
			reason = p + ": " + reason
		}
		return fmt.Errorf("%w: %s", ErrInvalidData, reason)
	}
	return nil
}

// FieldAt returns the declared type of the field a dot path names in e's
// data ("lines.0.qty": a segment of digits indexes a list), or why the
// path names none.
func (e *Event) FieldAt(path string) (*ast.Type, error) {
	t := &ast.Type{NamedType: e.Name, NonNull: true}
	for i, seg := range strings.Split(path, ".") {
		at := strings.Join(strings.Split(path, ".")[:i], ".")
		if t.Elem != nil {
			if _, err := strconv.Atoi(seg); err != nil {
				return nil, fmt.Errorf("%s is a list (%s): index it with a number, not %q", orData(at), t, seg)
			}
			t = t.Elem
			continue
		}
		def := e.types.Types[t.NamedType]
		if def == nil || def.Kind != ast.Object {
			return nil, fmt.Errorf("%s is of type %s: it has no field %s", orData(at), t.NamedType, seg)
		}
		f := def.Fields.ForName(seg)
		if f == nil {
			return nil, fmt.Errorf("%s has no field %s", def.Name, seg)
		}
		t = f.Type
	}
	return t, nil
}

func orData(path string) string {
	if path == "" {
		return "the data"
	}
	return path
}
