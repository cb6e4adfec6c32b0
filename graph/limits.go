package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
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
}

var (
	_ graphql.HandlerExtension        = (*limits)(nil)
	_ graphql.OperationContextMutator = (*limits)(nil)
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
		return limitError(CodeDepthLimit, "operation is %d levels deep, the limit is %d", m.depth, l.maxDepth)
	case m.reads > l.maxReads:
		return limitError(CodeComplexityLimit, "operation reads storage in %d fields, the limit is %d (it costs %d, the limit is %d)", m.reads, l.maxReads, m.cost, l.maxCost)
	case m.cost > l.maxCost:
		return limitError(CodeComplexityLimit, "operation costs %d, the limit is %d", m.cost, l.maxCost)
	}
	return nil
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
