package eventstore

import (
	"context"
	"encoding/binary"
	"errors"
	"math/bits"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"golang.org/x/sync/errgroup"
)

// The near lookup is Resolve's fast path, tried before the window scans.
// Its reads are direct gets, which need no consumer and may be answered by
// any replica, so it only ever finds an id: when it does not, the scans,
// which read the stream leader's copy, decide. It runs no scan itself: the
// parts of its stretch it did not read are left to the scans, which count
// against the store's bound on scans (see search).
const (
	// firstBatch is how many messages the first direct get reads, from
	// just before the id's time. At ordinary publish rates (up to a couple
	// of thousand events a second) that stretch holds the id.
	firstBatch = 32
	// When it does not (a stream filled in bulk, with hundreds of events
	// per millisecond), samples narrow the next nearStretch sequences down
	// to guessBatch, fanout samples at a time, and direct gets read from
	// there: one forward from the bracket's start (and one back from its
	// end when samples bound it on both sides), or up to backBatches back
	// from its end.
	nearStretch = 8192
	fanout      = 16
	maxRounds   = 6
	guessBatch  = 128
	backBatches = 4
	// batchBytes bounds a batch when events are large.
	batchBytes = 1 << 20
	// sampleMaxSize is the largest average event size, in the first batch,
	// at which samples are read: direct gets carry whole events, and past
	// it a scan of headers moves less.
	sampleMaxSize = 16 << 10
)

// lookupNear looks for id around its timestamp with direct gets and, in a
// dense stream, from where samples suggest. It returns 0 when it did not
// find the id, which does not mean the id is not stored, and then the parts
// of the sampled stretch it left unread, each to be scanned up to stopAt.
//
// The samples only choose where in the sampled stretch the search begins:
// the scans then go round the whole stretch, so a wrong guess costs time,
// never a miss.
func (s *Store) lookupNear(ctx context.Context, id ulid.ULID) (seq uint64, rest []scanSpec, stopAt time.Time, err error) {
	at := ulid.Time(id.Time())
	w := searchWindows[0]
	stopAt = at.Add(w.after)
	begin := at.Add(-w.before)
	if !inNanoRange(begin) {
		// JetStream takes a start time as Unix nanoseconds, which wrap
		// outside 1678..2262: such an id is left to the scans, whose
		// windows keep to the stream's own times.
		return 0, nil, stopAt, nil
	}
	r, err := s.getBatch(ctx, id, firstBatch, jetstreamext.GetBatchStartTime(begin), stopAt)
	if err != nil || r.seq != 0 || r.last == 0 || r.past {
		return r.seq, nil, stopAt, err
	}
	// The stretch may run past the stream's end: samples there are not
	// found, and scans end at the end.
	from := r.last + 1
	until := from + nearStretch - 1
	b := bracket{lo: from, hi: until}
	if r.bytes/r.read <= sampleMaxSize {
		if b, seq, err = s.locate(ctx, id, from, until); err != nil || seq != 0 {
			return seq, nil, stopAt, err
		}
	}
	// Read where the samples point first, then leave everything else in the
	// stretch to the scans: nothing in it is left unread before giving up.
	var parts []scanSpec
	if b.above && !b.below {
		// id is most likely just before hi, the first of its millisecond:
		// read back from there, a batch at a time.
		end := b.hi
		for range backBatches {
			start := from
			if end-from >= guessBatch {
				start = end - guessBatch + 1
			}
			r, err := s.getBatch(ctx, id, int(end-start+1), jetstreamext.GetBatchSeq(start), stopAt)
			if err != nil || r.seq != 0 {
				return r.seq, nil, stopAt, err
			}
			if r.last < end { // cut short: leave the rest to the scans
				break
			}
			if end = start - 1; end < from {
				break
			}
		}
		parts = []scanSpec{{start: from, until: end}, {start: b.hi + 1, until: until}}
	} else {
		// id is most likely just after lo and, when samples bound it on
		// both sides, just before hi: its writer's events of its
		// millisecond run from lo or up to hi, with another writer's events
		// or other milliseconds' in between.
		r, err := s.getBatch(ctx, id, guessBatch, jetstreamext.GetBatchSeq(b.lo), stopAt)
		if err != nil || r.seq != 0 {
			return r.seq, nil, stopAt, err
		}
		read := max(b.lo, r.last+1) // the first sequence not read forward
		if r.past {
			// Everything after r.last was stored past the stretch's end.
			parts = []scanSpec{{start: from, until: b.lo - 1}}
		} else if b.above && b.below && b.hi >= read {
			start := max(read, b.hi-guessBatch+1)
			r, err := s.getBatch(ctx, id, int(b.hi-start+1), jetstreamext.GetBatchSeq(start), stopAt)
			if err != nil || r.seq != 0 {
				return r.seq, nil, stopAt, err
			}
			parts = []scanSpec{{start: read, until: start - 1}, {start: max(start, r.last+1), until: until}, {start: from, until: b.lo - 1}}
			if r.past {
				parts = []scanSpec{parts[0], parts[2]}
			}
		} else {
			parts = []scanSpec{{start: read, until: until}, {start: from, until: b.lo - 1}}
		}
	}
	for _, spec := range parts {
		if spec.start <= spec.until {
			rest = append(rest, spec)
		}
	}
	return 0, rest, stopAt, nil
}

