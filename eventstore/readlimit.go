package eventstore

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// readLimitKey carries a client's share of the store's reads.
type readLimitKey struct{}

// WithReadLimit returns a context whose storage reads, and those of
// everything started with it (the replays of subscriptions, say), hold at
// most n read slots at once, on top of the store's own bound. A server
// gives each client (a connection, a request) its own, so that one
// client's hundreds of reads wait for each other instead of filling the
// shared NATS connection and slowing every other client down. A context
// that already has a limit keeps it: the outermost one is the client's.
func WithReadLimit(ctx context.Context, n int) context.Context {
	if n <= 0 || ctx.Value(readLimitKey{}) != nil {
		return ctx
	}
	return context.WithValue(ctx, readLimitKey{}, semaphore.NewWeighted(int64(n)))
}

// acquireRead takes one of ctx's read slots, if it has a limit, then one
// of the store's, and returns the function that gives both back.
func (s *Store) acquireRead(ctx context.Context) (release func(), err error) {
	client, _ := ctx.Value(readLimitKey{}).(*semaphore.Weighted)
	if client != nil {
		if err := client.Acquire(ctx, 1); err != nil {
			return nil, err
		}
	}
	if err := s.reads.Acquire(ctx, 1); err != nil {
		if client != nil {
			client.Release(1)
		}
		return nil, err
	}
	return func() {
		s.reads.Release(1)
		if client != nil {
			client.Release(1)
		}
	}, nil
}
