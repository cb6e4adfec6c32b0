package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
)

// ErrShapeMismatch: a stored event whose data does not fit the type
// declared for it now (it was stored before the schema changed, say). The
// error is a *ShapeError naming the event and the field.
var ErrShapeMismatch = codes.New(codes.EventShapeMismatch, "stored event does not fit its declared type")

// ShapeError says which stored event does not fit its type, and where.
type ShapeError struct {
	EventID string // a client may resume after it
	Path    string // data.lines[2].qty
	Reason  string
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("stored event %s: %s: %s", e.EventID, e.Path, e.Reason)
}

func (e *ShapeError) Unwrap() error { return ErrShapeMismatch }

// A typed selection is compiled once per operation (and interned by shape
// for subscriptions, see Cache) into a tree of sel and vtype, which
// renders an event's stored JSON by projecting it: one scan of each
// object, no decoding into maps, output byte for byte as gqlgen's
// marshalers write it.

// sel is a compiled selection on one object type.
type sel struct {
	typename string
	fields   []selField
}

// selField is one selected field: an envelope field (id, topic, ...), a
// connection's, or a data field read from the stored JSON by name.
type selField struct {
	alias string
	name  string
	kind  fieldKind
	vt    *vtype // the field's type, for data fields and data itself
}

type fieldKind uint8

const (
	kTypename fieldKind = iota
	kID
	kTopic
	kTime
	kLive
	kData     // the envelope's data: the event's JSON
	kEdges    // connection
	kPageInfo // connection
	kCursor   // edge
	kNode     // edge
	kHasNext  // pageInfo
	kEnd      // pageInfo
	kStored   // a field of the data, by name
	kType     // Event.type
	kContent  // Message.content: the data read as a message
)

// vtype is an output type: a list, a leaf, an object or a union.
type vtype struct {
	nonNull bool
	elem    *vtype
	leaf    leafKind
	name    string          // the named type, for messages
	enum    map[string]bool // leafEnum
	obj     *sel            // an object's selection
	union   map[string]*sel // a union's selection per member
}

type leafKind uint8

const (
	leafNone leafKind = iota
	leafString
	leafID
	leafInt
	leafFloat
	leafBoolean
	leafTime
	leafJSON
	leafEnum
)

// compiler compiles selections against the merged schema.
type compiler struct {
	op     *graphql.OperationContext
	schema *ast.Schema
	key    strings.Builder // the shape, for interning
}

var errDefer = errors.New("@defer is not supported on typed fields")

// object compiles selections on the object type typename (of a union
// when union is set: fragments on it match too).
func (c *compiler) object(typename, union string, selections ast.SelectionSet) (*sel, error) {
	satisfies := []string{typename}
	if union != "" {
		satisfies = append(satisfies, union)
	}
	def := c.schema.Types[typename]
	if def == nil {
		return nil, fmt.Errorf("unknown type %s", typename)
	}
	s := &sel{typename: typename}
	c.key.WriteString("{" + typename)
	for _, f := range graphql.CollectFields(c.op, selections, satisfies) {
		if f.IsDeferred() {
			return nil, errDefer
		}
		sf := selField{alias: f.Alias, name: f.Name}
		c.key.WriteString(" " + f.Alias + ":" + f.Name)
		if f.Name == "__typename" {
			sf.kind = kTypename
			s.fields = append(s.fields, sf)
			continue
		}
		fd := def.Fields.ForName(f.Name)
		if fd == nil {
			return nil, fmt.Errorf("%s has no field %s", typename, f.Name)
		}
		sf.kind = envelopeKind(def, f.Name)
		if sf.kind == kStored || sf.kind == kData || sf.kind == kEdges || sf.kind == kNode || sf.kind == kPageInfo {
			vt, err := c.vtype(fd.Type, f.Selections)
			if err != nil {
				return nil, err
			}
			sf.vt = vt
		}
		s.fields = append(s.fields, sf)
	}
	c.key.WriteString("}")
	return s, nil
}

