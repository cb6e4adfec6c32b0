// Package sse is a gqlgen transport for GraphQL over Server-Sent Events:
// the graphql-sse protocol's distinct-connections mode, one operation per
// request (POST with a JSON body, or GET with query parameters as browsers'
// EventSource sends). Every message of a subscription that delivers a
// stored event carries the event's id in the SSE id field, and a request
// with a Last-Event-ID header resumes after that id, so EventSource
// reconnects and resumes without client code. A panic while serving a
// request ends that request as a failed operation (INTERNAL_SERVER_ERROR),
// never the process; open streams count against the server's connection
// limits (connlimit).
//
// It is public API and works with any gqlgen ExecutableSchema: in place of
// gqlgen's own transport.SSE, add
//
//	srv.AddTransport(sse.New(sse.Config{}))
//
// to a handler.Server before its POST and GET transports. It needs gqlgen
// and gqlparser and nothing else of Rewind's but transport (each
// operation's context carries a transport.Delivery that is also a
// transport.Resumer, for Last-Event-ID, and a transport.EventIDSink, for
// the id field) and transport/connlimit.
//
// Stable: Config's fields and their defaults, New and Transport's
// methods, CodeInternal, and the events it writes (graphql-sse's
// distinct-connections mode). New Config fields keep today's behaviour at
// their zero value.
package sse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/transport"
	"github.com/rewind-dev/rewind/transport/connlimit"
)

// Config configures the transport. Zero values take the defaults.
type Config struct {
	// KeepAlive is the interval of comment lines that keep idle streams
	// open through proxies. Default 15s.
	KeepAlive time.Duration
	// WriteTimeout ends the stream of a client that stops reading.
	// Default 10s.
	WriteTimeout time.Duration
	// Retry is the reconnection delay suggested to EventSource clients
	// (the SSE retry field). Default 1s.
	Retry time.Duration
	// Connections counts open streams against the server's connection
	// limits, shared with the WebSocket transport (503 or 429 before the
	// stream opens). Every request this transport serves counts while it
	// is open: each holds a connection for as long as it streams. Default:
	// a limiter of its own with connlimit's defaults.
	Connections *connlimit.Limiter
	// Logger receives stream-level errors at debug level and recovered
	// panics at error level.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.KeepAlive <= 0 {
		c.KeepAlive = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Retry <= 0 {
		c.Retry = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Connections == nil {
		c.Connections = connlimit.New(connlimit.Config{})
	}
	return c
}

// Transport serves requests that accept text/event-stream.
type Transport struct{ cfg Config }

var _ graphql.Transport = (*Transport)(nil)

// New returns a transport for cfg.
func New(cfg Config) *Transport { return &Transport{cfg: cfg.withDefaults()} }

// Supports reports whether r asks for an event stream.
func (t *Transport) Supports(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return false
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
			return true
		}
	}
	return false
}

// Do serves one operation as an event stream.
//
// A panic while serving it (gqlgen creating the operation's context, a
// resolver, the executor) is logged with its stack and ends this request
// only, the way an execution error does: a next event with an
// INTERNAL_SERVER_ERROR error, then complete; a JSON error with status
// 500 if the stream had not opened yet.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	release, err := t.cfg.Connections.Acquire(connlimit.Addr(r))
	if err != nil {
		connlimit.Refuse(w, err)
		return
	}
	defer release()
	s := &stream{w: w, rc: http.NewResponseController(w), cfg: t.cfg}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response on purpose
			}
			t.panicked("serving a request", v)
			s.fail()
		}
	}()
	t.serve(r, exec, s)
}

