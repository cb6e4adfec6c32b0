package eventstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/oklog/ulid/v2"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Query selects stored events.
type Query struct {
	// Topics are topic patterns; empty means every topic.
	Topics []string
	// Types keeps only events of these types; empty means every type.
	Types []string
	// After starts the read after this sequence (0: from the beginning).
	After uint64
	// Until stops the read at this sequence, inclusive. 0 means the end of
	// the stream as it was when the read started.
	Until uint64
	// Limit stops after this many events; 0 means no limit.
	Limit int
}

// Matches reports whether ev is selected by q's topics and types.
func (q Query) Matches(ev Event) bool {
	if len(q.Types) > 0 && !slices.Contains(q.Types, ev.Type) {
		return false
	}
	if len(q.Topics) == 0 {
		return true
	}
	for _, p := range q.Topics {
		if Match(p, ev.Topic) {
			return true
		}
	}
	return false
}

// Validate checks q's topic patterns.
func (q Query) Validate() error {
	for _, p := range q.Topics {
		if err := ValidatePattern(p); err != nil {
			return err
		}
	}
	return nil
}

// filters returns the consumer filter subjects for q's topics, none for
// every topic: the stream holds only the store's subjects, and a filter
// that takes them all would only make JetStream count what matches it.
// JetStream refuses overlapping filters, so when the patterns overlap the
// read takes every subject and Matches does the selection.
func (s *Store) filters(topics []string) []string {
	pats, disjoint := minimalPatterns(topics)
	if len(pats) == 0 || !disjoint || slices.Contains(pats, ">") {
		return nil
	}
	out := make([]string, len(pats))
	for i, p := range pats {
		out[i] = s.subject(p)
	}
	return out
}

// readBatch is how many messages a read asks JetStream for at a time; it
// bounds the memory a read holds.
const readBatch = 256

// Read yields the stored events q selects, in stream order. It holds at most
// one batch in memory however long the range, and releases its JetStream
// consumer when the loop ends.
func (s *Store) Read(ctx context.Context, q Query) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := q.Validate(); err != nil {
			yield(Event{}, err)
			return
		}
		err := s.scan(ctx, scanSpec{filters: s.filters(q.Topics), start: q.After + 1, until: q.Until},
			func(ev Event) (bool, error) {
				if !q.Matches(ev) {
					return true, nil
				}
				if !yield(ev, nil) {
					return false, nil
				}
				q.Limit--
				return q.Limit != 0, nil
			})
		if err != nil {
			yield(Event{}, err)
		}
	}
}

// ReadLatest yields the newest stored event of every topic q's topics
// match, in stream order, up to q.Until (0: the end of the stream when the
// read starts); q.After and q.Limit are ignored. One JetStream consumer
// with the last-per-subject policy serves it, so its cost follows the
// number of topics, not the stream's length.
//
// A topic whose newest event is of a type q does not select is left out:
// q.Types filter the newest events, they do not search a topic back for an
// older event of a wanted type. The set is taken when the read starts: a
// topic that gets an event after q.Until is left out too (its newest event
// lies beyond the bound), which is what a caller that takes what follows
// q.Until from elsewhere (see replay's Request.Latest) wants.
func (s *Store) ReadLatest(ctx context.Context, q Query) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := q.Validate(); err != nil {
			yield(Event{}, err)
			return
		}
		err := s.scan(ctx, scanSpec{filters: s.filters(q.Topics), latest: true, until: q.Until},
			func(ev Event) (bool, error) {
				if !q.Matches(ev) {
					return true, nil
				}
				return yield(ev, nil), nil
			})
		if err != nil {
			yield(Event{}, err)
		}
	}
}

type scanSpec struct {
	filters     []string
	latest      bool       // only the last message of each subject (start is ignored)
	start       uint64     // first sequence, or
	startTime   *time.Time // the first message at or after this time
	until       uint64     // last sequence, inclusive; 0: the end at start
	headersOnly bool
}

// scan feeds fn every event of spec in order until fn returns false, the
// range ends, or an error occurs.
func (s *Store) scan(ctx context.Context, spec scanSpec, fn func(Event) (bool, error)) error {
	if spec.until != 0 && spec.startTime == nil && !spec.latest && !spec.headersOnly && len(spec.filters) <= 1 {
		next, done, err := s.prelude(ctx, spec, fn)
		if err != nil || done {
			return err
		}
		spec.start = next
	}
	return s.each(ctx, spec, func(m jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		ev, err := s.decode(m.Subject(), meta.Sequence.Stream, m.Headers(), m.Data())
		if err != nil {
			return false, err
		}
		s.seqs.Add(ev.ID, ev.Seq)
		return fn(ev)
	})
}

// The prelude of a read.
const (
	// preludeBatch is how many messages the direct get before a read's
	// consumer asks for: enough to start, few enough not to be in the way.
	preludeBatch = 32
	// preludeBytes bounds it when events are large.
	preludeBytes = 256 << 10
)

