package deliver

import (
	"context"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport"
)

// Relay serves req through a channel, which a gqlgen subscription resolver
// returns: for deliveries that take no stream (SSE, gqlgen's own
// transports) and for a library's fields of its own types. The hub's one
// relay (replay.Relay: one goroutine) hands each event to the channel as
// conv makes it (ok false skips it; an error ends the subscription),
// telling an id-writing delivery (transport.EventIDSink: SSE) each
// event's id first. The channel closes when ctx ends or the subscription
// does; an error it ends with is reported to the delivery once, after the
// values before it. A reader that takes nothing for the hub's
// StallTimeout is ended by the hub's rule (ErrSlowConsumer).
func Relay[T any](ctx context.Context, s Source, req replay.Request, conv func(ev *eventstore.Event, live bool) (v T, ok bool, err error)) (<-chan T, error) {
	mark := &replay.LiveMark{}
	end := s.ender(ctx, ctx)
	rl := replay.Relay[T]{Convert: conv, End: end.fail, Mark: mark}
	d, _ := transport.From(ctx)
	if ids, ok := d.(transport.EventIDSink); ok {
		rl.Sending = func(ev *eventstore.Event) { ids.Delivering(ev.ID.String()) }
	}
	c, err := rl.Start(ctx, s.Hub, req)
	if err != nil {
		return nil, err
	}
	s.Marks.track(ctx, mark)
	return c, nil
}
