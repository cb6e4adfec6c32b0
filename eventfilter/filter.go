package eventfilter

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Filter is a compiled Spec, safe for concurrent use. A nil *Filter
// matches every event.
type Filter struct {
	root          *node
	nodes, values int
	key           string
}

type op uint8

const (
	opEq op = iota
	opNe
	opIn
	opGt
	opGte
	opLt
	opLte
	opExists
	opAnd
	opOr
	opNot
)

var opNames = [...]string{"eq", "ne", "in", "gt", "gte", "lt", "lte", "exists", "and", "or", "not"}

type node struct {
	op        op
	path      []string
	rawPath   string
	value     any      // eq, ne
	valueKey  string   // its canonical text
	values    []any    // in, without duplicates
	valueKeys []string // their canonical texts
	bound     float64
	boundTime time.Time // bound as an instant, for RFC 3339 strings
	exists    bool
	kids      []*node // and, or; not has one
}

// Key is the filter's canonical form, as JSON a Spec parses from: filters
// that differ only in the order of and, or and in members, in repeated
// members, in object keys' order or in how numbers are written have the
// same key, so that a hub evaluates them once. "" for a nil Filter.
func (f *Filter) Key() string {
	if f == nil {
		return ""
	}
	return f.key
}

// Size is the work of one evaluation, in steps, as Spec.Size counts it;
// in values repeated in the Spec count once, as they are compared once.
// A nil Filter costs nothing.
func (f *Filter) Size() (nodes, values int) {
	if f == nil {
		return 0, 0
	}
	return f.nodes, f.values
}

// size counts n's work for Size.
func (n *node) size() (nodes, values int) {
	nodes = stepsPerNode
	for _, k := range n.kids {
		kn, kv := k.size()
		nodes, values = nodes+kn, values+kv
	}
	switch n.op {
	case opAnd, opOr, opNot:
		return nodes, values
	case opEq, opNe:
		values += valueSteps(len(n.valueKey))
	case opIn:
		for _, k := range n.valueKeys {
			values += valueSteps(len(k))
		}
	case opGt, opGte, opLt, opLte:
		nodes += stepsPerRange
	}
	return nodes + stepsPerSegment*len(n.path), values
}

// String is the filter's Key.
func (f *Filter) String() string { return f.Key() }

// Match reports whether the event whose data d holds passes the filter.
func (f *Filter) Match(d *Doc) bool {
	if f == nil {
		return true
	}
	return f.root.match(d)
}

// MatchData is Match on data decoded for this call alone.
func (f *Filter) MatchData(data json.RawMessage) bool {
	if f == nil {
		return true
	}
	return f.Match(NewDoc(data))
}

func (n *node) match(d *Doc) bool {
	switch n.op {
	case opAnd:
		for _, k := range n.kids {
			if !k.match(d) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if k.match(d) {
				return true
			}
		}
		return false
	case opNot:
		return !n.kids[0].match(d)
	}
	v, found := lookup(d.value(), n.path)
	switch n.op {
	case opExists:
		return found == n.exists
	case opNe:
		return !found || !equal(v, n.value)
	}
	if !found {
		return false // an absent path matches only exists: false and ne
	}
	switch n.op {
	case opEq:
		return equal(v, n.value)
	case opIn:
		return slices.ContainsFunc(n.values, func(w any) bool { return equal(v, w) })
	}
	c, ok := n.compare(v)
	if !ok {
		return false
	}
	switch n.op {
	case opGt:
		return c > 0
	case opGte:
		return c >= 0
	case opLt:
		return c < 0
	default:
		return c <= 0
	}
}

// compare orders v against the bound: a number as a number, an RFC 3339
// string as an instant; anything else is not comparable.
func (n *node) compare(v any) (int, bool) {
	switch v := v.(type) {
	case json.Number:
		x := parseNumber(v)
		switch {
		case x.f > n.bound:
			return 1, true
		case x.f < n.bound:
			return -1, true
		}
		return 0, true
	case string:
		if n.boundTime.IsZero() || !looksLikeTime(v) {
			return 0, false
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, false
		}
		return t.Compare(n.boundTime), true
	}
	return 0, false
}

