package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/eventstore"
)

// errNotRenderable: a subscription whose selection a renderer cannot write
// byte for byte as gqlgen would; its caller serves it through gqlgen.
var errNotRenderable = errors.New("selection not renderable")

// renderers compiles the selections of events and realTimeMessages
// subscriptions into renderers, and interns them by shape (the type, the
// root alias and the ordered list of alias and field) so that subscribers
// asking for the same shape share the output of recent events: an event
// fanned out to a thousand subscribers of one query is rendered once.
//
// A shape is counted by the subscriptions using it and forgotten when the
// last one's context ends, so the registry holds only what running
// subscriptions use. The zero value is ready to use; its owner (the
// Resolver) holds one for the process.
type renderers struct {
	mu     sync.Mutex
	shapes map[string]*shape // by shape.key; entries have refs > 0
}

// renderer writes a subscription's data for one event, byte for byte what
// gqlgen's executor writes: {"<alias>":{...selected fields...}}. It is safe
// for concurrent use.
type renderer struct{ shape *shape }

// shape is a compiled selection and the output of the events it rendered
// last, for every subscription with that selection.
//
// The cache is a ring of immutable entries published through atomic
// pointers: readers scan it without locking, a miss renders outside any
// lock and takes the next slot unless the event was stored meanwhile.
// Subscribers that miss on one event at the same instant (at most about
// one per CPU) each render it, and rarely both store it, which costs a
// slot, not correctness. An entry's bytes are never written after it is
// stored; AppendData copies them. Entries match on the event's id as well
// as its sequence, so a recreated stream that reuses sequences cannot be
// served stale bytes.
type shape struct {
	key   string
	prog  program
	typed *typedProgram // a typed field's selection, rendered instead of prog
	refs  atomic.Int32  // subscriptions using the shape; changed under renderers.mu

	stored atomic.Uint32 // renders stored in ring; the next slot is stored % len(ring)
	ring   [renderRing]atomic.Pointer[rendered]
}

// renderRing is how many recent events a shape keeps. Live fan-out hits
// the newest; the others serve subscribers catching up a little behind.
const renderRing = 8

type rendered struct {
	seq  uint64
	id   ulid.ULID
	live bool
	out  []byte
	errs gqlerror.List // a typed event's field errors (EVENT_SHAPE_MISMATCH)
}

// newRenderer compiles the selection of the subscription field being
// resolved in ctx (its field context, and the operation's variables and
// fragments, through graphql.CollectFields as the executor does) for the
// field's type: Event (the events subscription) or Message
// (realTimeMessages). It fails with errNotRenderable for a selection it
// cannot render exactly (@defer in effect, another field, a changed
// schema); the caller then uses gqlgen's path. The renderer holds its
// shape until ctx ends.
func (rs *renderers) newRenderer(ctx context.Context) (*renderer, error) {
	p, err := compile(ctx)
	if err != nil {
		return nil, err
	}
	return rs.intern(ctx, &shape{key: p.key, prog: p}), nil
}

// newTypedRenderer interns the shape of a typed subscription's program.
// Typed keys start with the field (Subscription.orderPlaced), base keys
// with a type name, so the two never meet.
func (rs *renderers) newTypedRenderer(ctx context.Context, p *typedProgram) *renderer {
	return rs.intern(ctx, &shape{key: p.key, typed: p})
}

// intern returns the renderer of the registered shape equal to fresh,
// registering fresh if there is none, held until ctx ends.
func (rs *renderers) intern(ctx context.Context, fresh *shape) *renderer {
	rs.mu.Lock()
	s := rs.shapes[fresh.key]
	if s == nil {
		if rs.shapes == nil {
			rs.shapes = make(map[string]*shape)
		}
		s = fresh
		rs.shapes[s.key] = s
	}
	s.refs.Add(1)
	rs.mu.Unlock()
	context.AfterFunc(ctx, func() { rs.release(s) })
	return &renderer{shape: s}
}

// release drops one subscription's hold on s and forgets s with the last.
// A renderer kept past its subscription still works, on its own.
func (rs *renderers) release(s *shape) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if s.refs.Add(-1) == 0 && rs.shapes[s.key] == s {
		delete(rs.shapes, s.key)
	}
}

// AppendData appends the data for ev to buf. live is the value of the
// Event live field for this subscriber (see isLive); Message ignores it.
//
// ev.Data is never nil for an event from the store (it holds valid JSON);
// if it were and data is selected, gqlgen nulls the whole event and adds
// an error, and AppendData writes that null without the error.
func (r *renderer) AppendData(buf []byte, ev *eventstore.Event, live bool) []byte {
	buf, _ = r.AppendResult(buf, ev, live)
	return buf
}

