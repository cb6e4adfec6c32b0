package gqlws

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/transport"
)

// startResult says whether start began an operation, and if not, why.
type startResult int

const (
	started startResult = iota
	duplicate
	tooMany
)

// start runs operation id in its own goroutine, writing through out. With
// replace, a running operation with the same id is stopped first.
func (c *conn) start(ctx context.Context, id string, payload json.RawMessage, replace bool, out events) startResult {
	c.mu.Lock()
	i := c.opIndexLocked(id)
	replaced := i >= 0
	if replaced {
		if !replace {
			c.mu.Unlock()
			return duplicate
		}
		c.ops[i].cancel() // the legacy protocol restarts an operation whose id is reused
		c.removeOpLocked(i)
	}
	if len(c.ops) >= c.t.cfg.MaxSubscriptions {
		c.mu.Unlock()
		c.quiesce(replaced)
		return tooMany
	}
	opCtx, cancel := context.WithCancel(ctx)
	op := &operation{c: c, id: id, cancel: cancel}
	c.ops = append(c.ops, op)
	c.wg.Add(1)
	ended := c.ctx.Err() != nil // cancelOps has been, or will find op
	c.mu.Unlock()
	if ended {
		cancel()
	}
	c.quiesce(replaced) // nothing of the replaced operation after the new one's messages

	opCtx = context.WithValue(opCtx, operationKey{}, op)
	go func() {
		// A panic anywhere in the operation (gqlgen creating its context,
		// a resolver, the executor) ends this operation only: the client
		// gets an error for it, and the connection and the server go on.
		defer func() {
			if v := recover(); v != nil {
				c.t.panicked("running an operation", v, "id", id, "subprotocol", c.ws.Subprotocol())
				out.errors(opCtx, id, internalError())
				op.release()
			}
		}()
		if !c.execute(opCtx, id, payload, out, op.release) {
			op.release()
		}
	}()
	return started
}

// quiesce waits, when an operation was just cancelled, for a write of it
// under way to end: writes check their operation holding the write lock,
// so after quiesce nothing more of it is sent.
func (c *conn) quiesce(cancelled bool) {
	if cancelled {
		c.writeMu.Lock()
		c.writeMu.Unlock() //nolint:staticcheck // an empty critical section: a barrier
	}
}

// operation is one running operation's handle. Its context carries it
// (operationKey), for writeLast to forget it.
type operation struct {
	c        *conn
	id       string
	cancel   context.CancelFunc
	released atomic.Bool
}

// operationKey is the context key of an operation's handle.
type operationKey struct{}

// forget removes the operation from its connection's running operations,
// unless an operation that reused its id replaced it there.
func (op *operation) forget() {
	c := op.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := c.opIndexLocked(op.id); i >= 0 && c.ops[i] == op {
		c.removeOpLocked(i)
	}
}

// release ends the operation, once: it is forgotten, its context
// cancelled, and the connection stops waiting for it.
func (op *operation) release() {
	if op.released.CompareAndSwap(false, true) {
		op.forget()
		op.cancel()
		op.c.wg.Done()
	}
}

// opIndexLocked is the index of operation id in c.ops, or -1. c.mu is
// held. A connection runs few operations (MaxSubscriptions at most): a
// slice costs less than a map for the usual one or two.
func (c *conn) opIndexLocked(id string) int {
	for i, op := range c.ops {
		if op.id == id {
			return i
		}
	}
	return -1
}

// removeOpLocked removes c.ops[i]; c.mu is held.
func (c *conn) removeOpLocked(i int) {
	last := len(c.ops) - 1
	c.ops[i], c.ops[last] = c.ops[last], nil
	c.ops = c.ops[:last]
}

// cancelOps ends every running operation's context, once the
// connection's has ended (see acknowledge).
func (c *conn) cancelOps() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range c.ops {
		op.cancel()
	}
}

// stop cancels operation id; it reports whether it was running. Once it
// returns, nothing more is sent for id: the client's complete (or stop)
// may come while the operation is still starting (its resolver resolving
// a cursor, say), and by the protocol the server then stays silent about
// it.
func (c *conn) stop(id string) bool {
	c.mu.Lock()
	var op *operation
	if i := c.opIndexLocked(id); i >= 0 {
		op = c.ops[i]
		c.removeOpLocked(i)
	}
	c.mu.Unlock()
	if op != nil {
		op.cancel()
	}
	c.quiesce(op != nil)
	return op != nil
}