// batch is what one batched direct get saw: the id's sequence (0 if
// absent), the last sequence read, whether it stopped at a message stored
// past the stretch's end, and how many messages and bytes it read.
type batch struct {
	seq, last   uint64
	past        bool
	read, bytes int
}

// getBatch reads up to n messages from where opt says, looking for id, and
// stops at the first message stored after stopAt. A batch that fails or
// ends early (nothing stored from there on, a request that timed out)
// reports what it read: the search goes on with the scans, which report
// for themselves a stream that does not answer. Its only error is ctx's.
func (s *Store) getBatch(ctx context.Context, id ulid.ULID, n int, opt jetstreamext.GetBatchOpt, stopAt time.Time) (batch, error) {
	var b batch
	release, err := s.acquireRead(ctx)
	if err != nil {
		return b, err
	}
	defer release()
	msgs, err := jetstreamext.GetBatch(ctx, s.js, s.cfg.Stream, n, opt, jetstreamext.GetBatchMaxBytes(batchBytes))
	if err != nil {
		return b, ctx.Err()
	}
	for m, err := range msgs {
		switch {
		case err != nil:
			return b, ctx.Err()
		case m.Time.After(stopAt):
			b.past = true
			return b, nil
		}
		b.last = m.Sequence
		b.read++
		b.bytes += len(m.Data)
		if got, _ := ulid.ParseStrict(m.Header.Get(headerID)); got == id {
			b.seq = m.Sequence
			return b, nil
		}
	}
	return b, ctx.Err()
}

// bracket is where samples put an id: between lo and hi, bounds set by a
// sample below it (below) and one above it (above), or the whole stretch.
type bracket struct {
	lo, hi       uint64
	below, above bool
}

