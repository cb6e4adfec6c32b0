package graph

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport"
)

// streamNatively serves a subscription natively when its delivery offers
// it (transport.StreamSink, as the WebSocket transport does): the hub puts
// events into a feed, and the transport, when woken, writes each as
// rendered once per selection, with no goroutine per subscription and no
// gqlgen execution per event. It reports false when the subscription must
// go through gqlgen's channel instead (a delivery without a stream sink,
// or a selection the renderer cannot write exactly).
func (r *Resolver) streamNatively(ctx context.Context, d transport.Delivery, req replay.Request) (bool, error) {
	sink, ok := d.(transport.StreamSink)
	if !ok {
		return false, nil
	}
	render, err := r.renderers.newRenderer(ctx)
	if err != nil {
		return false, nil
	}
	st := &eventStream{render: render, delivered: metrics.Deliveries(ctx)}
	feed, err := r.hub.Attach(ctx, req, sink.Wake,
		replay.OnEnd(func(err error) { r.reportSubscriptionError(ctx, err) }),
		st.live.Option())
	if err != nil {
		return true, err
	}
	st.feed = feed
	sink.Attach(st)
	return true, nil
}

// eventStream is a natively served subscription (a transport.Stream): its
// feed and renderer. The transport calls Drain one call at a time.
type eventStream struct {
	feed      *replay.Feed
	render    *renderer
	live      replay.LiveMark
	delivered prometheus.Counter // nil without metrics

	evs []*eventstore.Event // reused between drains
	buf []byte
}

func (s *eventStream) Drain(emit func(data []byte)) bool {
	evs, done, _ := s.feed.Take(s.evs[:0])
	for _, ev := range evs {
		s.buf = s.render.AppendData(s.buf[:0], ev, s.live.Live(ev.Seq))
		emit(s.buf)
	}
	if s.delivered != nil && len(evs) > 0 {
		s.delivered.Add(float64(len(evs)))
	}
	clear(evs)
	s.evs = evs[:0]
	return done
}
