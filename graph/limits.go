package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/graph/render"
)

// limits refuses, before anything executes, operations that would make
// the server work out of proportion to the request: nested deeper than
// maxDepth, costing more than maxCost (see costs), or reading storage in
// more than maxReads fields. It also refuses argument literals that would
// make gqlgen's executor panic (see checkArguments), so it must run before
// any other extension that reads arguments.
type limits struct {
	es                          graphql.ExecutableSchema
	maxDepth, maxCost, maxReads int
	maxBytes, maxPayload        int
}

var (
	_ graphql.HandlerExtension        = (*limits)(nil)
	_ graphql.OperationContextMutator = (*limits)(nil)
	_ graphql.OperationInterceptor    = (*limits)(nil)
)

func (*limits) ExtensionName() string { return "RewindLimits" }
func (l *limits) Validate(es graphql.ExecutableSchema) error {
	l.es = es
	return nil
}

func (l *limits) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	m, _, err := measureOperation(ctx, l.es, rc.Operation, rc.Variables)
	if err != nil {
		return err
	}
	switch {
	case m.depth > l.maxDepth:
		return limitError(codes.DepthLimit, "operation is %d levels deep, the limit is %d", m.depth, l.maxDepth)
	case m.reads > l.maxReads:
		return limitError(codes.ComplexityLimit, "operation reads storage in %d fields, the limit is %d (it costs %d, the limit is %d)", m.reads, l.maxReads, m.cost, l.maxCost)
	case m.cost > l.maxCost:
		return limitError(codes.ComplexityLimit, "operation costs %d, the limit is %d", m.cost, l.maxCost)
	}
	return l.checkBytes(rc)
}

// checkBytes refuses an operation with a root field that could render one
// event in more than maxBytes (see bytes.go).
func (l *limits) checkBytes(rc *graphql.OperationContext) (gerr *gqlerror.Error) {
	defer func() {
		// CollectFields panics on what validation should have refused:
		// the executor reports it.
		if recover() != nil {
			gerr = nil
		}
	}()
	for _, f := range graphql.CollectFields(rc, rc.Operation.SelectionSet, []string{render.RootType(rc.Operation.Operation)}) {
		if err := checkRender(rc, l.es.Schema(), f.Field, l.maxBytes, l.maxPayload); err != nil {
			return limitError(codes.ResponseTooLarge, "%s", strings.TrimPrefix(err.Error(), ErrResponseTooLarge.Error()+": "))
		}
	}
	return nil
}

// InterceptOperation gives the operation its budget of bytes (see
// bytes.go): a query or a mutation spends it on the events it reads; a
// subscription renders each event within it.
func (l *limits) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(render.WithBudget(ctx, l.maxBytes))
}

func limitError(code, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": code}}
}

// noIntrospection refuses __schema and __type with a clear code, where
// gqlgen alone would report an internal error.
type noIntrospection struct{}

var (
	_ graphql.HandlerExtension        = noIntrospection{}
	_ graphql.OperationContextMutator = noIntrospection{}
)

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }
func (noIntrospection) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	for _, f := range graphql.CollectFields(rc, rc.Operation.SelectionSet, nil) {
		if f.Name == "__schema" || f.Name == "__type" {
			return &gqlerror.Error{Message: "introspection is disabled on this server", Extensions: map[string]any{"code": "INTROSPECTION_DISABLED"}}
		}
	}
	return nil
}
