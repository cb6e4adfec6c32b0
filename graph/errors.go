package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/graph/render"
)

// maxPage bounds one page of history.
const maxPage = 1000

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{codes.ErrBadInput}, args...)...)
}

func errIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// ErrorPresenter is the one place where errors become GraphQL errors with
// extensions.code. Unexpected errors are logged and shown without detail.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if _, ok := gqlErr.Extensions["code"]; ok {
			return gqlErr // gqlgen's own parse and validation errors
		}
		code := codes.Of(err)
		if code == "" && isArgumentError(ctx, gqlErr) {
			code = codes.BadUserInput
		}
		if code == "" {
			var ge *gqlerror.Error
			if errors.As(err, &ge) && ge.Err == nil {
				code = codes.BadUserInput // gqlgen's argument coercion errors
			} else {
				log.ErrorContext(ctx, "graphql: unexpected error", "err", err, "path", gqlErr.Path.String())
				code, gqlErr.Message = codes.Internal, "internal error"
			}
		}
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		gqlErr.Extensions["code"] = code
		if se, ok := errors.AsType[*render.ShapeError](err); ok {
			gqlErr.Extensions["eventId"] = se.EventID // the client may resume after it
		}
		if stored := appendsFrom(ctx).storedSoFar(); stored != nil {
			// A mutation failed after earlier fields of its document were
			// stored: say which, so the client knows what to retry.
			gqlErr.Extensions["stored"] = stored
		}
		return gqlErr
	}
}

// isArgumentError reports whether gqlErr is about one of the current
// field's arguments: gqlgen puts the argument's name at the end of the path
// when a value cannot be coerced to its type.
func isArgumentError(ctx context.Context, gqlErr *gqlerror.Error) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || len(gqlErr.Path) == 0 {
		return false
	}
	name, ok := gqlErr.Path[len(gqlErr.Path)-1].(ast.PathName)
	return ok && fc.Field.Arguments.ForName(string(name)) != nil
}