// envelopeKind says where a field of def comes from: the generated
// envelope, connection and edge types and PageInfo are Rewind's, the
// others (the user's types) read stored data.
func envelopeKind(def *ast.Definition, name string) fieldKind {
	pos := def.Position
	generated := pos != nil && pos.Src != nil && pos.Src.Name == GeneratedSource
	switch {
	case def.Name == "PageInfo":
		if name == "hasNextPage" {
			return kHasNext
		}
		return kEnd
	case def.Name == "Event" && !generated:
		// Rewind's generic envelope: its data is a JSON leaf.
		if name == "type" {
			return kType
		}
	case def.Name == "Message" && !generated:
		// Rewind's seed messages: events of the messages topic.
		switch name {
		case "content":
			return kContent
		case "timestamp":
			return kTime
		}
	case !generated:
		return kStored
	case strings.HasSuffix(def.Name, "EventConnection"):
		if name == "edges" {
			return kEdges
		}
		return kPageInfo
	case strings.HasSuffix(def.Name, "EventEdge"):
		if name == "cursor" {
			return kCursor
		}
		return kNode
	}
	switch name {
	case "id":
		return kID
	case "topic":
		return kTopic
	case "time":
		return kTime
	case "live":
		return kLive
	}
	return kData
}

// GeneratedSource is the name of the schema source holding the typed
// API's generated SDL (envelopes, connections, inputs): its types are
// Rewind's, the others' fields read stored data.
const GeneratedSource = "rewind:typed-events.graphqls"

func (c *compiler) vtype(t *ast.Type, selections ast.SelectionSet) (*vtype, error) {
	vt := &vtype{nonNull: t.NonNull, name: t.Name()}
	if t.Elem != nil {
		elem, err := c.vtype(t.Elem, selections)
		if err != nil {
			return nil, err
		}
		vt.elem = elem
		c.key.WriteString("[]")
		return vt, nil
	}
	def := c.schema.Types[t.NamedType]
	if def == nil {
		return nil, fmt.Errorf("unknown type %s", t.NamedType)
	}
	switch def.Kind {
	case ast.Object:
		obj, err := c.object(def.Name, "", selections)
		if err != nil {
			return nil, err
		}
		vt.obj = obj
	case ast.Union:
		vt.union = map[string]*sel{}
		for _, m := range def.Types {
			obj, err := c.object(m, def.Name, selections)
			if err != nil {
				return nil, err
			}
			vt.union[m] = obj
		}
	case ast.Enum:
		vt.leaf = leafEnum
		vt.enum = map[string]bool{}
		for _, v := range def.EnumValues {
			vt.enum[v.Name] = true
		}
	case ast.Scalar:
		switch def.Name {
		case "String":
			vt.leaf = leafString
		case "ID":
			vt.leaf = leafID
		case "Int":
			vt.leaf = leafInt
		case "Float":
			vt.leaf = leafFloat
		case "Boolean":
			vt.leaf = leafBoolean
		case "Time":
			vt.leaf = leafTime
		default:
			vt.leaf = leafJSON // JSON, and any other scalar: the stored value
		}
	default:
		return nil, fmt.Errorf("type %s (%s) cannot be served", def.Name, def.Kind)
	}
	if t.NonNull {
		c.key.WriteString("!")
	}
	return vt, nil
}

// Program renders one root field's value for an event (an Event, a
// Message, a typed envelope) or a page of events (a connection of them).
type Program struct {
	key   string
	root  []byte // {"<alias>":
	alias string
	vt    *vtype // the field's type: Event!, TEvent!, TEventConnection!...
	live  bool   // the output depends on live
	opts  Options
}

