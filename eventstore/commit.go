package eventstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"go.opentelemetry.io/otel/trace"
)

// Group commit.
//
// When JetStream fsyncs before every acknowledgement, each publish waits
// for its own fsync, and appends published one at a time are bound by the
// disk. An atomic batch is stored with one fsync for all its messages and
// acknowledged after it, so the committer sends concurrent appends
// together, without a timer: an append that finds nothing in flight is
// published alone at once, as it would be without group commit; appends
// that arrive while something is in flight queue, and go together as the
// next batch as soon as it lands (fewer than minBatch go one by one,
// pipelined, which is cheaper). Every Append still returns only once its
// own event is stored.
//
// There is no goroutine of its own. The appender that finds the committer
// idle leads: it takes the queue's head as a batch, stores it, hands each
// member its result and wakes the new head of the queue, which leads the
// next batch. Only the head is ever woken, and an appender that gives up
// while queued leaves the queue and passes a wake-up it may hold on, so a
// queue never waits without a leader.
//
// A batch is all or nothing: when the server refuses one (an idempotency
// key or id already stored or repeated inside it, a limit, a leader
// election), no member is stored. Duplicates and size limits split the
// batch in halves, so the members that are not at fault are still
// committed together, and halves too small for a batch go one by one, each
// with its own answer (a duplicate's is the original's sequence); for
// anything else each member publishes alone, with Append's usual retries
// and its own context. Both paths send the same Nats-Msg-Id as the batch,
// so a batch that was stored although its acknowledgement was lost is
// found as a duplicate, not stored twice.
type committer struct {
	s *Store

	mu    sync.Mutex
	busy  bool       // a leader is storing a batch or a lone append
	queue []*pending // oldest first

	maxMsgs atomic.Int64 // lowered when the server's batch limit is lower
	off     atomic.Bool  // the server refused atomic batches: publish alone
}

// Bounds of one batch. nats-server refuses atomic batches of more than
// 1,000 messages by default (max_batch_size); the byte bound keeps a batch
// of large events from holding up the next one for long.
//
// An atomic batch has a fixed cost on top of its messages: on a file
// stream with one replica the server stages it in a store of its own,
// created, synced and deleted for each batch, which costs about as much
// as ten to twenty fsyncs of single messages (measured with nats-server
// 2.15 on ext4). Fewer appends than minBatch are cheaper published one by
// one, pipelined; they still hold up the next batch while they are stored,
// so that it gathers the appends arriving meanwhile.
const (
	minBatch      = 16
	maxBatchMsgs  = 1000
	maxBatchBytes = 8 << 20
	batchTimeout  = 5 * time.Second
)

// Error codes of JetStream's atomic batch publish (nats-server's
// errors.json).
const (
	codeBatchDisabled          = 10174 // the stream does not allow atomic publish
	codeBatchUnsupportedHeader = 10177 // nats-server 2.12.0 refuses Nats-Msg-Id in a batch
	codeBatchTooLarge          = 10199 // more messages than the server's max_batch_size
	codeBatchDuplicate         = 10201 // a message id already stored, or twice in the batch
)

// pending is one Append waiting in the committer.
type pending struct {
	msg   *nats.Msg
	msgID string
	size  int
	span  trace.Span    // the append's, told the size of its batch; nil without tracing
	wake  chan struct{} // 1-buffered: the queue has no leader and this is its head
	done  chan struct{} // closed once ack and err, or alone, are set

	ack   *jetstream.PubAck
	err   error
	alone bool // not stored: the appender must publish it alone
}

func newCommitter(s *Store) *committer {
	c := &committer{s: s}
	c.maxMsgs.Store(maxBatchMsgs)
	return c
}

