package graph

import (
	"context"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/transport"
)

// resumeFrom returns the cursor a subscription starts after: when its
// delivery carries the client's resume point (transport.Resumer: SSE's
// Last-Event-ID), that replaces afterId, which is how EventSource resumes
// with no code of the client's.
func resumeFrom(ctx context.Context, afterID *string) *string {
	d, _ := transport.From(ctx)
	if res, ok := d.(transport.Resumer); ok {
		if id, ok := res.ResumeAfter(); ok {
			return &id
		}
	}
	return afterID
}

// withEventIDs returns c itself, or, when d writes an id with each result
// (transport.EventIDSink: SSE's id field), a channel that relays c after
// telling d each event's id.
func withEventIDs(ctx context.Context, d transport.Delivery, c <-chan *eventstore.Event) <-chan *eventstore.Event {
	ids, ok := d.(transport.EventIDSink)
	if !ok {
		return c
	}
	out := make(chan *eventstore.Event)
	go func() {
		defer close(out)
		for ev := range c {
			ids.Delivering(ev.ID.String())
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// delivering tells d, if it writes ids with results, which event is sent
// next.
func delivering(d transport.Delivery, ev *eventstore.Event) {
	if ids, ok := d.(transport.EventIDSink); ok {
		ids.Delivering(ev.ID.String())
	}
}