// serve is Do's work, under its recovery.
func (t *Transport) serve(r *http.Request, exec graphql.GraphExecutor, s *stream) {
	start := graphql.Now()
	params, err := readParams(r)
	if err != nil {
		writeJSONError(s.w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	ctx := r.Context()
	op := &operation{}
	if id := strings.TrimSpace(r.Header.Get("Last-Event-ID")); id != "" {
		op.lastEventID = id
	}
	ctx = transport.With(ctx, op)
	ctx = graphql.StartOperationTrace(ctx)
	rc, opErrs := t.createOperation(ctx, exec, params)
	if opErrs == nil && r.Method == http.MethodGet && rc.Operation != nil && rc.Operation.Operation == ast.Mutation {
		// GET must not change anything (GraphQL over HTTP).
		s.w.Header().Set("Allow", http.MethodPost)
		writeJSONError(s.w, http.StatusMethodNotAllowed, codeBadRequest, "mutations need POST")
		return
	}

	if !s.open(t.cfg.Retry) {
		return
	}

	if opErrs != nil {
		// Validation fails inside an accepted stream, as the protocol
		// says, so that EventSource users can read why.
		resp := &graphql.Response{Errors: opErrs}
		if rc != nil {
			resp = exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErrs)
		}
		if s.next("", resp) {
			s.complete()
		}
		return
	}

	ctx = graphql.WithOperationContext(ctx, rc)
	responses, ctx := exec.DispatchOperation(ctx, rc)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// One goroutine pulls responses, so that this one can write keep-alive
	// comments while a subscription is idle. It encodes each response
	// before pulling the next: the executor reuses a response's buffers.
	// A panic while it pulls ends the operation as a failed one; panicked
	// is read once frames is closed.
	frames := make(chan []byte)
	pulled := make(chan struct{})
	panicked := false
	go func() {
		defer close(pulled)
		defer close(frames)
		defer func() {
			if v := recover(); v != nil {
				t.panicked("pulling a response", v)
				panicked = true
			}
		}()
		for {
			resp := responses(ctx)
			if resp == nil {
				return
			}
			frame, err := nextFrame(op.popID(), resp)
			if err != nil {
				t.cfg.Logger.Error("sse: encode response", "err", err)
				return
			}
			select {
			case frames <- frame:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-pulled
	}()

	keepAlive := time.NewTicker(t.cfg.KeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case frame, ok := <-frames:
			if !ok && panicked {
				s.fail()
				return
			}
			if !ok {
				// The request's own context, not the one derived from it:
				// cancellation reaches it first, so a subscription that
				// ended because the server is shutting down is never taken
				// for one that completed.
				s.end(r.Context(), op)
				return
			}
			if !s.write(frame) {
				return
			}
			keepAlive.Reset(t.cfg.KeepAlive)
		case <-keepAlive.C:
			if !s.write([]byte(": keep-alive\n\n")) {
				return
			}
		case <-ctx.Done():
			return // the client left, or the server is shutting down
		}
	}
}

// createOperation is exec.CreateOperationContext, with a panic in it
// (gqlparser on a hostile document, say) logged and turned into an
// internal error; rc is nil then.
func (t *Transport) createOperation(ctx context.Context, exec graphql.GraphExecutor, params *graphql.RawParams) (rc *graphql.OperationContext, errs gqlerror.List) {
	defer func() {
		if v := recover(); v != nil {
			t.panicked("creating an operation", v)
			rc, errs = nil, internalError()
		}
	}()
	return exec.CreateOperationContext(ctx, params)
}

// CodeInternal is the extensions.code of the error a request ends with
// when the server panicked serving it.
const CodeInternal = "INTERNAL_SERVER_ERROR"

const codeBadRequest = "BAD_REQUEST"

// internalError is what a client is told of a panic: nothing of the
// panic's value, which may hold anything.
func internalError() gqlerror.List {
	return gqlerror.List{{Message: "internal server error", Extensions: map[string]any{"code": CodeInternal}}}
}

// panicked logs a recovered panic, once, with the stack of the goroutine
// that panicked: call it from the deferred function that recovered.
func (t *Transport) panicked(where string, v any) {
	t.cfg.Logger.Error("sse: panic "+where, "panic", v, "stack", string(debug.Stack()))
}

// stream writes one response's events.
type stream struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	cfg    Config
	opened bool // the status and headers are written
}

// open writes the event stream's status and headers, and the retry
// delay EventSource should wait before reconnecting.
func (s *stream) open(retry time.Duration) bool {
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	s.w.WriteHeader(http.StatusOK)
	s.opened = true
	return s.write(fmt.Appendf(nil, "retry: %d\n\n", retry.Milliseconds()))
}

// fail ends a request whose serving panicked, as an operation that failed
// to execute: a next event with an internal error and complete, or a JSON
// error with status 500 before the stream opened.
func (s *stream) fail() {
	if !s.opened {
		writeJSONError(s.w, http.StatusInternalServerError, CodeInternal, "internal server error")
		return
	}
	if s.next("", &graphql.Response{Errors: internalError()}) {
		s.complete()
	}
}

// write sends b at once; a client that cannot take it within the write
// timeout ends the stream.
func (s *stream) write(b []byte) bool {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := s.w.Write(b); err != nil {
		s.cfg.Logger.Debug("sse write", "err", err)
		return false
	}
	if err := s.rc.Flush(); err != nil {
		s.cfg.Logger.Debug("sse flush", "err", err)
		return false
	}
	return true
}

// next sends a next event, with id in the SSE id field when not empty.
func (s *stream) next(id string, resp *graphql.Response) bool {
	frame, err := nextFrame(id, resp)
	if err != nil {
		s.cfg.Logger.Error("sse: encode response", "err", err)
		return false
	}
	return s.write(frame)
}

func nextFrame(id string, resp *graphql.Response) ([]byte, error) {
	data, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("event: next\n")
	if id != "" && !strings.ContainsAny(id, "\r\n\x00") {
		b.WriteString("id: " + id + "\n")
	}
	b.WriteString("data: ")
	b.Write(data) // JSON text has no raw newlines
	b.WriteString("\n\n")
	return b.Bytes(), nil
}

// complete says the operation is over. The empty data field makes
// EventSource fire the event.
func (s *stream) complete() bool { return s.write([]byte("event: complete\ndata:\n\n")) }

// end closes the stream once the operation has produced its last result.
// A subscription that failed (the hub cut a slow consumer, storage became
// unavailable) sends its error and ends without complete: clients take
// that as a dropped connection and resume with Last-Event-ID.
func (s *stream) end(ctx context.Context, op *operation) {
	if ctx.Err() != nil {
		return
	}
	if errs := op.takeErrors(); len(errs) > 0 {
		s.next("", &graphql.Response{Errors: errs})
		return
	}
	s.complete()
}

// operation is what resolvers and the transport share about one request:
// its transport.Delivery, with a resume point (transport.Resumer) and an
// id for each event (transport.EventIDSink).
type operation struct {
	lastEventID string

	mu   sync.Mutex
	ids  []string // ids of events handed to the executor, oldest first
	errs gqlerror.List
}

func (op *operation) popID() string {
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.ids) == 0 {
		return ""
	}
	id := op.ids[0]
	op.ids = op.ids[1:]
	return id
}