// append stores msg and returns its acknowledgement, like Store.publish.
func (c *committer) append(ctx context.Context, span trace.Span, msg *nats.Msg, msgID string) (*jetstream.PubAck, error) {
	if c.off.Load() {
		return c.s.publish(ctx, msg, msgID)
	}
	p := &pending{msg: msg, msgID: msgID, size: msgSize(msg), span: span, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	idle := !c.busy && len(c.queue) == 1
	c.mu.Unlock()
	if idle {
		c.lead(ctx, p)
	}
	for {
		select {
		case <-p.done:
			if p.alone {
				return c.s.publish(ctx, msg, msgID)
			}
			return p.ack, p.err
		case <-p.wake:
			c.lead(ctx, p)
		case <-ctx.Done():
			if !c.leave(p) {
				// Already sent: if its result is in, it is the answer.
				select {
				case <-p.done:
					if !p.alone {
						return p.ack, p.err
					}
				default:
				}
			}
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
}

// lead stores the batch at the head of the queue unless someone else is
// storing one. p is the leading appender, ctx its context: it is used for
// p's own event when p goes alone, never for a batch others are in.
func (c *committer) lead(ctx context.Context, p *pending) {
	c.mu.Lock()
	if c.busy || len(c.queue) == 0 {
		c.mu.Unlock()
		return
	}
	c.busy = true
	batch := c.take()
	c.mu.Unlock()

	if len(batch) == 1 && batch[0] == p {
		// Nothing else was waiting: a plain publish, as without group
		// commit. Appends arriving meanwhile queue for the next batch.
		p.ack, p.err = c.s.publish(ctx, p.msg, p.msgID)
		close(p.done)
	} else {
		c.commit(context.WithoutCancel(ctx), batch)
	}

	c.mu.Lock()
	c.busy = false
	c.wakeHead()
	c.mu.Unlock()
}

// take removes the next batch from the head of the queue. c.mu is held.
func (c *committer) take() []*pending {
	limit := int(c.maxMsgs.Load())
	n, size := 0, 0
	for n < len(c.queue) && n < limit && (n == 0 || size+c.queue[n].size <= maxBatchBytes) {
		size += c.queue[n].size
		n++
	}
	batch := slices.Clone(c.queue[:n])
	c.queue = slices.Delete(c.queue, 0, n)
	return batch
}

// wakeHead wakes the head of the queue if no one leads. c.mu is held.
func (c *committer) wakeHead() {
	if !c.busy && len(c.queue) > 0 {
		select {
		case c.queue[0].wake <- struct{}{}:
		default: // already woken
		}
	}
}

// leave takes p out of the queue when its appender gives up, and reports
// whether it was still there (then nothing of it was sent).
func (c *committer) leave(p *pending) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.queue, p)
	if i < 0 {
		return false
	}
	c.queue = slices.Delete(c.queue, i, i+1)
	c.wakeHead() // p may have been woken to lead
	return true
}

// commit stores batch as one atomic batch, or splits it, or sends its
// members back to publish alone, and closes every member's done.
func (c *committer) commit(ctx context.Context, batch []*pending) {
	if len(batch) == 1 {
		goAlone(batch)
		return
	}
	if len(batch) < minBatch || c.off.Load() {
		c.publishEach(ctx, batch)
		return
	}
	msgs := make([]*nats.Msg, len(batch))
	for i, m := range batch {
		msgs[i] = c.copyMsg(m)
	}
	ack, err := c.publishBatch(ctx, msgs)
	if err == nil {
		// The server stores a batch's messages at consecutive sequences
		// (nothing else is stored in between) and acknowledges the last.
		first := ack.Sequence + 1 - uint64(len(batch))
		for i, m := range batch {
			m.ack = &jetstream.PubAck{Stream: ack.Stream, Domain: ack.Domain, Sequence: first + uint64(i)}
			if m.span != nil {
				m.span.SetAttributes(attrBatchSize.Int(len(batch)))
			}
			close(m.done)
		}
		return
	}
	c.refused(err, len(batch))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == codeBatchDuplicate || apiErr.ErrorCode == codeBatchTooLarge) {
		half := len(batch) / 2
		c.commit(ctx, batch[:half])
		c.commit(ctx, batch[half:])
		return
	}
	// Anything else (a timeout, no responders, a lost connection, a limit):
	// publishing alone retries what may pass, and reports the rest to each.
	goAlone(batch)
}

