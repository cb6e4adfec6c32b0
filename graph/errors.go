package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport"
)

// maxPage bounds one page of history.
const maxPage = 1000

// Error codes in extensions.code, beside gqlgen's own
// (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED).
const (
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodePayloadTooLarge = "PAYLOAD_TOO_LARGE"
	CodeCursorNotFound  = "CURSOR_NOT_FOUND"
	CodeCursorExpired   = "CURSOR_EXPIRED"
	CodeSlowConsumer    = "SLOW_CONSUMER"
	CodeUnavailable     = "UNAVAILABLE"
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeRateLimited     = "RATE_LIMITED"
	CodeInternal        = "INTERNAL_SERVER_ERROR"
	CodeKeyReused       = "IDEMPOTENCY_KEY_REUSED"
	// A stored event whose data does not fit its declared type now: a
	// field error; extensions.eventId names the event.
	CodeEventShapeMismatch = "EVENT_SHAPE_MISMATCH"
	// Refusals of an operation before it runs (see limits).
	CodeDepthLimit      = "DEPTH_LIMIT_EXCEEDED"
	CodeComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED"
	// A subscription sent as a plain POST or GET, which answer once (HTTP 400).
	CodeSubscriptionNeedsStream = "SUBSCRIPTION_NEEDS_STREAM"
	// A subscription whose filter would take its principal's distinct
	// live filters past --max-filter-cost (replay.ErrFilterBudget).
	CodeFilterBudget = "FILTER_BUDGET_EXCEEDED"
	// An idempotent retry whose original event was stored and has since
	// been removed by retention (eventstore.ErrSuperseded).
	CodeAlreadyStored = "ALREADY_STORED"
)

// errPanicked is what a client sees of a panic, logged with its stack
// where it was recovered (RecoverFunc).
var errPanicked = errors.New("internal error")

// errBadInput marks argument errors found by the resolvers themselves.
var errBadInput = errors.New("bad input")

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadInput}, args...)...)
}

func errIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// Code returns the extensions.code for err, or "" for an unexpected error.
func Code(err error) string {
	switch {
	case errors.Is(err, eventstore.ErrKeyReused):
		return CodeKeyReused
	case errors.Is(err, eventstore.ErrSuperseded):
		return CodeAlreadyStored
	case errors.Is(err, ErrShapeMismatch):
		return CodeEventShapeMismatch
	case errIs(err, errBadInput, eventschema.ErrInvalidData, eventstore.ErrInvalidTopic, eventstore.ErrInvalidEvent, eventstore.ErrInvalidID, eventstore.ErrInvalidStart, eventfilter.ErrInvalid):
		return CodeBadUserInput
	case errors.Is(err, eventstore.ErrPayloadTooLarge):
		return CodePayloadTooLarge
	case errors.Is(err, ErrResponseTooLarge):
		return CodeResponseTooLarge
	case errors.Is(err, eventstore.ErrCursorNotFound):
		return CodeCursorNotFound
	case errors.Is(err, eventstore.ErrCursorExpired):
		return CodeCursorExpired
	case errors.Is(err, replay.ErrSlowConsumer):
		return CodeSlowConsumer
	case errors.Is(err, replay.ErrFilterBudget):
		return CodeFilterBudget
	case errors.Is(err, eventstore.ErrUnavailable):
		return CodeUnavailable
	case errors.Is(err, auth.ErrUnauthenticated):
		return CodeUnauthenticated
	case errors.Is(err, auth.ErrForbidden):
		return CodeForbidden
	case errors.Is(err, ErrRateLimited):
		return CodeRateLimited
	case errors.Is(err, errPanicked):
		return CodeInternal
	}
	return ""
}

// ErrorPresenter is the one place where errors become GraphQL errors with
// extensions.code. Unexpected errors are logged and shown without detail.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if _, ok := gqlErr.Extensions["code"]; ok {
			return gqlErr // gqlgen's own parse and validation errors
		}
		code := Code(err)
		if code == "" && isArgumentError(ctx, gqlErr) {
			code = CodeBadUserInput
		}
		if code == "" {
			var ge *gqlerror.Error
			if errors.As(err, &ge) && ge.Err == nil {
				code = CodeBadUserInput // gqlgen's argument coercion errors
			} else {
				log.ErrorContext(ctx, "graphql: unexpected error", "err", err, "path", gqlErr.Path.String())
				code, gqlErr.Message = CodeInternal, "internal error"
			}
		}
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		gqlErr.Extensions["code"] = code
		if se, ok := errors.AsType[*ShapeError](err); ok {
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

// reportSubscriptionError queues err to be sent as the subscription's error
// when its results have all been sent. It reports false when no transport
// delivers the subscription.
func (r *Resolver) reportSubscriptionError(ctx context.Context, err error) bool {
	e := r.present(ctx, err)
	d, ok := transport.From(ctx)
	if ok {
		d.ReportError(e)
	}
	return ok
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
