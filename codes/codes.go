// Package codes names the extensions.code of Rewind's GraphQL errors and
// finds the code of an error (Of): the errors of the event store, the
// replay hub, authorization and filters, and any error that names its own
// code (Coded). It imports only those packages, so that a library user
// (package durable) gets Rewind's codes without its GraphQL API.
//
// It is a public package: programs outside Rewind may import it.
package codes

import (
	"errors"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

// The codes in extensions.code, beside gqlgen's own (GRAPHQL_PARSE_FAILED,
// GRAPHQL_VALIDATION_FAILED).
const (
	BadUserInput    = "BAD_USER_INPUT"
	PayloadTooLarge = "PAYLOAD_TOO_LARGE"
	CursorNotFound  = "CURSOR_NOT_FOUND"
	CursorExpired   = "CURSOR_EXPIRED"
	SlowConsumer    = "SLOW_CONSUMER"
	Unavailable     = "UNAVAILABLE"
	Unauthenticated = "UNAUTHENTICATED"
	Forbidden       = "FORBIDDEN"
	RateLimited     = "RATE_LIMITED"
	Internal        = "INTERNAL_SERVER_ERROR"
	KeyReused       = "IDEMPOTENCY_KEY_REUSED"
	// A stored event whose data does not fit its declared type now: a
	// field error; extensions.eventId names the event.
	EventShapeMismatch = "EVENT_SHAPE_MISMATCH"
	// Refusals of an operation before it runs.
	DepthLimit      = "DEPTH_LIMIT_EXCEEDED"
	ComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED"
	DocumentLimit   = "DOCUMENT_LIMIT_EXCEEDED"
	// What an operation would render past --max-response-bytes.
	ResponseTooLarge = "RESPONSE_TOO_LARGE"
	// A subscription sent as a plain POST or GET, which answer once (HTTP 400).
	SubscriptionNeedsStream = "SUBSCRIPTION_NEEDS_STREAM"
	// A subscription whose filter would take its principal's distinct
	// live filters past --max-filter-cost (replay.ErrFilterBudget).
	FilterBudget = "FILTER_BUDGET_EXCEEDED"
	// An idempotent retry whose original event was stored and has since
	// been removed by retention (eventstore.ErrSuperseded).
	AlreadyStored = "ALREADY_STORED"
	// Introspection refused with --introspection=false.
	IntrospectionDisabled = "INTROSPECTION_DISABLED"
	// A batch of more events than one request may carry, or appends at
	// once over the principal's publish burst: split it.
	BatchTooLarge = "BATCH_TOO_LARGE"
)

// Coded is an error that names its code.
type Coded interface {
	error
	Code() string
}

// Error is a sentinel error with its code, for errors no other package
// owns: test for it with errors.Is, wrap it with fmt.Errorf's %w.
type Error struct{ code, msg string }

// New returns a sentinel error with code and message msg.
func New(code, msg string) *Error { return &Error{code: code, msg: msg} }

func (e *Error) Error() string { return e.msg }

// Code returns e's code.
func (e *Error) Code() string { return e.code }

// Errors no other package owns.
var (
	// ErrBadInput marks an argument refused by a resolver.
	ErrBadInput = New(BadUserInput, "bad input")
	// ErrRateLimited: a principal publishes faster than its allowed rate.
	ErrRateLimited = New(RateLimited, "rate limited")
	// ErrInternal is what a client sees of a panic, logged with its stack
	// where it was recovered.
	ErrInternal = New(Internal, "internal error")
)

// owned maps the errors of other packages to their codes, in the order
// Of tries them: an error may wrap several (a bad cursor that is also
// unavailable names the first).
var owned = []struct {
	err  error
	code string
}{
	{eventstore.ErrKeyReused, KeyReused},
	{eventstore.ErrSuperseded, AlreadyStored},
	{eventschema.ErrInvalidData, BadUserInput},
	{eventstore.ErrInvalidTopic, BadUserInput},
	{eventstore.ErrInvalidEvent, BadUserInput},
	{eventstore.ErrInvalidID, BadUserInput},
	{eventstore.ErrInvalidStart, BadUserInput},
	{eventfilter.ErrInvalid, BadUserInput},
	{eventstore.ErrPayloadTooLarge, PayloadTooLarge},
	{eventstore.ErrCursorNotFound, CursorNotFound},
	{eventstore.ErrCursorExpired, CursorExpired},
	{replay.ErrSlowConsumer, SlowConsumer},
	{replay.ErrFilterBudget, FilterBudget},
	{eventstore.ErrUnavailable, Unavailable},
	{auth.ErrUnauthenticated, Unauthenticated},
	{auth.ErrForbidden, Forbidden},
}

// Of returns the code of err: the code err (or an error it wraps) names
// itself, else that of the first of Rewind's errors it wraps; "" for an
// error that is none of Rewind's.
func Of(err error) string {
	if err == nil {
		return ""
	}
	if c, ok := errors.AsType[Coded](err); ok {
		return c.Code()
	}
	for _, o := range owned {
		if errors.Is(err, o.err) {
			return o.code
		}
	}
	return ""
}
