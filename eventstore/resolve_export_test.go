package eventstore

import (
	"context"

	"github.com/oklog/ulid/v2"
)

// The near lookup's layout, for tests that place ids on its edges.
const (
	FirstBatch  = firstBatch
	NearStretch = nearStretch
	Fanout      = fanout
)

// LookupNear runs only Resolve's near lookup, so that tests can tell it
// found an id rather than the window scans behind it.
func (s *Store) LookupNear(ctx context.Context, id ulid.ULID) (uint64, error) {
	return s.lookupNear(ctx, id)
}