// locate narrows [from, until] down to a bracket of at most guessBatch
// sequences where id likely is; or returns the sequence of id, if a sample
// is id. Each round reads fanout samples spread over the current bracket,
// all at once, and keeps the part between the samples of id's writer made
// in id's millisecond that sort nearest below and above it. A round that
// learns nothing is tried again on points between its samples (see
// shifts: all of them while nothing bounds id, one once something does,
// none once samples bound it on both sides); then the narrowing ends where
// it is, as it does when samples disagree (one below id stored after one
// above it).
//
// This rests on one writer storing its events in the order of their ids,
// and on telling its ids from other writers' (see sameWriter).
func (s *Store) locate(ctx context.Context, id ulid.ULID, from, until uint64) (b bracket, seq uint64, err error) {
	b = bracket{lo: from, hi: until}
	for round, shift := 0, 0; b.hi-b.lo+1 > guessBatch && round < maxRounds; round++ {
		step := (b.hi - b.lo + 1) / (fanout + 1)
		seqs := make([]uint64, fanout)
		for i := range seqs {
			seqs[i] = b.lo + uint64(i+1)*step - step*shifts[shift]/4
		}
		ids, err := s.samples(ctx, seqs)
		if err != nil || ids == nil {
			return b, 0, err
		}
		var below, above ulid.ULID
		after, before := b.lo, b.hi
		for i, got := range ids {
			switch {
			case got == id:
				return b, seqs[i], nil
			case !sameWriter(got, id):
			case got.Compare(id) < 0 && (below == ulid.ULID{} || got.Compare(below) > 0):
				below, after = got, seqs[i]
			case got.Compare(id) > 0 && (above == ulid.ULID{} || got.Compare(above) < 0):
				above, before = got, seqs[i]
			}
		}
		switch {
		case after >= before:
			round = maxRounds // the samples disagree: stop here
		case after == b.lo && before == b.hi:
			// Bounded on both sides, id is most likely next to a bound
			// (see lookupNear), which is read next; bounded on one, most
			// likely near it, where one more round looks; unbounded, it is
			// anywhere, and every shift is tried.
			shift++
			switch {
			case b.below && b.above, (b.below || b.above) && shift > 1, shift == len(shifts):
				round = maxRounds
			}
		default:
			b.below = b.below || after != b.lo
			b.above = b.above || before != b.hi
			b.lo, b.hi, shift = after, before, 0
		}
	}
	return b, 0, nil
}

// shifts are where a round's samples go, in quarters of the step between
// them back from the points it divides the bracket at: a round that
// learns nothing is tried halfway between its points, then a quarter of
// the way each side, so that a short run of id's writer between two
// samples is still met. In a stream filled in bulk by two writers (the
// benchmark's), this leaves 0.5-1.5% of lookups to the scans, against 5-7%
// with the halfway shift alone and no telling writers apart.
var shifts = [...]uint64{0, 2, 1, 3}

// sameWriter reports whether a and b were likely made by one writer in
// one millisecond. Rewind's ids from one writer in one millisecond step
// their 80 random bits up by less than 2^32 each (ulid's monotonic
// entropy), so even millions of them stay within 2^56 of each other, while
// another writer's start at a random point: one chance in 2^23 of falling
// that near. An id of another writer, or of another millisecond, says
// nothing about where id is stored.
func sameWriter(a, b ulid.ULID) bool {
	if a.Time() != b.Time() {
		return false
	}
	if a.Compare(b) < 0 {
		a, b = b, a
	}
	hiA, hiB := uint16(a[6])<<8|uint16(a[7]), uint16(b[6])<<8|uint16(b[7])
	loA, loB := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])
	lo, borrow := bits.Sub64(loA, loB, 0)
	return hiA-hiB == uint16(borrow) && lo < 1<<56
}

// samples reads the messages at seqs, all at once, and returns their ids
// (zero for a removed message). It returns nil when a read fails: samples
// only steer the search, which reports for itself a stream that does not
// answer.
func (s *Store) samples(ctx context.Context, seqs []uint64) ([]ulid.ULID, error) {
	// A round of samples counts as one read against the store's bound.
	release, err := s.acquireRead(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	ids := make([]ulid.ULID, len(seqs))
	g, gctx := errgroup.WithContext(ctx)
	for i, q := range seqs {
		g.Go(func() error {
			m, err := s.stream.GetMsg(gctx, q)
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound):
				return nil
			case err != nil:
				return err
			}
			ids[i], _ = ulid.ParseStrict(m.Header.Get(headerID))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, ctx.Err()
	}
	return ids, nil
}
