package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"golang.org/x/sync/errgroup"
)

// The near lookup is Resolve's fast path, tried before the window scans.
// Its reads are direct gets, which need no consumer and may be answered by
// any replica, so it only ever finds an id: when it does not, the window
// scans, which read the stream leader's copy, decide.
const (
	// nearBatch is how many messages the first direct get reads, from just
	// before the id's time. At ordinary publish rates that stretch holds
	// the id.
	nearBatch = 256
	// nearMaxBytes bounds that batch when events are large.
	nearMaxBytes = 1 << 20
	// probes and probeSpacing lay out the sample read when the first batch
	// falls short (a stream filled in bulk, hundreds of events per
	// millisecond): one message every probeSpacing over the next
	// probes×probeSpacing sequences.
	probes       = 64
	probeSpacing = 128
)

// lookupNear looks for id around its timestamp with direct gets and, in a
// dense stream, a scan started where samples suggest. It returns 0 when it
// did not find the id, which does not mean the id is not stored.
//
// The samples only choose where in the stretch the scan begins; the scan
// then goes round the whole stretch, so a wrong guess costs time, never a
// miss. The guess is the sample that sorts just before id among those made
// in the same millisecond: events of one writer are stored in the order of
// their ids, so id follows it closely when both come from the same writer.
func (s *Store) lookupNear(ctx context.Context, id ulid.ULID, st State) (uint64, error) {
	at := ulid.Time(id.Time())
	w := searchWindows[0]
	stopAt := at.Add(w.after)
	r, err := s.getBatch(ctx, id, jetstreamext.GetBatchStartTime(at.Add(-w.before)), stopAt)
	if err != nil || r.seq != 0 || r.last == 0 || r.past || r.last >= st.LastSeq {
		return r.seq, err
	}
	from := r.last + 1
	until := min(from+probes*probeSpacing-1, st.LastSeq)
	guess, seq, err := s.probe(ctx, id, from, until)
	if err != nil || seq != 0 {
		return seq, err
	}
	// Round the stretch from the guess: [guess, until], then [from, guess).
	parts := []scanSpec{{start: from, until: until}}
	if guess > from {
		parts = []scanSpec{{start: guess, until: until}, {start: from, until: guess - 1}}
	}
	for _, spec := range parts {
		f, err := s.find(ctx, id, spec, stopAt)
		if err != nil || f.seq != 0 {
			return f.seq, err
		}
	}
	return 0, nil
}

// batch is what one batched direct get saw: the id's sequence (0 if
// absent), the last sequence read, and whether it stopped at a message
// stored past the stretch's end.
type batch struct {
	seq, last uint64
	past      bool
}

// getBatch reads up to nearBatch messages from where opt says, looking for
// id, and stops at the first message stored after stopAt.
func (s *Store) getBatch(ctx context.Context, id ulid.ULID, opt jetstreamext.GetBatchOpt, stopAt time.Time) (batch, error) {
	msgs, err := jetstreamext.GetBatch(ctx, s.js, s.cfg.Stream, nearBatch, opt, jetstreamext.GetBatchMaxBytes(nearMaxBytes))
	if err != nil {
		return batch{}, fmt.Errorf("resolve cursor %s: %w: %w", id, ErrUnavailable, err)
	}
	var b batch
	for m, err := range msgs {
		switch {
		case errors.Is(err, jetstreamext.ErrNoMessages):
			return b, nil // nothing stored from there on
		case err != nil:
			if ctx.Err() != nil {
				return batch{}, ctx.Err()
			}
			return batch{}, fmt.Errorf("resolve cursor %s: %w: %w", id, ErrUnavailable, err)
		case m.Time.After(stopAt):
			b.past = true
			return b, nil
		}
		b.last = m.Sequence
		if got, _ := ulid.ParseStrict(m.Header.Get(headerID)); got == id {
			b.seq = m.Sequence
			return b, nil
		}
	}
	// The batch may also end early without an error (the request timed
	// out): what was read is still what b says.
	return b, ctx.Err()
}

// probe reads one message every probeSpacing sequences of [from, until],
// all at once. It returns the sequence of id if a sample is id, else the
// guess: the sequence of the greatest sample below id made in the same
// millisecond (0 if none).
func (s *Store) probe(ctx context.Context, id ulid.ULID, from, until uint64) (guess, seq uint64, err error) {
	if until-from < 2*probeSpacing {
		return 0, 0, nil // too short to be worth sampling
	}
	var seqs []uint64
	for q := from; q <= until; q += probeSpacing {
		seqs = append(seqs, q)
	}
	ids := make([]ulid.ULID, len(seqs))
	g, gctx := errgroup.WithContext(ctx)
	for i, q := range seqs {
		g.Go(func() error {
			m, err := s.stream.GetMsg(gctx, q)
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound):
				return nil // removed: one sample fewer
			case err != nil:
				return err
			}
			ids[i], _ = ulid.ParseStrict(m.Header.Get(headerID))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		// Samples only steer the scan: without them it starts at from, and
		// reports for itself a stream that does not answer.
		return 0, 0, nil
	}
	var best ulid.ULID
	for i, got := range ids {
		switch {
		case got == id:
			return 0, seqs[i], nil
		case got.Time() == id.Time() && got.Compare(id) < 0 && got.Compare(best) > 0:
			best, guess = got, seqs[i]
		}
	}
	return guess, 0, nil
}
