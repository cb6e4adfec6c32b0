package gqlws

import (
	"context"
	"sync"
	"time"

	"github.com/rewind-dev/rewind/transport"
)

// slot is where a subscription resolver attaches its transport.Stream: the
// transport.StreamSink this transport offers each subscription.
type slot struct {
	workers *workers // runs the drains
	mu      sync.Mutex
	stream  transport.Stream
	drain   func()    // set once the transport drives the stream
	pending bool      // woken before the transport drove it, or while draining
	running bool      // a drain is under way
	ends    [3]func() // run when the operation ends (transport.Ender)
	nends   int8      // how many ends holds; -1: they have run
}

// onEnd runs f when life, the operation's context, ends: one
// context.AfterFunc for the first few (a subscription registers three:
// its feed, its renderer's shape and a gauge), one of its own for more.
func (s *slot) onEnd(life context.Context, f func()) {
	s.mu.Lock()
	n := s.nends
	switch {
	case n < 0:
		s.mu.Unlock()
		go f() // ended already
		return
	case int(n) == len(s.ends):
		s.mu.Unlock()
		context.AfterFunc(life, f)
		return
	}
	s.ends[n] = f
	s.nends++
	s.mu.Unlock()
	if n == 0 {
		context.AfterFunc(life, s.end)
	}
}

// end runs the end functions, in the order they came.
func (s *slot) end() {
	s.mu.Lock()
	ends := s.ends
	s.ends, s.nends = [3]func(){}, -1
	s.mu.Unlock()
	for _, f := range ends {
		if f != nil {
			f()
		}
	}
}

// Attach makes st the subscription's source of results. The resolver then
// returns a channel gqlgen will never read; the transport takes over once
// the resolver returns without error.
func (s *slot) Attach(st transport.Stream) {
	s.mu.Lock()
	s.stream = st
	s.mu.Unlock()
}

func (s *slot) attached() transport.Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream
}

// Wake says that results or the end are waiting. It never blocks: it
// starts a drain unless one is running, which then goes round again.
func (s *slot) Wake() {
	s.mu.Lock()
	if s.drain == nil || s.running {
		s.pending = true
		s.mu.Unlock()
		return
	}
	s.running = true
	drain := s.drain
	s.mu.Unlock()
	s.workers.run(drain)
}

// drive starts the transport's side: drain runs on each wake, one at a
// time, and at once if the stream was woken before.
func (s *slot) drive(drain func()) {
	s.mu.Lock()
	s.drain = drain
	start := s.pending && !s.running
	if start {
		s.running = true
	}
	s.mu.Unlock()
	if start {
		s.workers.run(drain)
	}
}

// again reports whether a wake came during the drain that is ending; if
// not, the drain is over and the next wake starts a new one.
func (s *slot) again() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending {
		s.pending = false
		return true
	}
	s.running = false
	return false
}

// serveNative writes the results of a natively served subscription each
// time its slot is woken, until the stream ends; finish then releases the
// operation. opCtx ends when the client or the connection stops it.
//
// Drains run on the transport's workers (see workers), so each recovers
// what panics in it. A panic in the stream's Drain (rendering a result)
// ends this subscription with an INTERNAL_SERVER_ERROR error, and the
// connection goes on: the results before it went out whole. A panic
// anywhere else in a drain (the transport's own bookkeeping) leaves the
// connection's state past vouching for: the socket closes 1011. Either
// way the slot stays marked running, so no later wake starts a drain.
func (c *conn) serveNative(opCtx context.Context, id string, sl *slot, st transport.Stream, sink *errorSink, out events, finish func()) {
	drain := func() {
		defer func() {
			if v := recover(); v != nil {
				c.t.panicked("draining a stream", v, "id", id, "subprotocol", c.ws.Subprotocol())
				c.closeWith(CloseInternalError, "Internal server error")
				c.kill()
				finish()
			}
		}()
		for {
			sl.mu.Lock()
			sl.pending = false
			sl.mu.Unlock()
			done, ok, failed := c.drainOnce(opCtx, id, st, out)
			if failed {
				out.errors(opCtx, id, internalError())
				finish()
				return
			}
			if done || !ok {
				if ok {
					conclude(opCtx, id, sink, out)
				}
				finish()
				return
			}
			if !sl.again() {
				return
			}
		}
	}
	sl.drive(drain)
}

// corkSlice is how much a burst gathers before it is sent: enough to
// make system calls rare, small enough for one write timeout to hold.
const corkSlice = 64 << 10

// drainOnce writes every waiting result of st in one corked batch. It
// reports whether the stream ended, whether the socket took the batch,
// and whether st's Drain panicked (logged here; the results it emitted
// before went out whole). Whether the operation was stopped is read
// holding the write lock, as writeFor does, so that nothing goes out for
// it once stop has returned.
func (c *conn) drainOnce(opCtx context.Context, id string, st transport.Stream, out events) (done, ok, failed bool) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	stopped := opCtx.Err() != nil
	// One result's message, reused for each: from a pool, so that an
	// idle subscription holds no buffer the size of its largest result.
	frame := c.t.frames.Get().(*[]byte)
	defer c.t.putFrame(frame)
	c.cork.cork()
	var err error
	done, failed = c.drainGuarded(id, st, func(data, errors []byte) {
		if stopped || err != nil {
			return // stopped: the rest is dropped, the stream ends next
		}
		*frame = appendResultFrame((*frame)[:0], out.dataType(), id, data, errors)
		if err = c.writeFrame(*frame); err == nil {
			err = c.cork.flushOver(corkSlice, time.Now().Add(c.t.cfg.WriteTimeout))
		}
	})
	if uerr := c.cork.uncork(time.Now().Add(c.t.cfg.WriteTimeout)); err == nil {
		err = uerr
	}
	if err != nil {
		c.t.cfg.Logger.Debug("websocket write", "id", id, "err", err)
		c.kill() // ends the connection, and with it every operation
	}
	return done, err == nil, failed
}

// drainGuarded runs st's Drain (DrainResults for a transport.ResultStream),
// recovering a panic in it: the cork is then still uncorked by the
// caller, so the connection's writes go on.
func (c *conn) drainGuarded(id string, st transport.Stream, emit func(data, errors []byte)) (done, failed bool) {
	defer func() {
		if v := recover(); v != nil {
			c.t.panicked("in a stream's Drain", v, "id", id, "subprotocol", c.ws.Subprotocol())
			done, failed = true, true
		}
	}()
	if rs, ok := st.(transport.ResultStream); ok {
		return rs.DrainResults(emit), false
	}
	return st.Drain(func(data []byte) { emit(data, nil) }), false
}