// AppendResult is AppendData with the errors of the result: a typed
// event's fields whose stored values do not fit (shared by every
// subscriber, never to be modified).
func (r *renderer) AppendResult(buf []byte, ev *eventstore.Event, live bool) ([]byte, gqlerror.List) {
	s := r.shape
	live = live && s.dependsOnLive()
	if s.refs.Load() < 2 {
		// Nobody to share with: skip the copy the cache would cost.
		return s.render(buf, ev, live)
	}
	if e := s.cached(ev, live); e != nil {
		return append(buf, e.out...), e.errs
	}
	n := len(buf)
	buf, errs := s.render(buf, ev, live)
	if s.cached(ev, live) == nil { // another subscriber may have stored it meanwhile
		e := &rendered{seq: ev.Seq, id: ev.ID, live: live, out: bytes.Clone(buf[n:]), errs: slices.Clip(errs)}
		s.ring[(s.stored.Add(1)-1)%renderRing].Store(e)
	}
	return buf, slices.Clip(errs)
}

func (s *shape) dependsOnLive() bool {
	if s.typed != nil {
		return s.typed.live
	}
	return s.prog.live
}

func (s *shape) render(buf []byte, ev *eventstore.Event, live bool) ([]byte, gqlerror.List) {
	if s.typed != nil {
		return s.typed.renderEvent(buf, ev, live)
	}
	return s.prog.render(buf, ev, live), nil
}

// cached returns the stored rendering of ev for live, or nil.
func (s *shape) cached(ev *eventstore.Event, live bool) *rendered {
	for i := range s.ring {
		if e := s.ring[i].Load(); e != nil && e.seq == ev.Seq && e.id == ev.ID && e.live == live {
			return e
		}
	}
	return nil
}

// field is one selectable field of Event or Message.
type field uint8

const (
	fieldTypename field = iota
	fieldID
	fieldTopic
	fieldType
	fieldData
	fieldTime    // Event.time and Message.timestamp
	fieldLive    // Event.live
	fieldContent // Message.content
)

// fieldOf returns the field of typename (Event or Message) called name.
func fieldOf(typename, name string) (field, bool) {
	switch name {
	case "__typename":
		return fieldTypename, true
	case "id":
		return fieldID, true
	}
	if typename == "Message" {
		switch name {
		case "content":
			return fieldContent, true
		case "timestamp":
			return fieldTime, true
		}
		return 0, false
	}
	switch name {
	case "topic":
		return fieldTopic, true
	case "type":
		return fieldType, true
	case "data":
		return fieldData, true
	case "time":
		return fieldTime, true
	case "live":
		return fieldLive, true
	}
	return 0, false
}

// program is a compiled selection: the output is lits[0], value of
// fields[0], lits[1], ..., lits[len(fields)], where the literals hold the
// punctuation and the quoted aliases.
type program struct {
	key      string // the shape: equal keys render equal bytes
	typename string
	lits     [][]byte
	fields   []field
	null     []byte // {"<alias>":null}, the output when the object is invalid
	data     bool   // selects data, which is invalid when nil
	live     bool   // selects live, so the output depends on it
	content  bool   // selects content, which needs toMessage
	wantTime bool   // selects time or timestamp
}

