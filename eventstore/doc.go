// Package eventstore owns Rewind's events in NATS JetStream: it creates the
// stream, appends events under ULID ids (deduplicated by JetStream through
// Nats-Msg-Id), resolves an id to its stream sequence, and reads ranges and
// the live tail in stream order. It imports no other package of Rewind's.
package eventstore
