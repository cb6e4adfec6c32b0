package graph

import (
	"context"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/transport/sse"
)

// resumeFrom returns the cursor a subscription starts after: over SSE, the
// Last-Event-ID of a reconnecting client replaces afterId, which is how
// EventSource resumes with no code of the client's.
func resumeFrom(ctx context.Context, afterID *string) *string {
	if id, ok := sse.LastEventID(ctx); ok {
		return &id
	}
	return afterID
}

// withEventIDs returns c itself, or over SSE a channel that relays c after
// telling the transport each event's id, which it writes in the message's
// SSE id field.
func withEventIDs(ctx context.Context, c <-chan *eventstore.Event) <-chan *eventstore.Event {
	if !sse.Active(ctx) {
		return c
	}
	out := make(chan *eventstore.Event)
	go func() {
		defer close(out)
		for ev := range c {
			sse.Delivering(ctx, ev.ID.String())
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// delivering tells an SSE transport, if any, which event is sent next.
func delivering(ctx context.Context, ev *eventstore.Event) { sse.Delivering(ctx, ev.ID.String()) }
