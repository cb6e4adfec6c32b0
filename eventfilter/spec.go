package eventfilter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is why a Spec does not compile: errors.Is(err, ErrInvalid).
var ErrInvalid = errors.New("invalid filter")

// Bounds of one filter, so that what evaluating it costs on every event is
// bounded and can be counted before it runs (Spec.Size).
const (
	// MaxDepth is how deeply and, or and not may nest: a lone leaf is 1.
	MaxDepth = 8
	// MaxNodes is how many filters (leaves, and, or, not) one may hold.
	MaxNodes = 64
	// MaxIn is how many values one in may list.
	MaxIn = 100
	// MaxValues is how many values (eq, ne and every in value) one filter
	// may compare with.
	MaxValues = 256
	// MaxValueBytes bounds the JSON text of those values together.
	MaxValueBytes = 16 << 10
	// MaxPath is the longest path, in bytes.
	MaxPath = 256
)

// Spec is a filter as a client writes it: GraphQL's Filter input and
// replayctl's --where JSON. A leaf has a path and exactly one operator; a
// combination has exactly one of And, Or and Not and no path.
type Spec struct {
	// Path is a dot path into the event's data, e.g. "customer.country";
	// a segment of digits indexes an array ("items.0.sku").
	Path string `json:"path,omitempty"`
	// Eq and Ne compare JSON values: numbers as numbers, objects whatever
	// their keys' order. JSON null is json.RawMessage("null"); nil is
	// absent.
	Eq json.RawMessage `json:"eq,omitempty"`
	Ne json.RawMessage `json:"ne,omitempty"`
	// In matches a value equal to one of these.
	In []json.RawMessage `json:"in,omitempty"`
	// Gt, Gte, Lt and Lte compare numbers, and RFC 3339 strings as times
	// with the bound taken as seconds since the Unix epoch.
	Gt  *float64 `json:"gt,omitempty"`
	Gte *float64 `json:"gte,omitempty"`
	Lt  *float64 `json:"lt,omitempty"`
	Lte *float64 `json:"lte,omitempty"`
	// Exists matches a present path (true, even when its value is null)
	// or an absent one (false).
	Exists *bool `json:"exists,omitempty"`

	And []*Spec `json:"and,omitempty"`
	Or  []*Spec `json:"or,omitempty"`
	Not *Spec   `json:"not,omitempty"`
}

// Parse reads a Spec from JSON text (unknown fields are refused) and
// compiles it.
func Parse(text []byte) (*Filter, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: text after the filter's JSON object", ErrInvalid)
	}
	return Compile(&s)
}

// The unit of Size: one step is about the work of following one path
// segment (a map lookup: 10-15 ns on a 2-core 2020s server). The weights
// hold within that on the worst case of each kind (BenchmarkWorstCases);
// cheaper kinds (number ranges, string comparisons) are overcharged.
const (
	// stepsPerNode: visiting one filter (leaf, and, or, not).
	stepsPerNode = 1
	// stepsPerSegment: following one segment of a leaf's path; a path of
	// 128 segments costs 128.
	stepsPerSegment = 1
	// stepsPerRange: gt, gte, lt and lte, which parse an RFC 3339 string
	// (a time with an offset takes 200-300 ns) or a number.
	stepsPerRange = 8
	// stepsPerValue and valueBytesPerStep: comparing with one value
	// (numbers are parsed on both sides), plus one step per 8 bytes of its
	// JSON text, as objects and arrays are compared member by member.
	stepsPerValue     = 3
	valueBytesPerStep = 8
)

// Size is the work one evaluation of s does on an event, in steps (about
// one path segment followed each; a filter at every bound is some 11,000), for a cost model that charges a filter
// by what it costs: nodes is what its filters and paths cost (one per
// filter, one per path segment, eight per range comparison), values what
// comparing with its values costs (three each, plus one per 8 bytes of
// their JSON text). Decoding the event's data, done once per event
// whatever the number of filters, is not counted. It stops counting past
// the bounds, so its cost is bounded whatever s holds. It counts values
// as written; Filter.Size counts them in canonical form, about as long.
func (s *Spec) Size() (nodes, values int) {
	count := 0
	var walk func(*Spec)
	walk = func(s *Spec) {
		if s == nil || count > MaxNodes {
			return
		}
		count++
		nodes += stepsPerNode
		if s.Path != "" {
			nodes += stepsPerSegment * (strings.Count(s.Path[:min(len(s.Path), MaxPath+1)], ".") + 1)
		}
		if s.Gt != nil || s.Gte != nil || s.Lt != nil || s.Lte != nil {
			nodes += stepsPerRange
		}
		for _, v := range s.In[:min(len(s.In), MaxValues+1)] {
			values += valueSteps(len(v))
		}
		if s.Eq != nil {
			values += valueSteps(len(s.Eq))
		}
		if s.Ne != nil {
			values += valueSteps(len(s.Ne))
		}
		for _, c := range s.And {
			walk(c)
		}
		for _, c := range s.Or {
			walk(c)
		}
		walk(s.Not)
	}
	walk(s)
	return nodes, values
}