// looksLikeTime is a cheap test before time.Parse: 2006-01-02T...
func looksLikeTime(s string) bool {
	return len(s) >= 20 && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't')
}

// lookup follows path into v: a segment names an object's key, or, of
// digits, an array's index.
func lookup(v any, path []string) (any, bool) {
	for _, seg := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) || (len(seg) > 1 && seg[0] == '0') || seg[0] == '+' {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// equal compares decoded JSON values: numbers by value, objects whatever
// their keys' order, arrays member by member.
func equal(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		w, ok := b.(bool)
		return ok && a == w
	case string:
		w, ok := b.(string)
		return ok && a == w
	case json.Number:
		w, ok := b.(json.Number)
		return ok && parseNumber(a).equal(parseNumber(w))
	case []any:
		w, ok := b.([]any)
		if !ok || len(a) != len(w) {
			return false
		}
		for i := range a {
			if !equal(a[i], w[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		w, ok := b.(map[string]any)
		if !ok || len(a) != len(w) {
			return false
		}
		for k, av := range a {
			if bv, ok := w[k]; !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}

// number is a JSON number: exact as an integer when it is one within
// int64, a float64 otherwise.
type number struct {
	i     int64
	f     float64
	isInt bool
}

func parseNumber(n json.Number) number {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return number{i: i, f: float64(i), isInt: true}
	}
	f, _ := strconv.ParseFloat(string(n), 64) // out of range: ±Inf, which compares
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return number{i: int64(f), f: f, isInt: true}
	}
	return number{f: f}
}

func (x number) equal(y number) bool {
	if x.isInt && y.isInt {
		return x.i == y.i
	}
	return x.f == y.f
}

// Doc is one event's data for evaluation, decoded the first time a filter
// reads it and then shared by every filter evaluated on it. Safe for
// concurrent use: filters evaluated on several goroutines share one decode.
type Doc struct {
	data    json.RawMessage
	once    sync.Once
	v       any
	decodes int // for tests: how often data was decoded
}

// NewDoc returns data ready for evaluation; nothing is decoded yet.
func NewDoc(data json.RawMessage) *Doc { return &Doc{data: data} }

// value is the decoded data; data that is not JSON (never stored) has no
// paths.
func (d *Doc) value() any {
	d.once.Do(func() {
		d.decodes++
		if v, err := decode(d.data); err == nil {
			d.v = v
		}
	})
	return d.v
}

var errTrailing = errors.New("text after the JSON value")

// decode reads one JSON value, numbers kept as text (json.Number).
func decode(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errTrailing
	}
	return v, nil
}

// key builds n's canonical text; and and or members are sorted and
// repeated ones dropped, as are repeated in values.
func (n *node) key() string {
	var b strings.Builder
	b.WriteByte('{')
	switch n.op {
	case opAnd, opOr:
		keys := make([]string, len(n.kids))
		for i, k := range n.kids {
			keys[i] = k.key()
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		b.WriteString(`"` + opNames[n.op] + `":[` + strings.Join(keys, ",") + `]`)
	case opNot:
		b.WriteString(`"not":` + n.kids[0].key())
	default:
		path, _ := json.Marshal(n.rawPath)
		b.WriteString(`"path":` + string(path) + `,"` + opNames[n.op] + `":`)
		switch n.op {
		case opEq, opNe:
			b.WriteString(n.valueKey)
		case opIn:
			keys := slices.Clone(n.valueKeys)
			slices.Sort(keys)
			b.WriteString("[" + strings.Join(keys, ",") + "]")
		case opExists:
			b.WriteString(strconv.FormatBool(n.exists))
		default:
			b.WriteString(strconv.FormatFloat(n.bound, 'g', -1, 64))
		}
	}
	b.WriteByte('}')
	return b.String()
}
