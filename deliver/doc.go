// Package deliver is the way out for every subscription field, Rewind's
// own, the typed ones, SSE's and a library's (package durable): it reads a
// subscription's start point (afterId, last, since, latest, and the
// transport's resume id), then serves it natively over a transport that
// writes results itself (Stream: no goroutine, rendered once per shape) or
// through the channel gqlgen reads (Relay: one goroutine), with one rule
// for its end: an error is reported once, after the results before it,
// and a reader too slow for the hub ends with SLOW_CONSUMER.
//
// It imports replay, eventstore, transport and gqlgen's error types,
// nothing else of Rewind's. It is a public package.
package deliver
