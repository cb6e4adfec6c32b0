package eventstore

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// Batches.
//
// A producer with many events at once (a backend, an import) hands them
// over together: they are checked, all of them, before any is stored, then
// sent as JetStream atomic batches of up to 1,000 events or 8 MiB, each
// stored with one fsync and acknowledged once all of it is on disk. A batch
// the server refuses (an id or idempotency key already stored or repeated
// inside it, a limit, too many batches in flight) stores nothing, and its
// events are published one by one instead, pipelined, each answered on its
// own: an event refused by JetStream, or whose key was used for another
// event, fails alone, and its neighbours are stored.

// BatchEvent is one event of AppendEach's batch and its idempotency key,
// "" for none (see WithIdempotencyKey).
type BatchEvent struct {
	Event Event
	Key   string
}

// Appended is what AppendEach did with one event: Event, with its id and
// sequence, once stored (for an id or idempotency key already stored
// within the deduplication window, the original event), or Err, the event
// not stored.
type Appended struct {
	Event Event
	Err   error
}

// AppendEach stores evs in order and answers for each event as Append
// would. Every event and key is checked first, as Append checks them: an
// invalid one refuses the batch, nothing stored, with an error naming its
// index ("event 3: ..."). Then the events are sent as JetStream atomic
// batches of up to 1,000 events or 8 MiB, each stored with one fsync, at
// consecutive sequences in the order of evs (fewer than 16 events, which
// cost less that way, and all of them with Config.DisableGroupCommit or on
// a server without atomic publish, are pipelined one by one). Each event
// gets its own result: an event that fails (its key used for another event,
// JetStream unavailable until ctx ends) fails alone, and the others are
// stored. An event retried after a failed publish may be stored after
// events that follow it in evs; its sequence says where.
//
// WithIdempotencyScope puts every key of the batch in the scope's
// namespace; keys are per event, so WithIdempotencyKey is refused.
func (s *Store) AppendEach(ctx context.Context, evs []BatchEvent, opts ...AppendOption) ([]Appended, error) {
	var o appendOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.key != "" {
		return nil, fmt.Errorf("%w: a batch takes one idempotency key per event (BatchEvent.Key), not WithIdempotencyKey", ErrInvalidEvent)
	}
	items := make([]batchItem, len(evs))
	for i, be := range evs {
		items[i] = batchItem{ev: be.Event, o: appendOptions{key: be.Key, scope: o.scope}}
	}
	return s.appendItems(ctx, items)
}

// AppendBatch stores evs in order, for bulk loads (imports, benchmarks),
// as AppendEach does, and returns them with their ids and sequences. Like
// Append it keeps given ids and deduplicates them. It returns the first
// error of any event; the others may be stored meanwhile, and running the
// same batch again stores each event at most once.
func (s *Store) AppendBatch(ctx context.Context, evs []Event) ([]Event, error) {
	items := make([]batchItem, len(evs))
	for i, ev := range evs {
		items[i] = batchItem{ev: ev}
	}
	res, err := s.appendItems(ctx, items)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(res))
	for i, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("append event %d: %w", i, r.Err)
		}
		out[i] = r.Event
	}
	return out, nil
}

// batchItem is one event of a batch on its way to storage.
type batchItem struct {
	ev    Event
	o     appendOptions
	msgID string // JetStream's Nats-Msg-Id: the event's id, or its key's
}

func (s *Store) appendItems(ctx context.Context, items []batchItem) ([]Appended, error) {
	for i := range items {
		it := &items[i]
		if err := s.validate(it.ev, it.o); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		if it.ev.ID == (ulid.ULID{}) {
			it.ev.ID = s.newID()
		}
		it.msgID = it.ev.ID.String()
		if it.o.key != "" {
			it.msgID = it.o.msgID(it.ev.Topic)
		}
	}
	topic := ""
	if len(items) > 0 {
		topic = items[0].ev.Topic
	}
	ctx, span := s.startAppend(ctx, "rewind.append_batch", topic, len(items))
	tc := carried(span)
	for i := range items {
		items[i].ev.Trace = tc
	}
	out := s.storeItems(ctx, items)
	if span != nil {
		var err error
		stored := make([]Event, 0, len(out))
		for _, r := range out {
			if r.Err != nil && err == nil {
				err = r.Err
			} else if r.Err == nil {
				stored = append(stored, r.Event)
			}
		}
		endAppend(span, err, stored...)
	}
	return out, nil
}

// batchWindow bounds the publishes one batch has in flight when it
// publishes one by one: nats.go stalls, then refuses, beyond its own limit
// of pending acknowledgements.
const batchWindow = 1000

// storeItems stores checked items in order and answers for each.
func (s *Store) storeItems(ctx context.Context, items []batchItem) []Appended {
	out := make([]Appended, len(items))
	for lo := 0; lo < len(items); {
		if s.commits != nil {
			if n, first := s.commits.appendAtomic(ctx, items[lo:]); n > 0 {
				for i := range n {
					out[lo+i] = s.stored(items[lo+i], first+uint64(i))
				}
				lo += n
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			for i := lo; i < len(items); i++ {
				out[i].Err = fmt.Errorf("append to %s: %w: %w", items[i].ev.Topic, ErrUnavailable, err)
			}
			break
		}
		hi := min(lo+batchWindow, len(items))
		s.publishItems(ctx, items[lo:hi], out[lo:hi])
		lo = hi
	}
	return out
}

// publishItems publishes items one by one, pipelined, and answers for
// each in out; an item whose publish fails is published again alone, with
// Append's retries.
func (s *Store) publishItems(ctx context.Context, items []batchItem, out []Appended) {
	futures := make([]jetstream.PubAckFuture, len(items))
	for i, it := range items {
		futures[i], _ = s.js.PublishMsgAsync(s.message(it.ev), jetstream.WithMsgID(it.msgID), jetstream.WithExpectStream(s.cfg.Stream))
	}
	for i, it := range items {
		var ack *jetstream.PubAck
		if futures[i] != nil {
			select {
			case ack = <-futures[i].Ok():
			case <-futures[i].Err():
			case <-ctx.Done():
			}
		}
		if ack == nil {
			var err error
			if ack, err = s.publish(ctx, s.message(it.ev), it.msgID); err != nil {
				out[i].Err = fmt.Errorf("append to %s: %w", it.ev.Topic, err)
				continue
			}
		}
		if ack.Duplicate && it.o.key != "" {
			out[i].Event, out[i].Err = s.original(ctx, it.ev, it.o, it.msgID, ack.Sequence)
			continue
		}
		out[i] = s.stored(it, ack.Sequence)
	}
}

// stored notes that it was stored at seq (or, for an id stored before, is
// there) and returns its result.
func (s *Store) stored(it batchItem, seq uint64) Appended {
	ev := it.ev
	ev.Seq = seq
	s.seqs.Add(ev.ID, seq)
	if it.o.key != "" {
		s.keyed.Add(keyedIDOf(it.msgID), keyedAppend{id: ev.ID, seq: seq, typ: ev.Type, data: dataSum(ev.Data)})
	}
	return Appended{Event: ev}
}