// Options are what a Program needs beyond its selection.
type Options struct {
	// Present presents field errors once, where they are found: the
	// rendering, errors included, is shared by every subscriber.
	Present graphql.ErrorPresenterFunc
	// Member names the union member an event of a union field belongs
	// to ("" for none); nil when the field is no union's.
	Member func(ev *eventstore.Event) string
	// MaxBytes stops a render that reaches it (RESPONSE_TOO_LARGE): a
	// projection writes keys and nulls for each element of a list, which
	// an estimate made before the operation cannot see. 0: no limit.
	MaxBytes int
}

// ErrNotRenderable: a selection a Program cannot write byte for byte as
// gqlgen would (@defer); its caller serves it through gqlgen.
var ErrNotRenderable = errors.New("selection not renderable")

// Compile compiles root field cf (its definition from validation, its
// selection collected in op as gqlgen's executor collects it) against
// schema. It fails with ErrNotRenderable for a selection it cannot render
// exactly, and with codes.ErrBadInput for one it cannot serve.
func Compile(op *graphql.OperationContext, schema *ast.Schema, cf graphql.CollectedField, opts Options) (p *Program, err error) {
	defer func() {
		// CollectFields panics on what validation should have refused.
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: collect fields: %v", codes.ErrBadInput, v)
		}
	}()
	if cf.Field == nil || cf.Definition == nil {
		return nil, fmt.Errorf("%w: a field without its definition", ErrNotRenderable)
	}
	if opts.Present == nil {
		opts.Present = graphql.DefaultErrorPresenter
	}
	c := &compiler{op: op, schema: schema}
	c.key.WriteString(cf.ObjectDefinition.Name + "." + cf.Name + " " + cf.Alias)
	vt, err := c.vtype(cf.Definition.Type, cf.Selections)
	switch {
	case errors.Is(err, errDefer):
		return nil, fmt.Errorf("%w: %v", ErrNotRenderable, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v", codes.ErrBadInput, cf.Alias, err)
	}
	p = &Program{key: c.key.String(), alias: cf.Alias, vt: vt, opts: opts}
	p.root = AppendQuoted([]byte{'{'}, cf.Alias)
	p.root = append(p.root, ':')
	p.live = selectsLive(vt)
	return p, nil
}

// CompileObject compiles selections on the object type typename, a member
// of union (whose fragments apply to it too), for values rendered alone:
// an entity of _entities.
func CompileObject(op *graphql.OperationContext, schema *ast.Schema, typename, union string, selections ast.SelectionSet, opts Options) (p *Program, err error) {
	defer func() {
		// CollectFields panics on what validation should have refused.
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: collect fields: %v", codes.ErrBadInput, v)
		}
	}()
	if opts.Present == nil {
		opts.Present = graphql.DefaultErrorPresenter
	}
	c := &compiler{op: op, schema: schema}
	obj, err := c.object(typename, union, selections)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", codes.ErrBadInput, err)
	}
	vt := &vtype{name: typename, obj: obj}
	return &Program{key: c.key.String(), vt: vt, live: selectsLive(vt), opts: opts}, nil
}

// RenderValue appends ev's value alone, null when it cannot be rendered,
// with the errors of the render at path.
func (p *Program) RenderValue(buf []byte, ev *eventstore.Event, live bool, path ast.Path) ([]byte, gqlerror.List) {
	st := &renderState{ev: ev, live: live && p.live, member: p.opts.Member, present: p.opts.Present}
	for _, el := range path {
		switch el := el.(type) {
		case ast.PathName:
			st.path = append(st.path, step{name: string(el)})
		case ast.PathIndex:
			st.path = append(st.path, step{index: int(el), isIndex: true})
		}
	}
	n0 := len(buf)
	st.limit(n0, p.opts.MaxBytes)
	buf, ok := st.envelope(buf, p.vt, ev)
	if !ok {
		return append(buf[:n0], "null"...), st.errs
	}
	return buf, st.errs
}

// RootType is the root type an operation's fields are on: Query,
// Mutation or Subscription.
func RootType(op ast.Operation) string {
	switch op {
	case ast.Mutation:
		return "Mutation"
	case ast.Subscription:
		return "Subscription"
	}
	return "Query"
}

