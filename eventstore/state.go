package eventstore

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// State is the stream's extent.
type State struct {
	Events   uint64
	Bytes    uint64
	FirstSeq uint64
	LastSeq  uint64
	// FirstTime and LastTime are when JetStream stored the first and the
	// last retained event; zero when the stream is empty.
	FirstTime time.Time
	LastTime  time.Time
}

// State returns the stream's current extent: what JetStream reported in
// answer to a request sent after State was called.
//
// Calls made at once share requests: a call joins the next request to be
// sent, never one already on its way, so what it returns is never older
// than the call. At most one request is in flight per store, and the calls
// made while it is share the one after it. A herd of resuming subscribers
// (each Resolve of a remembered id and each live start reads the state)
// then costs JetStream a few stream info requests instead of one each.
func (s *Store) State(ctx context.Context) (State, error) {
	for {
		r, lead, after := s.states.join()
		if lead {
			if after != nil {
				select {
				case <-after.done:
				case <-ctx.Done():
					s.states.abandon(r)
					return State{}, fmt.Errorf("stream info: %w: %w", ErrUnavailable, ctx.Err())
				}
			}
			s.states.send(ctx, r, s.readState)
		} else {
			select {
			case <-r.done:
			case <-ctx.Done():
				return State{}, fmt.Errorf("stream info: %w: %w", ErrUnavailable, ctx.Err())
			}
		}
		// A request that failed because its sender's context ended says
		// nothing about the stream: the others send another.
		if r.abandoned && ctx.Err() == nil {
			continue
		}
		return r.st, r.err
	}
}

// readState asks JetStream for the stream's extent.
func (s *Store) readState(ctx context.Context) (State, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return State{}, fmt.Errorf("stream info: %w: %w", ErrUnavailable, err)
	}
	st := info.State
	return State{Events: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq,
		FirstTime: st.FirstTime, LastTime: st.LastTime}, nil
}

// stateReads is how a store's State calls share their requests.
type stateReads struct {
	mu      sync.Mutex
	sending *stateRead // on its way to JetStream
	next    *stateRead // sent once sending is answered; calls made now join it
}

// stateRead is one stream info request and the calls waiting for it.
type stateRead struct {
	done chan struct{} // closed once st and err are set
	st   State
	err  error
	// abandoned is set when the call that was to send the request, or
	// that sent it, ended first: those waiting try again.
	abandoned bool
}

// join returns the request a call made now waits for, and whether the
// call sends it (lead); a sender must first wait for after, the request
// on its way, if any.
func (q *stateReads) join() (r *stateRead, lead bool, after *stateRead) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.next != nil:
		return q.next, false, nil
	case q.sending == nil:
		q.sending = &stateRead{done: make(chan struct{})}
		return q.sending, true, nil
	default:
		q.next = &stateRead{done: make(chan struct{})}
		return q.next, true, q.sending
	}
}

// send sends r with read, on behalf of every call that joined it.
func (q *stateReads) send(ctx context.Context, r *stateRead, read func(context.Context) (State, error)) {
	q.mu.Lock()
	q.sending = r
	if q.next == r {
		q.next = nil // calls made from now on wait for the request after r
	}
	q.mu.Unlock()
	st, err := read(ctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sending = nil
	r.st, r.err, r.abandoned = st, err, err != nil && ctx.Err() != nil
	close(r.done)
}

// abandon gives r up before it was sent: the calls that joined it try
// again, and one of them sends the next request.
func (q *stateReads) abandon(r *stateRead) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.next == r {
		q.next = nil
	}
	r.abandoned = true
	close(r.done)
}
