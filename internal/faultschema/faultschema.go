// Package faultschema is a tiny gqlgen ExecutableSchema for transport
// tests: each of its fields fails in its own way (panics in gqlgen's
// complexity walk, in Exec, in the response handler, in a native stream's
// Drain) or blocks until the test lets it go, so that a transport's
// recovery and ordering rules can be tested without depending on a bug
// that a later fix removes.
package faultschema

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/transport"
)

// SDL is the schema. Query fields: ok answers {"ok":1}; costly panics
// while gqlgen computes complexity (inside CreateOperationContext, where
// gqlparser's panics surface); boom panics in Exec; later panics in the
// response handler, when the transport pulls the result. Subscription
// fields: blocked waits in its resolver until Release, then fails as a
// resolver whose context was cancelled; stream is served natively, by a
// transport.StreamSink such as gqlws's, emits {"stream":1} and
// {"stream":2} and then panics in Drain; idle, served natively too, emits
// {"idle":1} and then nothing, until the client stops it.
const SDL = `
type Query { ok: Int, costly: Int, boom: Int, later: Int }
type Subscription { blocked: Int, stream: Int, idle: Int }
`

// Schema is the executable schema, with hooks for blocked.
type Schema struct {
	graphql.ExecutableSchemaMock

	started  chan struct{} // a blocked resolver started
	release  chan struct{} // closed: blocked resolvers go on
	once     sync.Once
	returned chan struct{} // a blocked resolver returned
}

// New returns the schema.
func New() *Schema {
	s := &Schema{started: make(chan struct{}, 100), release: make(chan struct{}), returned: make(chan struct{}, 100)}
	schema := gqlparser.MustLoadSchema(&ast.Source{Name: "fault.graphqls", Input: SDL})
	s.SchemaFunc = func() *ast.Schema { return schema }
	s.ComplexityFunc = func(_ context.Context, _, field string, _ int, _ map[string]any) (int, bool) {
		if field == "costly" {
			panic("faultschema: costly panics while complexity is computed")
		}
		return 0, false
	}
	s.ExecFunc = s.exec
	return s
}

// Handler serves the schema through transports, with the complexity
// limit on (so that costly's Complexity runs).
func (s *Schema) Handler(transports ...graphql.Transport) *handler.Server {
	srv := handler.New(s)
	for _, t := range transports {
		srv.AddTransport(t)
	}
	srv.Use(extension.FixedComplexityLimit(1000))
	return srv
}

// Started receives one value each time blocked's resolver starts.
func (s *Schema) Started() <-chan struct{} { return s.started }

// Returned receives one value each time blocked's resolver returns its
// error to the executor.
func (s *Schema) Returned() <-chan struct{} { return s.returned }

// Release lets every blocked resolver, now and later, go on.
func (s *Schema) Release() { s.once.Do(func() { close(s.release) }) }

func (s *Schema) exec(ctx context.Context) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx).Operation
	field := op.SelectionSet[0].(*ast.Field).Name
	switch field {
	case "ok":
		return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"ok":1}`)})
	case "boom":
		panic("faultschema: boom panics in Exec")
	case "later":
		return func(context.Context) *graphql.Response {
			panic("faultschema: later panics in the response handler")
		}
	case "blocked":
		s.started <- struct{}{}
		<-s.release
		// What gqlgen does with a resolver's error: the executor turns it
		// into a one-shot response carrying it.
		err := errors.New("blocked: released")
		if ctx.Err() != nil {
			err = errors.New("blocked: " + context.Cause(ctx).Error())
		}
		graphql.AddError(ctx, err)
		s.returned <- struct{}{}
		return func(context.Context) *graphql.Response { return nil }
	case "stream", "idle":
		d, _ := transport.From(ctx)
		sink, ok := d.(transport.StreamSink)
		if !ok {
			graphql.AddError(ctx, errors.New(field+" is served by a transport.StreamSink only"))
			return func(context.Context) *graphql.Response { return nil }
		}
		if field == "stream" {
			sink.Attach(&panickyStream{})
		} else {
			// It ends with its context, as a stream must.
			sink.Attach(&idleStream{ctx: ctx})
			context.AfterFunc(ctx, sink.Wake)
		}
		sink.Wake()
		return func(context.Context) *graphql.Response { return nil }
	}
	panic("faultschema: no field " + field)
}

// panickyStream emits two results, then panics in the same drain.
type panickyStream struct{}

func (*panickyStream) Drain(emit func([]byte)) bool {
	emit([]byte(`{"stream":1}`))
	emit([]byte(`{"stream":2}`))
	panic("faultschema: stream panics in Drain")
}

// idleStream emits one result, then waits, like a subscription that has
// caught up and waits for events, until its context ends.
type idleStream struct {
	ctx  context.Context
	sent bool
}

func (s *idleStream) Drain(emit func([]byte)) bool {
	if !s.sent {
		s.sent = true
		emit([]byte(`{"idle":1}`))
	}
	return s.ctx.Err() != nil
}
