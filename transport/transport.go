// Package transport is what a subscription resolver may ask of the
// transport that delivers it. The GraphQL side owns this contract and each
// transport (transport/gqlws, transport/sse, or one of your own) implements
// it, so that resolvers depend on no transport in particular.
//
// A transport puts one Delivery in the context of each operation it runs
// (With); a resolver takes it out (From) and asks it, by interface
// assertion, for the optional capabilities below. A resolver that finds
// none serves its subscription through gqlgen's channel as usual, which
// every transport supports.
//
// This package is public API and stable: it imports only gqlparser, and
// new capabilities come as new optional interfaces, never as methods added
// to Delivery.
package transport

import (
	"context"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Delivery is what every transport offers the operation it runs.
type Delivery interface {
	// ReportError makes the subscription end with err once its results
	// have all been sent (its channel closed, or its Stream done),
	// instead of completing. Resolvers call it just before they close the
	// channel they returned. How err reaches the client is the
	// transport's: an error message on WebSocket, a last next event
	// without complete on SSE (so that the client resumes).
	ReportError(err *gqlerror.Error)
}

// StreamSink is a Delivery that lets a subscription resolver produce its
// results itself, bypassing gqlgen's execution of each one: the resolver
// renders each result's data, and the transport writes whatever is
// waiting when it is woken. A subscription served this way holds no
// goroutine while it waits, and a burst of results goes out in one write.
// Transports offer it for subscriptions only.
type StreamSink interface {
	// Attach makes st the subscription's source of results. The resolver
	// then returns a channel gqlgen will never read; the transport takes
	// over once the resolver returns without error. Attach last, once
	// nothing can fail.
	Attach(st Stream)
	// Wake says that results, or the end, are waiting. It never blocks,
	// and may be called before Attach: a wake is never lost, and drains
	// run one at a time.
	Wake()
}

// Stream is a subscription whose results its resolver produces itself
// (see StreamSink).
type Stream interface {
	// Drain passes the data of every waiting result to emit, in order
	// (emit copies it), and reports whether the stream has ended. A stream
	// that failed reports it with ReportError before ending.
	Drain(emit func(data []byte)) (done bool)
}

// ResultSink is a StreamSink that also writes errors with a result's data:
// a result whose fields failed (GraphQL's field errors, delivered with
// the data they nulled) while the subscription goes on. A resolver with
// such results attaches a ResultStream here, and falls back to gqlgen's
// channel on a sink that is not a ResultSink.
type ResultSink interface {
	StreamSink
	// AttachResults is Attach for a stream whose results carry errors.
	AttachResults(st ResultStream)
}

// ResultStream is a Stream whose results may carry errors.
type ResultStream interface {
	Stream
	// DrainResults is Drain with each result's errors: a JSON list of
	// GraphQL errors, nil when it has none. emit copies both.
	DrainResults(emit func(data, errors []byte)) (done bool)
}

// Resumer is a Delivery that carries the client's own resume point: the
// id of the last result it received before it reconnected (SSE's
// Last-Event-ID). A resolver that finds one starts after it, whatever
// start point the operation asked for.
type Resumer interface {
	ResumeAfter() (id string, ok bool)
}

// EventIDSink is a Delivery that writes an id with each result (SSE's id
// field), which is what a reconnecting client hands back as its resume
// point (see Resumer).
type EventIDSink interface {
	// Delivering gives the id of the next value the subscription sends on
	// its channel. Call it just before each send, in order: the executor
	// takes exactly one value per result.
	Delivering(id string)
}

// Lifetime is a Delivery that offers the operation's own context: it ends
// when the operation does (the client stops it, the connection closes) and
// carries what the transport put in it, but none of the executor's
// per-operation state. A stream attached to a StreamSink that registers
// on it, rather than on the resolver's context, lets the executor's state
// go once the resolver has returned: what an idle subscription holds is
// then the stream alone.
type Lifetime interface {
	Lifetime() context.Context
}

// Ender is a Delivery that runs functions when its operation ends, for
// less memory than a context.AfterFunc each on its Lifetime: an idle
// subscription registers several (the hub's feed, its renderer's shape,
// a gauge), and holds what each registration costs for as long as it
// lives.
type Ender interface {
	// OnEnd runs f once the operation has ended, never while OnEnd runs
	// (in a goroutine of its own if it has ended already).
	OnEnd(f func())
}

type deliveryKey struct{}

// With returns ctx carrying d: a transport calls it for each operation
// it runs, before handing the operation to the executor.
func With(ctx context.Context, d Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

// From returns the Delivery of the operation being resolved in ctx. It
// reports false when the operation came through a transport that offers
// none (gqlgen's own, say); d is then nil, and asserting a capability of
// it fails, so a resolver may skip the check.
func From(ctx context.Context) (d Delivery, ok bool) {
	d, ok = ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}