// Value returns the value inside out, a render of p ({"<alias>":value}).
func (p *Program) Value(out []byte) []byte { return out[len(p.root) : len(out)-1] }

// WithMaxBytes returns a copy of p that stops at n bytes (see
// Options.MaxBytes).
func (p *Program) WithMaxBytes(n int) *Program {
	q := *p
	q.opts.MaxBytes = n
	return &q
}

func selectsLive(vt *vtype) bool {
	if vt == nil || vt.obj == nil {
		return false
	}
	for _, f := range vt.obj.fields {
		if f.kind == kLive || selectsLive(f.vt) {
			return true
		}
	}
	return false
}

// renderState is one render: the event, the errors so far and where.
type renderState struct {
	ev   *eventstore.Event
	live bool
	path []step // where the render is, as an ast.Path only for errors
	errs gqlerror.List
	// member is the union's member for ev, found by its type and topic.
	member  func(ev *eventstore.Event) string
	present graphql.ErrorPresenterFunc
	// stop is the length of the output at which the render stops (0:
	// none); tooLarge, that it did.
	stop, max int
	tooLarge  bool
}

// limit makes st stop once buf, which holds start bytes now, has grown by
// maxBytes (none when 0).
func (st *renderState) limit(start, maxBytes int) {
	if maxBytes > 0 {
		st.stop, st.max = start+maxBytes, maxBytes
	}
}

// step is one element of a path: a field's alias or a list's index.
type step struct {
	name    string
	index   int
	isIndex bool
}

// astPath is where the render is.
func (st *renderState) astPath() ast.Path {
	path := make(ast.Path, len(st.path))
	for i, s := range st.path {
		if s.isIndex {
			path[i] = ast.PathIndex(s.index)
		} else {
			path[i] = ast.PathName(s.name)
		}
	}
	return path
}

func (st *renderState) mismatch(reason string) {
	path := st.astPath()
	e := &ShapeError{EventID: st.ev.ID.String(), Path: dataPath(path), Reason: reason}
	st.errs = append(st.errs, st.present(context.Background(), &gqlerror.Error{Err: e, Message: e.Error(), Path: path}))
}

// dataPath writes the path within data: data.lines[2].qty.
func dataPath(p ast.Path) string {
	var b strings.Builder
	started := false
	for _, el := range p {
		switch el := el.(type) {
		case ast.PathName:
			if string(el) == "data" && !started {
				started = true
				b.Reset()
				b.WriteString("data")
				continue
			}
			b.WriteString("." + string(el))
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(el))
		}
	}
	return b.String()
}

// Render appends the root field's data for ev ({"<alias>":...}), and the
// errors of fields whose stored values do not fit (EVENT_SHAPE_MISMATCH),
// presented.
func (p *Program) Render(buf []byte, ev *eventstore.Event, live bool) ([]byte, gqlerror.List) {
	st := &renderState{ev: ev, live: live && p.live, path: append(make([]step, 0, 16), step{name: p.alias}), member: p.opts.Member, present: p.opts.Present}
	n0 := len(buf)
	st.limit(n0, p.opts.MaxBytes)
	buf = append(buf, p.root...)
	buf, ok := st.envelope(buf, p.vt, ev)
	if !ok {
		// The root field is non-null: data is null (the spec's propagation).
		return append(buf[:n0], "null"...), st.errs
	}
	return append(buf, '}'), st.errs
}

