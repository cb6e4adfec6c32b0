package deliver

import (
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/transport"
)

type errorSink struct{ got []*gqlerror.Error }

func (s *errorSink) ReportError(err *gqlerror.Error) { s.got = append(s.got, err) }

// TestEndKeepsTheRootPath: a stream living on its delivery's context, not
// the resolver's, still reports its end's error once, at the root field's
// alias.
func TestEndKeepsTheRootPath(t *testing.T) {
	sink := &errorSink{}
	ctx := transport.With(context.Background(), sink)
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Subscription",
		Field: graphql.CollectedField{Field: &ast.Field{Alias: "mine", Name: "events"}}})
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := Source{}.ender(ctx, life)
	e.fail(errors.New("the end"))
	e.fail(errors.New("a second end"))
	if len(sink.got) != 1 {
		t.Fatalf("%d errors reported, want 1", len(sink.got))
	}
	if got := sink.got[0]; got.Message != "the end" || len(got.Path) != 1 || got.Path[0] != ast.PathName("mine") {
		t.Fatalf("reported %q at %v, want \"the end\" at [mine]", got.Message, got.Path)
	}
}
