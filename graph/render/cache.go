package render

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/eventstore"
)

// Cache interns compiled programs by shape (the field, its root alias and
// the ordered selection) so that subscribers asking for the same shape
// share the output of recent events: an event fanned out to a thousand
// subscribers of one query is rendered once.
//
// A shape is counted by the subscriptions using it and forgotten when the
// last one's context ends, so the cache holds only what running
// subscriptions use. The zero value is ready to use; one serves a process.
type Cache struct {
	mu     sync.Mutex
	shapes map[string]*shape // by shape.key; entries have refs > 0
}

// Renderer writes one subscriber's result for an event, byte for byte what
// gqlgen's executor writes, through its shape's cache. It is safe for
// concurrent use.
type Renderer struct{ shape *shape }

// shape is a compiled selection and the output of the events it rendered
// last, for every subscription with that selection.
//
// The cache is a ring of immutable entries, one slot per sequence modulo
// its size, published through atomic pointers: a lookup reads one slot
// without locking, a miss renders outside any lock and stores its entry
// in the event's slot. Each subscriber drains events in stream order, so a
// burst of up to renderRing events is rendered once whatever order the
// drains run in; past that, a subscriber that comes after the ring moved
// on renders again (with a ring of 8, a burst of 20 events to 1,000 typed
// subscribers rendered most events for each). Subscribers that miss on
// one event at the same instant (at most about one per CPU) each render
// it, which costs CPU, not correctness. An entry's bytes are never
// written after it is stored; AppendResult copies them. Entries match on
// the event's id as well as its sequence, so a recreated stream that
// reuses sequences cannot be served stale bytes.
type shape struct {
	key  string
	prog *Program
	refs atomic.Int32 // subscriptions using the shape; changed under Cache.mu

	stored atomic.Uint32 // renderings stored, each a miss
	ring   [renderRing]atomic.Pointer[rendered]
}

// renderRing is how many recent events a shape keeps: live fan-out hits
// the newest, and the others serve bursts and subscribers catching up a
// little behind.
const renderRing = 64

// maxShared is the largest result a shape keeps. A larger one is rendered
// for each subscriber: it bounds what a shape holds to renderRing times
// it (4 MiB), where results may reach --max-response-bytes.
const maxShared = 64 << 10

type rendered struct {
	seq  uint64
	id   ulid.ULID
	live bool
	out  []byte
	errs gqlerror.List // a typed event's field errors (EVENT_SHAPE_MISMATCH)
}

// Renderer returns the renderer of the interned shape equal to p's,
// interning p if there is none, held until ctx ends.
func (c *Cache) Renderer(ctx context.Context, p *Program) *Renderer {
	r, release := c.Hold(p)
	context.AfterFunc(ctx, release)
	return r
}

// Hold is Renderer held until release is called (once).
func (c *Cache) Hold(p *Program) (r *Renderer, release func()) {
	c.mu.Lock()
	s := c.shapes[p.key]
	if s == nil {
		if c.shapes == nil {
			c.shapes = make(map[string]*shape)
		}
		s = &shape{key: p.key, prog: p}
		c.shapes[s.key] = s
	}
	s.refs.Add(1)
	c.mu.Unlock()
	return &Renderer{shape: s}, func() { c.release(s) }
}

// release drops one subscription's hold on s and forgets s with the last.
// A renderer kept past its subscription still works, on its own.
func (c *Cache) release(s *shape) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.refs.Add(-1) == 0 && c.shapes[s.key] == s {
		delete(c.shapes, s.key)
	}
}

// Shapes returns how many shapes the cache holds.
func (c *Cache) Shapes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.shapes)
}

// Program returns the compiled selection r renders.
func (r *Renderer) Program() *Program { return r.shape.prog }

// AppendResult appends the result for ev to buf, with its errors: a typed
// event's fields whose stored values do not fit (shared by every
// subscriber, never to be modified). live is the value of the live field
// for this subscriber.
func (r *Renderer) AppendResult(buf []byte, ev *eventstore.Event, live bool) ([]byte, gqlerror.List) {
	s := r.shape
	live = live && s.prog.live
	if s.refs.Load() < 2 {
		// Nobody to share with: skip the copy the cache would cost.
		return s.prog.Render(buf, ev, live)
	}
	if e := s.cached(ev, live); e != nil {
		return append(buf, e.out...), e.errs
	}
	n := len(buf)
	buf, errs := s.prog.Render(buf, ev, live)
	if len(buf)-n <= maxShared && s.cached(ev, live) == nil { // another subscriber may have stored it meanwhile
		e := &rendered{seq: ev.Seq, id: ev.ID, live: live, out: bytes.Clone(buf[n:]), errs: slices.Clip(errs)}
		s.ring[ev.Seq%renderRing].Store(e)
		s.stored.Add(1)
	}
	return buf, slices.Clip(errs)
}

// cached returns the stored rendering of ev for live, or nil.
func (s *shape) cached(ev *eventstore.Event, live bool) *rendered {
	if e := s.ring[ev.Seq%renderRing].Load(); e != nil && e.seq == ev.Seq && e.id == ev.ID && e.live == live {
		return e
	}
	return nil
}