// envelope renders an event's envelope (TEvent) for vt.
func (st *renderState) envelope(buf []byte, vt *vtype, ev *eventstore.Event) ([]byte, bool) {
	start := len(buf)
	buf = append(buf, '{')
	for i, f := range vt.obj.fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendQuoted(buf, f.alias)
		buf = append(buf, ':')
		switch f.kind {
		case kTypename:
			buf = AppendQuoted(buf, vt.obj.typename)
		case kID, kCursor:
			buf = appendID(buf, ev.ID)
		case kTopic:
			buf = AppendQuoted(buf, ev.Topic)
		case kType:
			buf = AppendQuoted(buf, ev.Type)
		case kTime:
			buf = append(buf, '"')
			buf = ev.Time().AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, '"')
		case kLive:
			buf = strconv.AppendBool(buf, st.live)
		case kContent:
			buf = AppendQuoted(buf, Content(ev.Data))
		case kData:
			st.path = append(st.path, step{name: f.alias})
			var ok bool
			buf, ok = st.data(buf, f.vt, ev)
			st.path = st.path[:len(st.path)-1]
			if !ok {
				return buf[:start], false // data is non-null: the envelope is null
			}
		}
	}
	return append(buf, '}'), true
}

// data renders the event's data: an object, or a union's member, or (the
// generic Event's) the stored JSON as it is, as gqlgen's JSON scalar
// writes it.
func (st *renderState) data(buf []byte, vt *vtype, ev *eventstore.Event) ([]byte, bool) {
	if vt.leaf == leafJSON && vt.elem == nil && len(ev.Data) > 0 {
		return append(buf, ev.Data...), true
	}
	if vt.union == nil {
		return st.value(buf, vt, ev.Data)
	}
	member := st.member(ev)
	obj := vt.union[member]
	if obj == nil {
		st.mismatch(fmt.Sprintf("type %q on topic %s is no member of %s", ev.Type, ev.Topic, vt.name))
		return buf, false
	}
	return st.value(buf, &vtype{nonNull: vt.nonNull, name: member, obj: obj}, ev.Data)
}

// value renders raw (nil: absent) as vt, with null propagation: a value
// that cannot be rendered is an error where it is and a null at the
// nearest nullable position; false when that is above vt.
func (st *renderState) value(buf []byte, vt *vtype, raw []byte) ([]byte, bool) {
	start := len(buf)
	if st.stop > 0 && start > st.stop {
		if !st.tooLarge {
			st.tooLarge = true
			e := fmt.Errorf("%w: stored event %s renders more than %d bytes for this selection", ErrResponseTooLarge, st.ev.ID, st.max)
			st.errs = append(st.errs, st.present(context.Background(), &gqlerror.Error{Err: e, Message: e.Error(), Path: st.astPath(),
				Extensions: map[string]any{"eventId": st.ev.ID.String()}}))
		}
		return buf, false
	}
	buf, ok := st.inner(buf, vt, raw)
	if ok {
		return buf, true
	}
	if vt.nonNull {
		return buf[:start], false
	}
	return append(buf[:start], "null"...), true
}

func (st *renderState) inner(buf []byte, vt *vtype, raw []byte) ([]byte, bool) {
	raw = trimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		if vt.nonNull {
			if len(raw) == 0 {
				st.mismatch("missing, and " + typeString(vt) + " is non-null")
			} else {
				st.mismatch("null, and " + typeString(vt) + " is non-null")
			}
			return buf, false
		}
		return append(buf, "null"...), true
	}
	switch {
	case vt.elem != nil:
		return st.list(buf, vt, raw)
	case vt.obj != nil:
		return st.object(buf, vt.obj, raw)
	}
	out, reason := appendLeaf(buf, vt, raw)
	if reason != "" {
		st.mismatch(reason)
		return buf, false
	}
	return out, true
}

// list renders a list; a stored single value is a list of one, as input
// coercion accepts it.
func (st *renderState) list(buf []byte, vt *vtype, raw []byte) ([]byte, bool) {
	buf = append(buf, '[')
	item := func(i int, el []byte) bool {
		if i > 0 {
			buf = append(buf, ',')
		}
		st.path = append(st.path, step{index: i, isIndex: true})
		var ok bool
		buf, ok = st.value(buf, vt.elem, el)
		st.path = st.path[:len(st.path)-1]
		return ok
	}
	if raw[0] != '[' {
		if !item(0, raw) {
			return buf, false
		}
		return append(buf, ']'), true
	}
	els := newElements(raw)
	i := 0
	for el, more := els.next(); more; el, more = els.next() {
		if !item(i, el) {
			return buf, false
		}
		i++
	}
	if els.err != nil {
		st.mismatch("unreadable list: " + els.err.Error())
		return buf, false
	}
	return append(buf, ']'), true
}

