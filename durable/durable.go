// Package durable gives a gqlgen server of your own durable subscriptions:
// Subscribe asks Rewind's replay hub for the events after a client's
// cursor, then the live ones, with no gap and no duplicate at the seam, and
// decodes each stored event into your generated Go type; Publish stores
// one from a mutation. Cursor errors carry extensions.code once
// ErrorPresenter is installed, and a reader too slow for the hub ends with
// SLOW_CONSUMER, as on Rewind's own API.
//
// It is a public package: programs outside Rewind may import it.
package durable

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/deliver"
	"github.com/rewind-dev/rewind/eventfilter"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

// Source is where subscriptions come from: the store resolves cursors, the
// hub (running, see replay.Hub.Run) replays and follows.
type Source struct {
	Store *eventstore.Store
	Hub   *replay.Hub
	// ErrorPresenter turns the error a running subscription ends with
	// (SLOW_CONSUMER, UNAVAILABLE, a failed Decode) into the error message
	// the client receives. Default ErrorPresenter(nil); pass the one your
	// server uses.
	ErrorPresenter graphql.ErrorPresenterFunc
}

// Request says what a subscription receives and where it starts. The start
// fields take gqlgen's optional arguments as they are: at most one of
// AfterID, Last, Since and Latest may be set; none starts live.
type Request struct {
	// Topics are topic patterns (NATS wildcards * and >); at least one.
	Topics []string
	// Types keeps only events of these types; empty means all.
	Types []string
	// AfterID starts after the event with this id (the client's cursor:
	// the id of the last event it processed). 00000000000000000000000000
	// starts at the beginning of the stream.
	AfterID *string
	// Last starts with the last Last events Topics and Types select, 1 to
	// eventstore.MaxLast.
	Last *int
	// Since starts with the first event stored at or after Since.
	Since *time.Time
	// Latest, when true, starts with the newest stored event of each topic
	// Topics match (of those, the ones of Types), in stream order.
	Latest *bool
	// Where keeps only events whose data passes the filter (nil: all),
	// replayed and live alike: compile a where argument with
	// eventfilter.Compile (its errors are BAD_USER_INPUT).
	Where *eventfilter.Filter
}

// Event is one stored event as a subscription delivers it, with its data
// decoded into T.
type Event[T any] struct {
	ID    string // the cursor to resume after
	Topic string
	Type  string
	Time  time.Time
	// Live is false for events replayed from storage and true from the
	// first event that arrived live: it flips once, after the replay.
	Live bool
	Data T
}

// ErrStart: a request with more than one start point. ErrorPresenter shows
// it as BAD_USER_INPUT.
var ErrStart = eventstore.ErrStartConflict

// Option adjusts one Subscribe.
type Option[T any] func(*options[T])

type options[T any] struct {
	decode func(eventstore.Event) (T, error)
}

// Decode sets how a stored event becomes a T; by default its data is
// unmarshalled from JSON into a T. A union field (a Go interface) needs
// one that chooses the member by the event's type.
func Decode[T any](fn func(eventstore.Event) (T, error)) Option[T] {
	return func(o *options[T]) { o.decode = fn }
}

func decodeJSON[T any](ev eventstore.Event) (T, error) {
	var v T
	err := json.Unmarshal(ev.Data, &v)
	return v, err
}

// Subscribe starts a subscription owned by ctx (the resolver's: it ends
// when the client stops the operation or goes away) and returns the channel
// a gqlgen subscription resolver returns. Each event is decoded into T and
// handed to wrap, which makes the field's value (an envelope generated from
// your schema, say *model.OrderEvent from Event.ID, Live and Data). Events
// arrive in stream order, each exactly once; a resumed client passes the ID
// of the last one it processed as AfterID.
//
// It returns eventstore's ErrCursorNotFound, ErrCursorExpired or
// ErrInvalidID for a cursor that cannot be resumed after, and ErrStart for
// more than one start point. A subscription that fails later (its reader
// too slow for the hub: replay.ErrSlowConsumer; a Decode error) closes the
// channel and its error is sent to the client as the operation's error.
func Subscribe[T, Out any](ctx context.Context, src Source, req Request, wrap func(Event[T]) Out, opts ...Option[T]) (<-chan Out, error) {
	o := options[T]{decode: decodeJSON[T]}
	for _, opt := range opts {
		opt(&o)
	}
	present := src.ErrorPresenter
	if present == nil {
		present = ErrorPresenter(nil)
	}
	ds := deliver.Source{Store: src.Store, Hub: src.Hub, Present: present}
	hreq := replay.Request{Topics: req.Topics, Types: req.Types, Filter: req.Where}
	if p, err := auth.From(ctx); err == nil {
		hreq.Owner = p.Subject // its filter is charged to its principal
	}
	if err := ds.Request(ctx, &hreq, deliver.Start{AfterID: req.AfterID, Last: req.Last, Since: req.Since, Latest: req.Latest}); err != nil {
		return nil, err
	}
	return deliver.Relay(ctx, ds, hreq, func(ev *eventstore.Event, live bool) (Out, bool, error) {
		v, err := o.decode(*ev)
		if err != nil {
			var zero Out
			return zero, false, fmt.Errorf("decode event %s of type %q: %w", ev.ID, ev.Type, err)
		}
		return wrap(Event[T]{ID: ev.ID.String(), Topic: ev.Topic, Type: ev.Type, Time: ev.Time(), Live: live, Data: v}), true, nil
	})
}

// Publish stores v, encoded as JSON, as an event of type typ on topic and
// returns it as stored: its ID is what subscribers resume after. Pass
// eventstore.WithIdempotencyKey to make a retried mutation store nothing
// new.
func Publish(ctx context.Context, store *eventstore.Store, topic, typ string, v any, opts ...eventstore.AppendOption) (eventstore.Event, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return eventstore.Event{}, fmt.Errorf("publish %s on %s: %w", typ, topic, err)
	}
	return store.Append(ctx, eventstore.Event{Topic: topic, Type: typ, Data: data}, opts...)
}

// Code returns the extensions.code Rewind's API gives err (CURSOR_NOT_FOUND,
// CURSOR_EXPIRED, BAD_USER_INPUT, SLOW_CONSUMER, UNAVAILABLE, ...; see
// package codes), or "" for an error that is not Rewind's.
func Code(err error) string {
	return codes.Of(err)
}

// ErrorPresenter returns a gqlgen error presenter that adds extensions.code
// (see Code) to Rewind's errors and leaves every other error to next
// (nil: gqlgen's DefaultErrorPresenter). Install it with
// handler.Server.SetErrorPresenter.
func ErrorPresenter(next graphql.ErrorPresenterFunc) graphql.ErrorPresenterFunc {
	if next == nil {
		next = graphql.DefaultErrorPresenter
	}
	return func(ctx context.Context, err error) *gqlerror.Error {
		e := next(ctx, err)
		if _, ok := e.Extensions["code"]; ok {
			return e
		}
		if code := Code(err); code != "" {
			if e.Extensions == nil {
				e.Extensions = map[string]any{}
			}
			e.Extensions["code"] = code
		}
		return e
	}
}