func (op *operation) takeErrors() gqlerror.List {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.errs
}

var (
	_ transport.Delivery    = (*operation)(nil)
	_ transport.Resumer     = (*operation)(nil)
	_ transport.EventIDSink = (*operation)(nil)
)

// ResumeAfter returns the id in the request's Last-Event-ID header: the
// last event the client received, after which it resumes.
func (op *operation) ResumeAfter() (string, bool) {
	return op.lastEventID, op.lastEventID != ""
}

// Delivering gives the id of the next value a subscription sends on its
// channel, so that the message carrying it gets that SSE id.
func (op *operation) Delivering(id string) {
	op.mu.Lock()
	op.ids = append(op.ids, id)
	op.mu.Unlock()
}

// ReportError makes a subscription end with a next event carrying err, and
// no complete, once its channel closes, so that the client resumes.
func (op *operation) ReportError(err *gqlerror.Error) {
	op.mu.Lock()
	op.errs = append(op.errs, err)
	op.mu.Unlock()
}

var errBadRequest = errors.New("bad request")

// readParams reads the operation from a POST's JSON body or a GET's query
// string.
func readParams(r *http.Request) (*graphql.RawParams, error) {
	p := &graphql.RawParams{}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		p.Query = q.Get("query")
		p.OperationName = q.Get("operationName")
		for name, into := range map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
			if v := q.Get(name); v != "" {
				if err := decode(strings.NewReader(v), into); err != nil {
					return nil, fmt.Errorf("%w: %s is not a JSON object: %w", errBadRequest, name, err)
				}
			}
		}
	} else {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				return nil, fmt.Errorf("%w: Content-Type %q: send application/json", errBadRequest, ct)
			}
		}
		if err := decode(r.Body, p); err != nil {
			return nil, fmt.Errorf("%w: the body is not a JSON request: %w", errBadRequest, err)
		}
	}
	if p.Query == "" && p.Extensions["persistedQuery"] == nil {
		return nil, fmt.Errorf("%w: no query", errBadRequest)
	}
	return p, nil
}

func decode(r interface{ Read([]byte) (int, error) }, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(v)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message": msg, "extensions": map[string]string{"code": code},
	}}})
}
