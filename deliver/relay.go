package deliver

import (
	"context"
	"errors"
	"time"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport"
)

// Relay serves req through a channel, which a gqlgen subscription resolver
// returns: for deliveries that take no stream (SSE, gqlgen's own
// transports) and for a library's fields of its own types. One goroutine
// takes the events from the subscription's feed and hands each, as conv
// makes it (ok false skips it; an error ends the subscription), to the
// channel, telling an id-writing delivery (transport.EventIDSink: SSE)
// each event's id first. The channel closes when ctx ends or the
// subscription does; an error it ends with is reported to the delivery
// once, after the values before it. A reader that takes nothing for the
// hub's StallTimeout is ended by the hub's rule (ErrSlowConsumer).
func Relay[T any](ctx context.Context, s Source, req replay.Request, conv func(ev *eventstore.Event, live bool) (v T, ok bool, err error)) (<-chan T, error) {
	mark := &replay.LiveMark{}
	wake := make(chan struct{}, 1)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	actx, cancel := context.WithCancel(ctx)
	feed, err := s.Hub.Attach(actx, req, notify, mark.Option())
	if err != nil {
		cancel()
		return nil, err
	}
	s.Marks.track(ctx, mark)
	end := s.ender(ctx)
	d, _ := transport.From(ctx)
	ids, _ := d.(transport.EventIDSink)
	out := make(chan T)
	go func() {
		defer close(out)
		defer cancel()
		var evs []*eventstore.Event
		for {
			select {
			case <-wake:
			case <-ctx.Done():
				return
			}
			var done bool
			var ferr error
			evs, done, ferr = feed.Take(evs[:0])
			for _, ev := range evs {
				v, ok, err := conv(ev, mark.Live(ev.Seq))
				if err != nil {
					end.fail(err)
					return
				}
				if !ok {
					continue
				}
				if ids != nil {
					ids.Delivering(ev.ID.String())
				}
				if err := hand(ctx, out, v, wake, feed, notify, s.Hub.StallTimeout()); err != nil {
					if errors.Is(err, replay.ErrSlowConsumer) {
						s.Hub.SlowConsumer()
					}
					end.fail(err)
					return
				}
			}
			clear(evs)
			evs = evs[:0]
			if done {
				end.fail(ferr)
				return
			}
		}
	}()
	return out, nil
}

// hand sends v on out, waiting at most patience for the reader: the hub's
// rule for slow readers (ErrSlowConsumer), which also ends the wait when
// the hub applies it to the feed first. Any other wake while it waits is
// passed on once v is sent. Only a wait, which is rare, costs a timer.
func hand[T any](ctx context.Context, out chan<- T, v T, wake <-chan struct{}, feed *replay.Feed, notify func(), patience time.Duration) error {
	select {
	case out <- v:
		return nil
	default:
	}
	stall := time.NewTimer(patience)
	defer stall.Stop()
	woken := false
	for {
		select {
		case out <- v:
			if woken {
				notify()
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-stall.C:
			return replay.ErrSlowConsumer
		case <-wake:
			if ended, err := feed.Ended(); ended && err != nil {
				return err
			}
			woken = true
		}
	}
}
