package deliver

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport"
)

// Renderer writes one event's result for one subscriber: the data
// ({"<alias>":...}) and its errors, nil when it has none (a typed field's
// stored value that no longer fits its type). live is the subscriber's
// value of the event's live field.
type Renderer interface {
	AppendResult(buf []byte, ev *eventstore.Event, live bool) ([]byte, gqlerror.List)
}

// Counter counts the results native streams deliver.
type Counter interface{ Add(float64) }

type counterKey struct{}

// WithCounter returns ctx whose native streams count their results in c
// (results gqlgen's executor writes are counted where it runs them).
func WithCounter(ctx context.Context, c Counter) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

// Stream serves req natively when ctx's delivery takes result streams
// (transport.ResultSink, as the WebSocket transport does): the hub puts
// events in the subscription's feed, and the transport, when woken,
// writes each as r renders it (shared by the subscribers of one shape),
// with no goroutine per subscription and no execution per event. keep,
// if set, skips the events it refuses. It reports false, having started
// nothing, when the delivery takes no stream: serve it with Relay then.
// Intern r on Lifetime(ctx), as the stream registers itself there.
func (s Source) Stream(ctx context.Context, req replay.Request, r Renderer, keep func(*eventstore.Event) bool) (bool, error) {
	d, _ := transport.From(ctx)
	sink, ok := d.(transport.ResultSink)
	if !ok {
		return false, nil
	}
	// What the stream holds is registered on the operation's own context,
	// not ctx: an idle subscription then keeps no executor state alive.
	life := Lifetime(ctx)
	st := &stream{render: r, keep: keep, end: s.ender(ctx, life)}
	st.delivered, _ = ctx.Value(counterKey{}).(Counter)
	opts := []replay.Option{st.live.Option()}
	if e, ok := d.(transport.Ender); ok {
		opts = append(opts, replay.EndWith(e.OnEnd))
	}
	feed, err := s.Hub.Attach(life, req, sink.Wake, opts...)
	if err != nil {
		return true, err
	}
	st.feed = feed
	sink.AttachResults(st)
	return true, nil
}

// stream is a natively served subscription (a transport.ResultStream):
// its feed and renderer. The transport calls its drains one at a time.
type stream struct {
	feed      *replay.Feed
	render    Renderer
	keep      func(*eventstore.Event) bool
	live      replay.LiveMark
	end       *ender
	delivered Counter // nil: not counted

	evs []*eventstore.Event // reused between drains
}

// buffers lend render buffers to drains: an idle stream holds none, as a
// buffer grows to the largest result rendered.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

var _ transport.ResultStream = (*stream)(nil)

func (s *stream) Drain(emit func(data []byte)) bool {
	return s.DrainResults(func(data, _ []byte) { emit(data) })
}

func (s *stream) DrainResults(emit func(data, errors []byte)) bool {
	evs, done, err := s.feed.Take(s.evs[:0])
	n := 0
	if len(evs) > 0 {
		buf := buffers.Get().(*[]byte)
		for _, ev := range evs {
			if s.keep != nil && !s.keep(ev) {
				continue
			}
			var errs gqlerror.List
			*buf, errs = s.render.AppendResult((*buf)[:0], ev, s.live.Live(ev.Seq))
			var errJSON []byte
			if len(errs) > 0 {
				errJSON, _ = json.Marshal(errs) // rare: events older than their type
			}
			emit(*buf, errJSON)
			n++
		}
		buffers.Put(buf)
	}
	if s.delivered != nil && n > 0 {
		s.delivered.Add(float64(n))
	}
	clear(evs)
	s.evs = evs[:0]
	if done {
		s.end.fail(err) // before the end, as the transport contract asks
	}
	return done
}