// valueSteps is what comparing with a value of n bytes of JSON costs.
func valueSteps(n int) int {
	return stepsPerValue + min(n, 4*MaxValueBytes)/valueBytesPerStep
}

// Compile checks s against the bounds and returns its Filter. Its errors
// wrap ErrInvalid and say where in s the problem is (and[1].not: ...).
func Compile(s *Spec) (*Filter, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no filter", ErrInvalid)
	}
	c := &compiler{}
	root, err := c.node(s, "", 1)
	if err != nil {
		return nil, err
	}
	f := &Filter{root: root, key: root.key()}
	f.nodes, f.values = root.size()
	return f, nil
}

type compiler struct {
	nodes, values, bytes int
}

func (c *compiler) fail(at, format string, args ...any) error {
	if at != "" {
		format = at + ": " + format
	}
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func (c *compiler) node(s *Spec, at string, depth int) (*node, error) {
	if s == nil {
		return nil, c.fail(at, "null is not a filter")
	}
	if depth > MaxDepth {
		return nil, c.fail(at, "filters nest %d deep at most", MaxDepth)
	}
	if c.nodes++; c.nodes > MaxNodes {
		return nil, c.fail(at, "a filter holds %d filters at most", MaxNodes)
	}
	ops := s.operators()
	combos := s.combinations()
	switch {
	case len(combos) > 1:
		return nil, c.fail(at, "use one of and, or, not per filter, not %s (nest them)", strings.Join(combos, " and "))
	case len(combos) == 1 && (s.Path != "" || len(ops) > 0):
		return nil, c.fail(at, "%s takes no path or operator beside it (put the comparison inside it)", combos[0])
	case len(combos) == 1:
		return c.combination(s, at, depth)
	case s.Path == "":
		return nil, c.fail(at, "a filter needs a path and one operator (eq, ne, in, gt, gte, lt, lte, exists), or one of and, or, not")
	case len(ops) != 1:
		if len(ops) == 0 {
			return nil, c.fail(at, "path %q needs one operator: eq, ne, in, gt, gte, lt, lte or exists", s.Path)
		}
		return nil, c.fail(at, "path %q has %s: one operator per filter (combine them with and)", s.Path, strings.Join(ops, " and "))
	}
	path, err := splitPath(s.Path)
	if err != nil {
		return nil, c.fail(at, "%v", err)
	}
	n := &node{path: path, rawPath: s.Path}
	switch ops[0] {
	case "eq", "ne":
		raw := s.Eq
		n.op = opEq
		if ops[0] == "ne" {
			raw, n.op = s.Ne, opNe
		}
		if n.value, n.valueKey, err = c.literal(raw); err != nil {
			return nil, c.fail(at, "%s: %v", ops[0], err)
		}
	case "in":
		n.op = opIn
		if len(s.In) == 0 {
			return nil, c.fail(at, "in needs at least one value")
		}
		if len(s.In) > MaxIn {
			return nil, c.fail(at, "in lists %d values at most, not %d", MaxIn, len(s.In))
		}
		seen := map[string]bool{}
		for i, raw := range s.In {
			v, key, err := c.literal(raw)
			if err != nil {
				return nil, c.fail(at, "in[%d]: %v", i, err)
			}
			if !seen[key] {
				seen[key] = true
				n.values = append(n.values, v)
				n.valueKeys = append(n.valueKeys, key)
			}
		}
	case "exists":
		n.op, n.exists = opExists, *s.Exists
	default:
		n.op, n.bound = boundOp(s)
		n.bound += 0 // -0 is 0, in keys too
		if math.IsNaN(n.bound) || math.IsInf(n.bound, 0) {
			return nil, c.fail(at, "%s must be a finite number", ops[0])
		}
		n.boundTime = secondsToTime(n.bound)
	}
	return n, nil
}

func (c *compiler) combination(s *Spec, at string, depth int) (*node, error) {
	if s.Not != nil {
		kid, err := c.node(s.Not, join(at, "not"), depth+1)
		if err != nil {
			return nil, err
		}
		return &node{op: opNot, kids: []*node{kid}}, nil
	}
	n, name, list := &node{op: opAnd}, "and", s.And
	if s.Or != nil {
		n.op, name, list = opOr, "or", s.Or
	}
	if len(list) == 0 {
		return nil, c.fail(at, "%s needs at least one filter", name)
	}
	for i, k := range list {
		kid, err := c.node(k, fmt.Sprintf("%s[%d]", join(at, name), i), depth+1)
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, kid)
	}
	return n, nil
}