// appendAtomic stores as one atomic batch as many of items, from the
// first, as a batch may hold, and returns how many it stored and the
// sequence of the first: none if the server refused the batch (an id or
// key already stored or repeated among them, a limit, an outage), and then
// the caller publishes them one by one. items are checked and have their
// message ids.
func (c *committer) appendAtomic(ctx context.Context, items []batchItem) (n int, first uint64) {
	if c.off.Load() || len(items) < minBatch {
		return 0, 0
	}
	limit := int(c.maxMsgs.Load())
	msgs := make([]*nats.Msg, 0, min(len(items), limit))
	size := 0
	for _, it := range items {
		msg := stamp(c.s.message(it.ev), it.msgID, c.s.cfg.Stream)
		n := msgSize(msg)
		if len(msgs) == limit || len(msgs) > 0 && size+n > maxBatchBytes {
			break
		}
		size += n
		msgs = append(msgs, msg)
	}
	if len(msgs) < minBatch {
		return 0, 0 // large events: cheaper one by one
	}
	ack, err := c.publishBatch(ctx, msgs)
	if err != nil {
		c.refused(err, len(msgs))
		return 0, 0
	}
	// The server stores a batch's messages at consecutive sequences and
	// acknowledges the last.
	return len(msgs), ack.Sequence + 1 - uint64(len(msgs))
}

// refused notes what a refused batch of n messages says about the server:
// a lower batch limit, or no atomic batches at all.
func (c *committer) refused(err error, n int) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return
	}
	switch apiErr.ErrorCode {
	case codeBatchTooLarge:
		if half := int64(n / 2); c.maxMsgs.Load() > half {
			c.maxMsgs.Store(max(half, 1))
			c.s.cfg.Logger.Info("the NATS server's max_batch_size is lower than Rewind's batches: using smaller ones", "stream", c.s.cfg.Stream, "max_events", max(half, 1))
		}
	case codeBatchDisabled, codeBatchUnsupportedHeader:
		if c.off.CompareAndSwap(false, true) {
			c.s.cfg.Logger.Warn("the NATS server refused an atomic batch: appending one event at a time from now on",
				"stream", c.s.cfg.Stream, "err", err)
		}
	}
}

// publishEach publishes batch's members one by one, pipelined, and hands
// each its acknowledgement; a member whose publish fails publishes alone,
// with Append's retries.
func (c *committer) publishEach(ctx context.Context, batch []*pending) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, len(batch))
	for i, m := range batch {
		futures[i], _ = c.s.js.PublishMsgAsync(c.copyMsg(m), jetstream.WithMsgID(m.msgID), jetstream.WithExpectStream(c.s.cfg.Stream))
	}
	for i, m := range batch {
		if futures[i] != nil {
			select {
			case m.ack = <-futures[i].Ok():
			case <-futures[i].Err():
			case <-ctx.Done():
			}
		}
		m.alone = m.ack == nil
		close(m.done)
	}
}

// copyMsg is m's message as sent in a batch or pipelined: a copy, so that
// what the sending adds to it does not follow m if it then publishes
// alone.
func (c *committer) copyMsg(m *pending) *nats.Msg {
	h := make(nats.Header, len(m.msg.Header)+5)
	maps.Copy(h, m.msg.Header)
	return stamp(&nats.Msg{Subject: m.msg.Subject, Data: m.msg.Data, Header: h}, m.msgID, c.s.cfg.Stream)
}

// stamp adds to msg the headers a batched or pipelined publish carries
// itself: its message id, for deduplication, and the stream expected to
// store it.
func stamp(msg *nats.Msg, msgID, stream string) *nats.Msg {
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	msg.Header.Set(jetstream.ExpectedStreamHeader, stream)
	return msg
}

func goAlone(batch []*pending) {
	for _, m := range batch {
		m.alone = true
		close(m.done)
	}
}

// publishBatch sends msgs as one JetStream atomic batch.
func (c *committer) publishBatch(ctx context.Context, msgs []*nats.Msg) (*jetstreamext.BatchAck, error) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	// No acknowledgement of the first message: the commit's answer reports
	// any failure, and waiting for it would cost a round trip per batch.
	return jetstreamext.PublishMsgBatch(ctx, c.s.js, msgs, jetstreamext.BatchFlowControl{})
}

// msgSize is about what msg takes in a batch.
func msgSize(msg *nats.Msg) int {
	n := len(msg.Subject) + len(msg.Data) + 128 // batch and id headers
	for k, vs := range msg.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