// events is how an operation's outcome is written in one subprotocol.
// Each message is sent only while opCtx, the operation's context, is live
// (see writeFor); pass context.Background() for a message outside any
// operation. errors and complete are an operation's last message, and
// free its id (see writeLast).
type events interface {
	dataType() string // the type of a message carrying a result
	next(opCtx context.Context, id string, r *graphql.Response) bool
	errors(opCtx context.Context, id string, errs gqlerror.List) bool
	complete(opCtx context.Context, id string) bool
}

// execute runs one operation through gqlgen's executor, its context
// carrying the operation's transport.Delivery. A subscription whose
// resolver attaches a transport.Stream is handed over to serveNative, which
// calls release when it ends; execute then reports true.
func (c *conn) execute(ctx context.Context, id string, payload json.RawMessage, out events, release func()) bool {
	// Cancellation reaches the contexts derived below after this one: ask
	// this one whether the operation was stopped, or a subscription ended
	// by the stop could be taken for one that completed.
	opCtx := ctx
	var params graphql.RawParams
	start := graphql.Now()
	// Numbers stay json.Number, as gqlgen's HTTP transports decode them,
	// so that Int variables are not floats.
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil || params.Query == "" {
		out.errors(opCtx, id, gqlerror.List{{Message: "subscribe payload must be an object with a query", Extensions: map[string]any{"code": "BAD_USER_INPUT"}}})
		return false
	}
	params.Headers = c.headers
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	ctx = graphql.StartOperationTrace(ctx)
	rc, errs := c.exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		out.errors(opCtx, id, resp.Errors)
		return false
	}
	sink := &errorSink{}
	var d transport.Delivery = sink
	var sl *slot
	if rc.Operation != nil && rc.Operation.Operation == "subscription" {
		sl = &slot{workers: c.t.drains}
		d = subscription{sink, sl, opCtx}
	}
	ctx = transport.With(graphql.WithOperationContext(ctx, rc), d)
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	if sl != nil {
		// The resolver attaches its stream last, once nothing can fail.
		if st := sl.attached(); st != nil {
			c.serveNative(opCtx, id, sl, st, sink, out, release)
			return true
		}
	}
	first := true
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		// A subscription whose resolver failed before its first event is
		// an operation that failed: an error message, not data.
		if first && resp.Data == nil && len(resp.Errors) > 0 && rc.Operation != nil && rc.Operation.Operation == "subscription" {
			out.errors(opCtx, id, resp.Errors)
			return false
		}
		first = false
		if !out.next(opCtx, id, resp) {
			return false
		}
	}
	conclude(opCtx, id, sink, out)
	return false
}

// conclude tells the client how an operation whose results have all been
// sent ended: with the errors its resolver reported, or complete; nothing
// if the client or the connection stopped it (opCtx ended).
func conclude(opCtx context.Context, id string, sink *errorSink, out events) {
	if errs := sink.take(); len(errs) > 0 {
		out.errors(opCtx, id, errs)
		return
	}
	out.complete(opCtx, id)
}

// errorSink collects errors a resolver reports for its operation: the
// transport.Delivery of every operation this transport runs.
type errorSink struct {
	mu   sync.Mutex
	errs gqlerror.List
}

// ReportError makes the subscription end with an error message carrying
// err instead of complete, once its results have all been sent.
func (s *errorSink) ReportError(err *gqlerror.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *errorSink) take() gqlerror.List {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs
}

// subscription is the Delivery of a subscription: its errors, the slot a
// native stream attaches to (transport.StreamSink), and the operation's
// own context (transport.Lifetime), which holds none of the executor's.
type subscription struct {
	errs *errorSink
	slot *slot
	life context.Context
}

var (
	_ transport.Delivery   = (*errorSink)(nil)
	_ transport.Delivery   = subscription{}
	_ transport.StreamSink = subscription{}
	_ transport.ResultSink = subscription{}
	_ transport.Lifetime   = subscription{}
	_ transport.Ender      = subscription{}
)

func (s subscription) Lifetime() context.Context { return s.life }
func (s subscription) OnEnd(f func())            { s.slot.onEnd(s.life, f) }

func (s subscription) ReportError(err *gqlerror.Error) { s.errs.ReportError(err) }
func (s subscription) Attach(st transport.Stream)      { s.slot.Attach(st) }

// AttachResults attaches a stream whose results may carry errors: the
// drain asks it for them (see drainGuarded).
func (s subscription) AttachResults(st transport.ResultStream) { s.slot.Attach(st) }
func (s subscription) Wake()                                   { s.slot.Wake() }
