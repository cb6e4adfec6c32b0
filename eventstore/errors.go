package eventstore

import "errors"

// Errors callers branch on with errors.Is. Every error returned by this
// package that is caused by the caller's input wraps one of the first six.
var (
	// ErrInvalidTopic: a topic name or pattern that is not dot-separated
	// tokens of letters, digits, '_' and '-' (patterns may use * and >).
	ErrInvalidTopic = errors.New("invalid topic")
	// ErrInvalidEvent: a type, payload or idempotency key that cannot be stored.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrPayloadTooLarge: data larger than Config.MaxPayload.
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrInvalidID: an id or cursor that is not a ULID.
	ErrInvalidID = errors.New("invalid id")
	// ErrInvalidStart: a start point that cannot be used: more than one
	// given (those errors also wrap ErrStartConflict), or a last outside
	// 1..MaxLast.
	ErrInvalidStart = errors.New("invalid start point")
	// ErrCursorNotFound: a well-formed id that is not in the stream.
	ErrCursorNotFound = errors.New("cursor not found")
	// ErrCursorExpired: an id older than the oldest retained event.
	ErrCursorExpired = errors.New("cursor expired")
	// ErrUnavailable: JetStream did not answer.
	ErrUnavailable = errors.New("event store unavailable")
	// ErrKeyReused: an idempotency key used again, within the
	// deduplication window, for a different event. Errors wrapping it also
	// wrap ErrInvalidEvent.
	ErrKeyReused = errors.New("idempotency key reused for a different event")
	// ErrSuperseded: an append with an idempotency key that JetStream
	// found stored within the deduplication window, whose event has since
	// been removed by retention (a newer event of its topic under
	// MaxMsgsPerSubject, say) and is no longer remembered by this store
	// (another process appended it, or this one restarted). The event was
	// stored once; it is not stored again. A store that remembers it
	// returns it instead.
	ErrSuperseded = errors.New("already stored, since removed by retention")
	// ErrStartConflict: more than one start point given, which each front
	// words in its own names for them. Errors wrapping it also wrap
	// ErrInvalidStart.
	ErrStartConflict = errors.New("more than one start point")
	// ErrInvalidConfig: a configuration that cannot work; retrying will
	// not help.
	ErrInvalidConfig = errors.New("invalid event store configuration")
)