// compile builds the program for the subscription field resolved in ctx.
func compile(ctx context.Context) (p program, err error) {
	if !graphql.HasOperationContext(ctx) {
		return p, fmt.Errorf("%w: no operation in context", errNotRenderable)
	}
	op := graphql.GetOperationContext(ctx)
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || fc.Object != "Subscription" {
		return p, fmt.Errorf("%w: not resolving a subscription field", errNotRenderable)
	}
	switch fc.Field.Name {
	case "events":
		p.typename = "Event"
	case "realTimeMessages":
		p.typename = "Message"
	default:
		return p, fmt.Errorf("%w: subscription %s", errNotRenderable, fc.Field.Name)
	}
	// render writes what gqlgen writes for a non-null object: a schema
	// where the field returns something else needs render changed too.
	if def := fc.Field.Definition; def == nil || def.Type.String() != p.typename+"!" {
		return p, fmt.Errorf("%w: %s is not of type %s!", errNotRenderable, fc.Field.Name, p.typename)
	}
	defer func() {
		// CollectFields panics on what validation should have refused; the
		// executor would report it, so leave the operation to it.
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: collect fields: %v", errNotRenderable, v)
		}
	}()
	collected := graphql.CollectFields(op, fc.Field.Selections, []string{p.typename})

	var key strings.Builder
	key.WriteString(p.typename)
	lit := []byte{'{'}
	lit = appendQuoted(lit, fc.Field.Alias)
	lit = append(lit, ':')
	p.null = append(bytes.Clone(lit), "null}"...)
	lit = append(lit, '{')
	written := map[string]bool{}
	for _, f := range collected {
		if f.IsDeferred() {
			return p, fmt.Errorf("%w: @defer on %s", errNotRenderable, f.Alias)
		}
		kind, ok := fieldOf(p.typename, f.Name)
		if !ok {
			return p, fmt.Errorf("%w: field %s of %s", errNotRenderable, f.Name, p.typename)
		}
		if written[f.Alias] {
			// gqlgen's field set writes an alias once. Validation
			// (OverlappingFieldsCanBeMerged) leaves no such pair unless an
			// executor relaxes its rules.
			continue
		}
		written[f.Alias] = true
		if len(p.fields) > 0 {
			lit = append(lit, ',')
		}
		lit = appendQuoted(lit, f.Alias)
		lit = append(lit, ':')
		p.lits = append(p.lits, lit)
		p.fields = append(p.fields, kind)
		lit = nil
		p.data = p.data || kind == fieldData
		p.live = p.live || kind == fieldLive
		p.content = p.content || kind == fieldContent
		p.wantTime = p.wantTime || kind == fieldTime
	}
	p.lits = append(p.lits, append(lit, '}', '}'))
	for i, l := range p.lits {
		key.WriteByte(0)
		key.Write(l)
		if i < len(p.fields) {
			key.WriteByte(byte(p.fields[i]))
		}
	}
	p.key = key.String()
	return p, nil
}

// render appends ev's output to buf, with what gqlgen's marshalers write
// for each field: graphql.MarshalID and MarshalString (appendQuoted),
// scalar.MarshalJSON (the stored bytes as they are, null when empty),
// graphql.MarshalTime (RFC 3339 with nanoseconds, quoted) and
// MarshalBoolean.
func (p *program) render(buf []byte, ev *eventstore.Event, live bool) []byte {
	if p.data && ev.Data == nil {
		return append(buf, p.null...)
	}
	var t time.Time
	if p.wantTime {
		t = ev.Time()
	}
	var content string
	if p.content {
		content = toMessage(ev).Content
	}
	for i, f := range p.fields {
		buf = append(buf, p.lits[i]...)
		switch f {
		case fieldTypename:
			buf = appendQuoted(buf, p.typename)
		case fieldID:
			buf = append(buf, '"')
			n := len(buf)
			buf = append(buf, make([]byte, ulid.EncodedSize)...)
			_ = ev.ID.MarshalTextTo(buf[n:]) // cannot fail: the size is right
			buf = append(buf, '"')
		case fieldTopic:
			buf = appendQuoted(buf, ev.Topic)
		case fieldType:
			buf = appendQuoted(buf, ev.Type)
		case fieldData:
			if len(ev.Data) == 0 {
				buf = append(buf, "null"...)
			} else {
				buf = append(buf, ev.Data...)
			}
		case fieldTime:
			// Only ASCII letters, digits and punctuation: strconv.Quote,
			// which MarshalTime uses, adds the quotes and nothing else.
			buf = append(buf, '"')
			buf = t.AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, '"')
		case fieldLive:
			if live {
				buf = append(buf, "true"...)
			} else {
				buf = append(buf, "false"...)
			}
		case fieldContent:
			buf = appendQuoted(buf, content)
		}
	}
	return append(buf, p.lits[len(p.fields)]...)
}

// appendQuoted appends s as gqlgen's writeQuotedString (behind
// graphql.MarshalString) writes it: quotes, backslashes and control
// characters escaped, \t \r \n by name and the others as \u00XX in upper
// case, every other byte (invalid UTF-8 too) as it is. The bytes it
// escapes are ASCII, which never occur inside a multi-byte UTF-8 sequence,
// so scanning bytes finds what gqlgen's scan over runes finds.
func appendQuoted(buf []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '\\' && c != '"' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '\t':
			buf = append(buf, `\t`...)
		case '\r':
			buf = append(buf, `\r`...)
		case '\n':
			buf = append(buf, `\n`...)
		case '\\':
			buf = append(buf, `\\`...)
		case '"':
			buf = append(buf, `\"`...)
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