// object renders a stored object's selected fields, in selection order.
func (st *renderState) object(buf []byte, s *sel, raw []byte) ([]byte, bool) {
	if raw[0] != '{' {
		st.mismatch("expected an object of type " + s.typename + ", found " + jsonKind(raw))
		return buf, false
	}
	var stack [16][]byte
	vals := stack[:0]
	if len(s.fields) > len(stack) {
		vals = make([][]byte, len(s.fields))
	} else {
		vals = stack[:len(s.fields)]
	}
	m := newMembers(raw)
	for key, val, ok := m.next(); ok; key, val, ok = m.next() {
		for i := range s.fields {
			if s.fields[i].kind == kStored && keyIs(key, s.fields[i].name) {
				vals[i] = val // the last of duplicate keys, as encoding/json
			}
		}
	}
	if m.err != nil {
		st.mismatch("unreadable object: " + m.err.Error())
		return buf, false
	}
	buf = append(buf, '{')
	for i, f := range s.fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendQuoted(buf, f.alias)
		buf = append(buf, ':')
		if f.kind == kTypename {
			buf = AppendQuoted(buf, s.typename)
			continue
		}
		st.path = append(st.path, step{name: f.alias})
		var ok bool
		buf, ok = st.value(buf, f.vt, vals[i])
		st.path = st.path[:len(st.path)-1]
		if !ok {
			return buf, false
		}
	}
	return append(buf, '}'), true
}

// appendLeaf appends raw as the leaf type vt, as gqlgen's marshalers
// write it, or says why raw is not one.
func appendLeaf(buf []byte, vt *vtype, raw []byte) ([]byte, string) {
	expected := func() string { return "expected " + vt.name + ", found " + jsonKind(raw) }
	switch vt.leaf {
	case leafJSON:
		return append(buf, raw...), ""
	case leafBoolean:
		if string(raw) == "true" || string(raw) == "false" {
			return append(buf, raw...), ""
		}
		return buf, expected()
	case leafInt:
		// GraphQL's Int is 32 bits, as input coercion (and eventschema's
		// check) has it.
		n, ok := jsonInt(raw)
		if !ok || n < math.MinInt32 || n > math.MaxInt32 {
			return buf, expected()
		}
		return strconv.AppendInt(buf, n, 10), ""
	case leafFloat:
		if !isNumber(raw) {
			return buf, expected()
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) {
			return buf, expected()
		}
		return strconv.AppendFloat(buf, f, 'g', -1, 64), "" // fmt's %g, as graphql.MarshalFloat
	case leafID:
		if n, ok := jsonInt(raw); ok && raw[0] != '"' {
			return strconv.AppendQuote(buf, strconv.FormatInt(n, 10)), ""
		}
		fallthrough
	case leafString, leafEnum, leafTime:
		if raw[0] != '"' {
			return buf, expected()
		}
		plain := isPlain(raw)
		if plain && vt.leaf != leafTime {
			if vt.leaf == leafEnum && !vt.enum[string(raw[1:len(raw)-1])] {
				return buf, fmt.Sprintf("%s is no value of %s", raw, vt.name)
			}
			return append(buf, raw...), "" // nothing to escape: as appendQuoted would write it
		}
		if vt.leaf == leafString || vt.leaf == leafID {
			if out, ok := appendRequoted(buf, raw); ok {
				return out, ""
			}
			return buf, expected()
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return buf, expected()
		}
		switch vt.leaf {
		case leafEnum:
			if !vt.enum[s] {
				return buf, fmt.Sprintf("%q is no value of %s", s, vt.name)
			}
		case leafTime:
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return buf, "expected Time (RFC 3339), found " + strconv.Quote(s)
			}
			return strconv.AppendQuote(buf, t.Format(time.RFC3339Nano)), "" // as graphql.MarshalTime
		}
		return AppendQuoted(buf, s), ""
	}
	return buf, "cannot be served"
}

