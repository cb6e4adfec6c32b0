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

// NearAfter is how long after an id's time the near lookup reads.
var NearAfter = searchWindows[0].after

// LookupNear runs only Resolve's near lookup and the scans of the rest of
// its stretch, so that tests can tell it found an id rather than the window
// scans behind it.
func (s *Store) LookupNear(ctx context.Context, id ulid.ULID) (uint64, error) {
	seq, rest, stopAt, err := s.lookupNear(ctx, id)
	for _, spec := range rest {
		if err != nil || seq != 0 {
			break
		}
		var f found
		f, err = s.find(ctx, id, spec, stopAt, soon)
		seq = f.seq
	}
	return seq, err
}

// LookupDirect runs only the near lookup's direct gets, without the scans
// of what they left unread: it gives 0 when those would have been needed.
func (s *Store) LookupDirect(ctx context.Context, id ulid.ULID) (uint64, error) {
	seq, _, _, err := s.lookupNear(ctx, id)
	return seq, err
}

// SameWriter is how the near lookup tells ids of id's writer from others.
var SameWriter = sameWriter

// PeakScans is the most scans of s's lookups that have run at once.
func (s *Store) PeakScans() int { return int(s.scanning.peak.Load()) }

// ScanTurns is how many turns of scanChunk headers s's lookups have
// scanned.
func (s *Store) ScanTurns() int { return int(s.scanning.turns.Load()) }

// MaxScans is the bound PeakScans must keep to.
const MaxScans = maxScans

// HoldScans takes every turn of s's bound on scans until release is
// called, as lookups scanning for unknown ids would.
func (s *Store) HoldScans(ctx context.Context) (release func(), err error) {
	for i := range maxScans {
		if err := s.scans.acquire(ctx, later); err != nil {
			for range i {
				s.scans.release()
			}
			return nil, err
		}
	}
	return func() {
		for range maxScans {
			s.scans.release()
		}
	}, nil
}