// prelude feeds fn the first events of spec, read with one batched direct
// get, so that a read's first event does not wait for a consumer to be
// created. It returns where the rest of the read starts, or done when the
// read is over: fn stopped it, or the batch reached spec.until.
//
// Only what the batch delivered counts. A direct get may be answered by a
// replica or a mirror that lags behind the stream, so a batch that ends
// short of spec.until proves nothing about the rest: the consumer, which
// reads the stream leader's copy, goes on from there. Any failure leaves
// the read to the consumer too, which reports for itself a stream that
// does not answer.
func (s *Store) prelude(ctx context.Context, spec scanSpec, fn func(Event) (bool, error)) (next uint64, done bool, err error) {
	next = max(spec.start, 1)
	release, err := s.acquireRead(ctx)
	if err != nil {
		return 0, false, err
	}
	defer release()
	opts := []jetstreamext.GetBatchOpt{jetstreamext.GetBatchSeq(next), jetstreamext.GetBatchMaxBytes(preludeBytes)}
	if len(spec.filters) == 1 {
		opts = append(opts, jetstreamext.GetBatchSubject(spec.filters[0]))
	}
	msgs, err := jetstreamext.GetBatch(ctx, s.js, s.cfg.Stream, preludeBatch, opts...)
	if err != nil {
		return next, false, nil
	}
	for m, err := range msgs {
		switch {
		case err != nil:
			return next, false, ctx.Err()
		case m.Sequence > spec.until:
			return next, true, nil
		}
		ev, err := s.decode(m.Subject, m.Sequence, m.Header, m.Data)
		if err != nil {
			return next, false, err
		}
		s.seqs.Add(ev.ID, ev.Seq)
		next = ev.Seq + 1
		if more, err := fn(ev); err != nil || !more || ev.Seq == spec.until {
			return next, true, err
		}
	}
	return next, false, ctx.Err()
}

// scanRaw feeds fn the id, sequence and storage time of every message of
// spec, without decoding payloads, until fn returns false.
func (s *Store) scanRaw(ctx context.Context, spec scanSpec, fn func(id ulid.ULID, seq uint64, stored time.Time) bool) error {
	return s.each(ctx, spec, func(m jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		id, _ := ulid.ParseStrict(m.Headers().Get(headerID))
		return fn(id, meta.Sequence.Stream, meta.Timestamp), nil
	})
}

// each feeds fn every message of spec in order. It uses one ephemeral
// consumer at a time, deleted on return, and holds at most one batch in
// memory.
func (s *Store) each(ctx context.Context, spec scanSpec, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) error {
	release, err := s.acquireRead(ctx)
	if err != nil {
		return err
	}
	defer release()
	rc, err := s.openRead(ctx, spec)
	defer func() { rc.close(ctx) }()
	if err != nil {
		return err
	}
	// A read without an end stops at the end the stream had when it began,
	// counted in matching messages, so that it ends even under publishing.
	remaining := rc.pending
	if remaining == 0 {
		return nil
	}
	var last uint64 // the last sequence fed to fn
	fresh := true   // nothing received from rc yet
	restarted := false
	for {
		m, err := rc.msgs.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A consumer that delivered and then fell silent is started
			// again after the last message fed to fn: its server may have
			// restarted, or the iterator stopped asking for more (it
			// sometimes does on a busy machine, nats-io/nats.go#1622). One
			// silent from the start is an error.
			if errors.Is(err, jetstream.ErrNoHeartbeat) && !fresh {
				rc.close(ctx)
				spec.start, spec.startTime = last+1, nil
				if rc, err = s.openRead(ctx, spec); err != nil {
					return err
				}
				if rc.pending == 0 {
					return nil
				}
				fresh, restarted = true, true
				continue
			}
			return fmt.Errorf("read: %w: %w", ErrUnavailable, err)
		}
		fresh = false
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read metadata: %w", err)
		}
		seq := meta.Sequence.Stream
		if spec.until != 0 && seq > spec.until {
			return nil
		}
		if seq <= last && restarted {
			// A restarted last-per-subject consumer delivers its set again
			// from the start: what was fed to fn already is skipped.
			continue
		}
		more, err := fn(m, meta)
		if err != nil || !more {
			return err
		}
		last = seq
		remaining--
		if meta.NumPending == 0 || seq == spec.until || (spec.until == 0 && remaining == 0) {
			return nil
		}
	}
}

// createAttempts is how many times openRead asks for a consumer whose
// creation timed out.
const createAttempts = 3

// readConsumer is one ephemeral consumer of a read and its iterator.
type readConsumer struct {
	s       *Store
	name    string
	msgs    jetstream.MessagesContext // nil when there is nothing to read
	pending uint64                    // matching messages when it was created
}