// literal decodes a value to compare with and returns it with its
// canonical JSON text.
func (c *compiler) literal(raw json.RawMessage) (any, string, error) {
	if c.values++; c.values > MaxValues {
		return nil, "", fmt.Errorf("a filter compares with %d values at most", MaxValues)
	}
	if len(raw) > 4*MaxValueBytes {
		return nil, "", fmt.Errorf("a filter's values hold %d bytes of JSON at most", MaxValueBytes)
	}
	v, err := decode(raw)
	if err != nil {
		return nil, "", fmt.Errorf("not a JSON value: %v", err)
	}
	// Counted in canonical text, so that a filter's Key compiles too.
	key := canonical(v)
	if c.bytes += len(key); c.bytes > MaxValueBytes {
		return nil, "", fmt.Errorf("a filter's values hold %d bytes of JSON at most", MaxValueBytes)
	}
	return v, key, nil
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

func (s *Spec) operators() []string {
	var ops []string
	for _, o := range []struct {
		name string
		set  bool
	}{
		{"eq", s.Eq != nil}, {"ne", s.Ne != nil}, {"in", s.In != nil},
		{"gt", s.Gt != nil}, {"gte", s.Gte != nil}, {"lt", s.Lt != nil}, {"lte", s.Lte != nil},
		{"exists", s.Exists != nil},
	} {
		if o.set {
			ops = append(ops, o.name)
		}
	}
	return ops
}

func (s *Spec) combinations() []string {
	var out []string
	if s.And != nil {
		out = append(out, "and")
	}
	if s.Or != nil {
		out = append(out, "or")
	}
	if s.Not != nil {
		out = append(out, "not")
	}
	return out
}

func boundOp(s *Spec) (op, float64) {
	switch {
	case s.Gt != nil:
		return opGt, *s.Gt
	case s.Gte != nil:
		return opGte, *s.Gte
	case s.Lt != nil:
		return opLt, *s.Lt
	default:
		return opLte, *s.Lte
	}
}

// splitPath checks a dot path and splits it into its segments.
func splitPath(p string) ([]string, error) {
	if len(p) > MaxPath {
		return nil, fmt.Errorf("path is %d bytes, the limit is %d", len(p), MaxPath)
	}
	segs := strings.Split(p, ".")
	if slices.Contains(segs, "") {
		return nil, fmt.Errorf("path %q has an empty segment (paths are keys joined by dots, e.g. customer.country)", p)
	}
	return segs, nil
}

// secondsToTime is the instant bound seconds after the Unix epoch, for
// comparison with RFC 3339 strings; the zero Time when out of range.
func secondsToTime(b float64) time.Time {
	if math.Abs(b) > 1<<40 {
		return time.Time{}
	}
	sec := math.Floor(b)
	return time.Unix(int64(sec), int64(math.Round((b-sec)*1e9)))
}

// canonical is v's JSON text with object keys sorted and numbers written
// one way (1, 1.0 and 1e0 are all 1), so that equal values have equal text.
func canonical(v any) string {
	var b strings.Builder
	writeCanonical(&b, v)
	return b.String()
}

func writeCanonical(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(numberText(v))
	case string:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, k)
			b.WriteByte(':')
			writeCanonical(b, v[k])
		}
		b.WriteByte('}')
	}
}

func numberText(n json.Number) string {
	x := parseNumber(n)
	if x.isInt {
		return strconv.FormatInt(x.i, 10)
	}
	return strconv.FormatFloat(x.f, 'g', -1, 64)
}