func typeString(vt *vtype) string {
	s := vt.name
	if vt.elem != nil {
		s = "[" + typeString(vt.elem) + "]"
	}
	if vt.nonNull {
		s += "!"
	}
	return s
}

func appendID(buf []byte, id ulid.ULID) []byte {
	buf = append(buf, '"')
	n := len(buf)
	buf = append(buf, make([]byte, ulid.EncodedSize)...)
	_ = id.MarshalTextTo(buf[n:]) // cannot fail: the size is right
	return append(buf, '"')
}

// RenderPage renders a page of evs for a connection field (Query.t). end is the page's endCursor when it is
// not the last edge's (a filtered page whose scan ran out); zero: the last
// edge's, or null on an empty page.
func (p *Program) RenderPage(buf []byte, evs []*eventstore.Event, hasNext bool, end ulid.ULID) ([]byte, gqlerror.List) {
	st := &renderState{path: []step{{name: p.alias}}, member: p.opts.Member, present: p.opts.Present}
	n0 := len(buf)
	st.limit(n0, p.opts.MaxBytes)
	buf = append(buf, p.root...)
	conn := p.vt.obj
	buf = append(buf, '{')
	for i, f := range conn.fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendQuoted(buf, f.alias)
		buf = append(buf, ':')
		switch f.kind {
		case kTypename:
			buf = AppendQuoted(buf, conn.typename)
		case kPageInfo:
			buf = appendPageInfo(buf, f.vt.obj, evs, hasNext, end)
		case kEdges:
			st.path = append(st.path, step{name: f.alias})
			var ok bool
			buf, ok = st.edges(buf, f.vt.elem.obj, evs)
			st.path = st.path[:len(st.path)-1]
			if !ok {
				return append(buf[:n0], "null"...), st.errs
			}
		}
	}
	return append(buf, '}', '}'), st.errs
}

// edges renders a page's edges; a node that cannot be rendered nulls the
// list, which is non-null, and so the page.
func (st *renderState) edges(buf []byte, edge *sel, evs []*eventstore.Event) ([]byte, bool) {
	buf = append(buf, '[')
	for i, ev := range evs {
		if i > 0 {
			buf = append(buf, ',')
		}
		st.ev = ev
		st.path = append(st.path, step{index: i, isIndex: true})
		buf = append(buf, '{')
		for j, f := range edge.fields {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = AppendQuoted(buf, f.alias)
			buf = append(buf, ':')
			switch f.kind {
			case kTypename:
				buf = AppendQuoted(buf, edge.typename)
			case kCursor:
				buf = appendID(buf, ev.ID)
			case kNode:
				st.path = append(st.path, step{name: f.alias})
				var ok bool
				buf, ok = st.envelope(buf, f.vt, ev)
				st.path = st.path[:len(st.path)-1]
				if !ok {
					return buf, false
				}
			}
		}
		buf = append(buf, '}')
		st.path = st.path[:len(st.path)-1]
	}
	return append(buf, ']'), true
}

func appendPageInfo(buf []byte, s *sel, evs []*eventstore.Event, hasNext bool, end ulid.ULID) []byte {
	buf = append(buf, '{')
	for i, f := range s.fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendQuoted(buf, f.alias)
		buf = append(buf, ':')
		switch {
		case f.kind == kTypename:
			buf = AppendQuoted(buf, s.typename)
		case f.kind == kHasNext:
			buf = strconv.AppendBool(buf, hasNext)
		case end != ulid.ULID{}:
			buf = appendID(buf, end)
		case len(evs) == 0:
			buf = append(buf, "null"...)
		default:
			buf = appendID(buf, evs[len(evs)-1].ID)
		}
	}
	return append(buf, '}')
}