// openRead creates a consumer for spec and, if it has anything to deliver,
// its iterator. The returned readConsumer is never nil and must be closed,
// even with an error: a named consumer can be deleted even when its
// creation was cut short by the caller's context after the server had
// made it.
func (s *Store) openRead(ctx context.Context, spec scanSpec) (*readConsumer, error) {
	rc := &readConsumer{s: s, name: "rewind_read_" + nuid.Next()}
	ccfg := jetstream.ConsumerConfig{
		Name:              rc.name,
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(spec.start, 1),
		HeadersOnly:       spec.headersOnly,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 30 * time.Second, // a backstop should this process die mid-read
	}
	if spec.startTime != nil {
		ccfg.DeliverPolicy, ccfg.OptStartSeq, ccfg.OptStartTime = jetstream.DeliverByStartTimePolicy, 0, spec.startTime
	}
	if spec.latest {
		ccfg.DeliverPolicy, ccfg.OptStartSeq = jetstream.DeliverLastPerSubjectPolicy, 0
		if len(spec.filters) == 0 {
			spec.filters = []string{s.cfg.SubjectPrefix + ".>"} // the policy needs a filter
		}
	}
	if len(spec.filters) == 1 {
		ccfg.FilterSubject = spec.filters[0]
	} else {
		ccfg.FilterSubjects = spec.filters
	}
	// Creating the consumer again after a timeout is safe: the name and
	// the config are the same, which JetStream answers with the consumer
	// it may have made. A reconnect storm creates hundreds at once, and on
	// a busy server some wait past the API's timeout.
	var cons jetstream.Consumer
	var err error
	for attempt := 1; ; attempt++ {
		cons, err = s.stream.CreateConsumer(ctx, ccfg)
		if err == nil || ctx.Err() != nil || attempt == createAttempts || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			break
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return rc, ctx.Err()
		}
		return rc, fmt.Errorf("create read consumer: %w: %w", ErrUnavailable, err)
	}
	if rc.pending = cons.CachedInfo().NumPending; rc.pending == 0 {
		return rc, nil
	}
	// Heartbeats turn a read whose consumer died with its server (read
	// consumers are single-replica) into an error within ten seconds;
	// shorter ones fail healthy reads on a busy machine.
	rc.msgs, err = cons.Messages(jetstream.PullMaxMessages(readBatch),
		jetstream.PullExpiry(30*time.Second), jetstream.PullHeartbeat(5*time.Second))
	if err != nil {
		return rc, fmt.Errorf("read: %w: %w", ErrUnavailable, err)
	}
	return rc, nil
}

// close stops the iterator and deletes the consumer, whatever the state of
// ctx.
func (rc *readConsumer) close(ctx context.Context) {
	if rc.msgs != nil {
		rc.msgs.Stop()
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = rc.s.stream.DeleteConsumer(dctx, rc.name)
}

// Tail yields every event stored after sequence after, in order, waiting for
// new ones until ctx ends. One ordered consumer serves it; it recovers on
// its own from JetStream restarts and resumes after the last event yielded.
func (s *Store) Tail(ctx context.Context, after uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects:    []string{s.cfg.SubjectPrefix + ".>"},
			DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:       after + 1,
			InactiveThreshold: 30 * time.Second,
			// Give up on recreating a lost consumer after a few tries and
			// report it: the caller starts a fresh tail, which is bounded,
			// rather than one that may retry forever.
			MaxResetAttempts: 3,
		})
		if err != nil {
			yield(Event{}, fmt.Errorf("tail: %w: %w", ErrUnavailable, err))
			return
		}
		// Short heartbeats make a tail whose consumer died with its server
		// (ordered consumers are single-replica) notice within seconds and
		// recreate it elsewhere.
		msgs, err := cons.Messages(jetstream.PullMaxMessages(readBatch),
			jetstream.PullExpiry(15*time.Second), jetstream.PullHeartbeat(3*time.Second))
		if err != nil {
			yield(Event{}, fmt.Errorf("tail: %w: %w", ErrUnavailable, err))
			return
		}
		// Next waits out consumer recreation without watching its context;
		// stopping the iterator is what ends that wait.
		stopOnCancel := context.AfterFunc(ctx, msgs.Stop)
		defer func() {
			stopOnCancel()
			msgs.Stop()
			if info := cons.CachedInfo(); info != nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_ = s.stream.DeleteConsumer(dctx, info.Name)
			}
		}()
		for {
			m, err := msgs.Next(jetstream.NextContext(ctx))
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					yield(Event{}, fmt.Errorf("tail closed: %w: %w", ErrUnavailable, err))
					return
				}
				// The ordered consumer recreates itself after transient
				// errors (missed heartbeats, JetStream restarts); keep
				// going, without spinning.
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			meta, err := m.Metadata()
			if err != nil {
				yield(Event{}, fmt.Errorf("tail metadata: %w", err))
				return
			}
			ev, err := s.decode(m.Subject(), meta.Sequence.Stream, m.Headers(), m.Data())
			if err != nil {
				yield(Event{}, err)
				return
			}
			s.seqs.Add(ev.ID, ev.Seq)
			if !yield(ev, nil) {
				return
			}
		}
	}
}
