package eventstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// batchHeader is the header JetStream keeps on a message stored by an
// atomic batch.
const batchHeader = "Nats-Batch-Id"

type appended struct {
	ev  eventstore.Event
	err error
}

// startAppend appends ev in a goroutine of its own.
func startAppend(ctx context.Context, s *eventstore.Store, ev eventstore.Event, opts ...eventstore.AppendOption) <-chan appended {
	ch := make(chan appended, 1)
	go func() {
		got, err := s.Append(ctx, ev, opts...)
		ch <- appended{got, err}
	}()
	return ch
}

// queueAppend starts an append while s's commits are held and waits until
// it is queued, so that the queue's order is the order of the calls.
func queueAppend(t *testing.T, s *eventstore.Store, queued func() int, ctx context.Context, ev eventstore.Event, opts ...eventstore.AppendOption) <-chan appended {
	t.Helper()
	n := queued()
	ch := startAppend(ctx, s, ev, opts...)
	testenv.Eventually(t, 10*time.Second, "the append to queue", func() bool { return queued() == n+1 })
	return ch
}

func result(t *testing.T, ch <-chan appended) appended {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("append did not return within 30s")
		return appended{}
	}
}

func ev(topic string, data string) eventstore.Event {
	return eventstore.Event{Topic: topic, Type: "x", Data: json.RawMessage(data)}
}

// rawHeaders returns the headers JetStream stored with each sequence.
func rawHeaders(t *testing.T, n *testenv.NATS, seqs ...uint64) []nats.Header {
	t.Helper()
	js, err := jetstream.New(n.Connect())
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctxT(t), "REWIND")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]nats.Header, len(seqs))
	for i, seq := range seqs {
		msg, err := st.GetMsg(ctxT(t), seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		out[i] = msg.Header
	}
	return out
}

func syncAlwaysNATS(t *testing.T) *testenv.NATS {
	return testenv.StartNATSWith(t, func(o *server.Options) { o.SyncAlways = true })
}

// TestGroupCommitConcurrentAppenders: many appenders at once, with
// JetStream fsyncing before every acknowledgement as Rewind's embedded
// server does. Every append gets its own sequence, each appender's
// sequences increase, together they are exactly the stream's, and the
// stream holds at each sequence the event Append returned for it.
func TestGroupCommitConcurrentAppenders(t *testing.T) {
	n := syncAlwaysNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	const appenders, each = 32, 40
	got := make([][]eventstore.Event, appenders)
	var wg sync.WaitGroup
	for a := range appenders {
		wg.Go(func() {
			for i := range each {
				e, err := s.Append(ctx, ev(fmt.Sprintf("w.%d", a), fmt.Sprintf(`{"a":%d,"i":%d}`, a, i)))
				if err != nil {
					t.Errorf("appender %d, append %d: %v", a, i, err)
					return
				}
				got[a] = append(got[a], e)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	bySeq := map[uint64]eventstore.Event{}
	for a, evs := range got {
		for i, e := range evs {
			if i > 0 && e.Seq <= evs[i-1].Seq {
				t.Errorf("appender %d: append %d got sequence %d after %d", a, i, e.Seq, evs[i-1].Seq)
			}
			if prev, dup := bySeq[e.Seq]; dup {
				t.Errorf("sequence %d given to %s and %s", e.Seq, prev.Data, e.Data)
			}
			bySeq[e.Seq] = e
		}
	}
	stored := collect(t, s, eventstore.Query{})
	if len(stored) != appenders*each || len(bySeq) != appenders*each {
		t.Fatalf("stored %d events, appends returned %d sequences; want %d", len(stored), len(bySeq), appenders*each)
	}
	seqs := make([]uint64, len(stored))
	for i, e := range stored {
		want, ok := bySeq[e.Seq]
		if !ok || want.ID != e.ID || want.Topic != e.Topic || string(want.Data) != string(e.Data) {
			t.Fatalf("stored at %d: %s %s %s; Append returned %s %s %s for it", e.Seq, e.ID, e.Topic, e.Data, want.ID, want.Topic, want.Data)
		}
		seqs[i] = e.Seq
	}
	batched := 0
	for _, h := range rawHeaders(t, n, seqs...) {
		if h.Get(batchHeader) != "" {
			batched++
		}
	}
	t.Logf("%d of %d events were stored in atomic batches", batched, len(stored))
}

// queueGroup queues n appends on topic while s's commits are held, in
// order, then releases them and returns their results in that order.
func queueGroup(t *testing.T, s *eventstore.Store, topic string, n int) []eventstore.Event {
	t.Helper()
	ctx := ctxT(t)
	queued, release := s.HoldCommits()
	var chans []<-chan appended
	for i := range n {
		chans = append(chans, queueAppend(t, s, queued, ctx, ev(topic, fmt.Sprint(i))))
	}
	release()
	out := make([]eventstore.Event, n)
	for i, ch := range chans {
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("append %d: %v", i, r.err)
		}
		out[i] = r.ev
	}
	return out
}

// TestGroupCommitOneBatch: appends that arrive while another is being
// stored go together, as one atomic batch, in the order they came, while
// an append at no load is published alone, and a few (fewer than an atomic
// batch is worth) one by one. A bad event never joins.
func TestGroupCommitOneBatch(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	alone, err := s.Append(ctx, ev("t", `0`))
	if err != nil {
		t.Fatal(err)
	}
	few := queueGroup(t, s, "t", 3)
	queued, release := s.HoldCommits()
	var chans []<-chan appended
	for i := range 20 {
		chans = append(chans, queueAppend(t, s, queued, ctx, ev("t", fmt.Sprint(i+1))))
	}
	if _, err := s.Append(ctx, ev("t", `{`)); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("invalid event: %v", err)
	}
	if q := queued(); q != 20 {
		t.Fatalf("%d appends queued, want 20: the invalid one must not wait", q)
	}
	release()
	var batch []uint64
	for i, ch := range chans {
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("append %d: %v", i, r.err)
		}
		if want := few[2].Seq + 1 + uint64(i); r.ev.Seq != want {
			t.Fatalf("append %d got sequence %d, want %d (the order they came)", i, r.ev.Seq, want)
		}
		batch = append(batch, r.ev.Seq)
	}
	for i, e := range few {
		if e.Seq != alone.Seq+1+uint64(i) {
			t.Fatalf("few: append %d got sequence %d, want %d", i, e.Seq, alone.Seq+1+uint64(i))
		}
	}
	for i, h := range rawHeaders(t, n, alone.Seq, few[0].Seq, few[1].Seq, few[2].Seq) {
		if id := h.Get(batchHeader); id != "" {
			t.Errorf("append %d (alone or one of a few) was stored by batch %s", i, id)
		}
	}
	hs := rawHeaders(t, n, batch...)
	id := hs[0].Get(batchHeader)
	for i, h := range hs {
		if got := h.Get(batchHeader); got == "" || got != id {
			t.Errorf("append %d stored by batch %q, want every one by the same batch (%q)", i, got, id)
		}
	}
	if n := len(collect(t, s, eventstore.Query{})); n != 24 {
		t.Fatalf("stream holds %d events, want 24", n)
	}
}

// TestGroupCommitIdempotency: idempotency keys and given ids keep their
// meaning inside a batch and across batches, and a duplicate fails none of
// its neighbours, which are still stored together.
func TestGroupCommitIdempotency(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	orig, err := s.Append(ctx, ev("pay", `1`), eventstore.WithIdempotencyKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	imported := ulid.MustNew(ulid.Now(), ulid.DefaultEntropy())
	queued, release := s.HoldCommits()
	k2a := queueAppend(t, s, queued, ctx, ev("pay", `2`), eventstore.WithIdempotencyKey("k2"))
	k1 := queueAppend(t, s, queued, ctx, ev("pay", `1`), eventstore.WithIdempotencyKey("k1"))  // stored before
	k2b := queueAppend(t, s, queued, ctx, ev("pay", `2`), eventstore.WithIdempotencyKey("k2")) // twice in this batch
	plain := queueAppend(t, s, queued, ctx, ev("pay", `5`))
	idA := queueAppend(t, s, queued, ctx, eventstore.Event{ID: imported, Topic: "pay", Type: "x", Data: json.RawMessage(`6`)})
	idB := queueAppend(t, s, queued, ctx, eventstore.Event{ID: imported, Topic: "pay", Type: "x", Data: json.RawMessage(`6`)})
	var fillers []<-chan appended // enough for an atomic batch
	for i := range 14 {
		fillers = append(fillers, queueAppend(t, s, queued, ctx, ev("fill", fmt.Sprint(i))))
	}
	release()
	for i, ch := range fillers {
		if r := result(t, ch); r.err != nil {
			t.Fatalf("filler %d: %v", i, r.err)
		}
	}

	r := map[string]appended{}
	for name, ch := range map[string]<-chan appended{"k2a": k2a, "k1": k1, "k2b": k2b, "plain": plain, "idA": idA, "idB": idB} {
		if r[name] = result(t, ch); r[name].err != nil {
			t.Fatalf("%s: %v", name, r[name].err)
		}
	}
	if got := r["k1"].ev; got.ID != orig.ID || got.Seq != orig.Seq || string(got.Data) != "1" {
		t.Errorf("key stored before: got %+v, want the original %+v", got, orig)
	}
	// Which of two appends with one key made at once is stored is not
	// defined; both return that one.
	a, b := r["k2a"].ev, r["k2b"].ev
	if a.ID != b.ID || a.Seq != b.Seq || string(a.Data) != string(b.Data) || a.ID == orig.ID {
		t.Errorf("one key twice in a batch: got %+v and %+v, want one new event for both", a, b)
	}
	if r["idA"].ev.Seq != r["idB"].ev.Seq || r["idA"].ev.ID != imported {
		t.Errorf("one id twice in a batch: sequences %d and %d, want one", r["idA"].ev.Seq, r["idB"].ev.Seq)
	}
	if r["plain"].ev.Seq == 0 {
		t.Error("the plain neighbour was not stored")
	}
	if n := len(collect(t, s, eventstore.Query{Topics: []string{"pay"}})); n != 4 {
		t.Fatalf("stream holds %d events on pay, want 4 (k1, k2, plain, imported)", n)
	}
	// Across batches, later: the key still returns the original.
	again, err := s.Append(ctx, ev("pay", `2`), eventstore.WithIdempotencyKey("k2"))
	if err != nil || again.ID != a.ID || again.Seq != a.Seq {
		t.Fatalf("key from an earlier batch: got %+v, %v; want %+v", again, err, a)
	}

	// The members not at fault are still committed together: a batch
	// whose last member repeats a stored key is split, and its first half
	// goes as one batch.
	queued, release = s.HoldCommits()
	var firsts []<-chan appended
	for i := range 39 {
		firsts = append(firsts, queueAppend(t, s, queued, ctx, ev("pay", fmt.Sprintf(`%d`, 10+i))))
	}
	dup := queueAppend(t, s, queued, ctx, ev("pay", `1`), eventstore.WithIdempotencyKey("k1"))
	release()
	var seqs []uint64
	for i, ch := range firsts {
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("neighbour %d: %v", i, r.err)
		}
		seqs = append(seqs, r.ev.Seq)
	}
	if r := result(t, dup); r.err != nil || r.ev.ID != orig.ID {
		t.Fatalf("repeated key: got %+v, %v; want the original", r.ev, r.err)
	}
	hs := rawHeaders(t, n, seqs[:20]...)
	for i, h := range hs {
		if id := h.Get(batchHeader); id == "" || id != hs[0].Get(batchHeader) {
			t.Errorf("the first half was not stored as one batch: event %d by batch %q, event 0 by %q", i, id, hs[0].Get(batchHeader))
		}
	}
}

// TestGroupCommitCancel: an appender that gives up while queued leaves
// without storing its event or disturbing the others, the head of the
// queue included.
func TestGroupCommitCancel(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	queued, release := s.HoldCommits()
	headCtx, cancelHead := context.WithCancel(ctx)
	midCtx, cancelMid := context.WithCancel(ctx)
	head := queueAppend(t, s, queued, headCtx, ev("t", `"head"`))
	first := queueAppend(t, s, queued, ctx, ev("t", `1`))
	mid := queueAppend(t, s, queued, midCtx, ev("t", `"mid"`))
	second := queueAppend(t, s, queued, ctx, ev("t", `2`))
	cancelHead()
	cancelMid()
	for name, ch := range map[string]<-chan appended{"head": head, "mid": mid} {
		if r := result(t, ch); !errors.Is(r.err, context.Canceled) || !errors.Is(r.err, eventstore.ErrUnavailable) {
			t.Fatalf("%s cancelled while queued: %v", name, r.err)
		}
	}
	if q := queued(); q != 2 {
		t.Fatalf("%d appends queued after two left, want 2", q)
	}
	release()
	r1, r2 := result(t, first), result(t, second)
	if r1.err != nil || r2.err != nil || r2.ev.Seq != r1.ev.Seq+1 {
		t.Fatalf("the others: %+v %v, %+v %v", r1.ev, r1.err, r2.ev, r2.err)
	}
	stored := collect(t, s, eventstore.Query{})
	if strings.Join(ids(stored), ",") != strings.Join(ids([]eventstore.Event{r1.ev, r2.ev}), ",") {
		t.Fatalf("stream holds %v, want only the two that stayed", ids(stored))
	}

	// The head may give up just as it is woken to lead: someone else leads.
	for round := range 30 {
		queued, release := s.HoldCommits()
		hctx, cancel := context.WithCancel(ctx)
		head := queueAppend(t, s, queued, hctx, ev("t", `"head"`))
		rest := []<-chan appended{
			queueAppend(t, s, queued, ctx, ev("t", `1`)),
			queueAppend(t, s, queued, ctx, ev("t", `2`)),
		}
		if round%2 == 0 {
			cancel() // the head may be woken before it sees this
			release()
		} else {
			var wg sync.WaitGroup
			wg.Go(cancel)
			wg.Go(release)
			wg.Wait()
		}
		if r := result(t, head); r.err != nil && !errors.Is(r.err, context.Canceled) {
			t.Fatalf("round %d: head: %v", round, r.err)
		}
		for i, ch := range rest {
			if r := result(t, ch); r.err != nil {
				t.Fatalf("round %d: append %d: %v", round, i, r.err)
			}
		}
	}
	if _, err := s.Append(ctx, ev("t", `"after"`)); err != nil {
		t.Fatalf("append at no load after all that: %v", err)
	}
}

// TestGroupCommitRefused: if the server refuses atomic batches after the
// store opened (someone turned them off on the stream), the batch's
// members are published one by one, and so is everything after.
func TestGroupCommitRefused(t *testing.T) {
	n := testenv.StartNATS(t)
	var logs testenv.SyncBuffer
	s := n.Store(eventstore.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := ctxT(t)
	queued, release := s.HoldCommits()
	var chans []<-chan appended
	for i := range 20 {
		chans = append(chans, queueAppend(t, s, queued, ctx, ev("t", fmt.Sprint(i))))
	}
	js, err := jetstream.New(n.Connect())
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "REWIND")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.AllowAtomicPublish = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	release()
	for i, ch := range chans {
		if r := result(t, ch); r.err != nil {
			t.Fatalf("append %d: %v", i, r.err)
		}
	}
	if !strings.Contains(logs.String(), "refused an atomic batch") {
		t.Errorf("the fallback is not logged:\n%s", logs.String())
	}
	after := make([]uint64, 20)
	var wg sync.WaitGroup
	for i := range after {
		wg.Go(func() {
			e, err := s.Append(ctx, ev("t", fmt.Sprint(20+i)))
			if err != nil {
				t.Errorf("append after the fallback: %v", err)
			}
			after[i] = e.Seq
		})
	}
	wg.Wait()
	for i, h := range rawHeaders(t, n, after...) {
		if id := h.Get(batchHeader); id != "" {
			t.Errorf("append %d after the fallback was stored by batch %s", i, id)
		}
	}
	if n := len(collect(t, s, eventstore.Query{})); n != 40 {
		t.Fatalf("stream holds %d events, want 40", n)
	}
}

// TestGroupCommitOutage: a batch sent while the server is down is stored
// once, whether it lands when the server is back or its members publish
// alone (with Append's retries and the same message ids).
func TestGroupCommitOutage(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	queued, release := s.HoldCommits()
	var chans []<-chan appended
	for i := range 20 {
		chans = append(chans, queueAppend(t, s, queued, ctx, ev("t", fmt.Sprint(i))))
	}
	n.Stop()
	release()
	n.Start()
	bySeq := map[uint64]eventstore.Event{}
	for i, ch := range chans {
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("append %d: %v", i, r.err)
		}
		bySeq[r.ev.Seq] = r.ev
	}
	stored := collect(t, s, eventstore.Query{})
	if len(stored) != 20 || len(bySeq) != 20 {
		t.Fatalf("stream holds %d events, appends returned %d sequences; want 20", len(stored), len(bySeq))
	}
	for _, e := range stored {
		if bySeq[e.Seq].ID != e.ID {
			t.Fatalf("stored at %d: %s, Append returned %s", e.Seq, e.ID, bySeq[e.Seq].ID)
		}
	}
}

// TestGroupCommitSetup: opening a store turns atomic publish on for the
// stream, and logs it; a store with group commit disabled neither needs it
// nor takes it away, and publishes every event alone.
func TestGroupCommitSetup(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	perMessage := n.Store(eventstore.Config{DisableGroupCommit: true})
	js, err := jetstream.New(n.Connect())
	if err != nil {
		t.Fatal(err)
	}
	allowed := func() bool {
		st, err := js.Stream(ctx, "REWIND")
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config.AllowAtomicPublish
	}
	if allowed() {
		t.Fatal("a store without group commit turned atomic publish on")
	}
	var logs bytes.Buffer
	n.Store(eventstore.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !allowed() || !strings.Contains(logs.String(), "allow atomic publish false -> true") {
		t.Fatalf("atomic publish not turned on, or not logged:\n%s", logs.String())
	}
	n.Store(eventstore.Config{DisableGroupCommit: true})
	if !allowed() {
		t.Fatal("a store without group commit turned atomic publish off")
	}
	var wg sync.WaitGroup
	got := make([]uint64, 20)
	for i := range got {
		wg.Go(func() {
			e, err := perMessage.Append(ctx, ev("t", fmt.Sprint(i)))
			if err != nil {
				t.Errorf("append: %v", err)
			}
			got[i] = e.Seq
		})
	}
	wg.Wait()
	for i, h := range rawHeaders(t, n, got...) {
		if id := h.Get(batchHeader); id != "" {
			t.Fatalf("append %d with group commit disabled was stored by batch %s", i, id)
		}
	}
}

// TestAppendBatchAtomic: AppendBatch sends its events as atomic batches of
// up to 1,000, in order; running it again, or with ids already stored
// among new ones, stores each event once.
func TestAppendBatchAtomic(t *testing.T) {
	n := testenv.StartNATS(t)
	s := n.Store(eventstore.Config{})
	ctx := ctxT(t)
	evs := make([]eventstore.Event, 2500)
	for i := range evs {
		evs[i] = ev("bulk", fmt.Sprint(i))
	}
	got, err := s.AppendBatch(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || string(e.Data) != fmt.Sprint(i) {
			t.Fatalf("event %d: sequence %d, data %s", i, e.Seq, e.Data)
		}
	}
	hs := rawHeaders(t, n, got[0].Seq, got[999].Seq, got[1000].Seq, got[2499].Seq)
	if a, b, c := hs[0].Get(batchHeader), hs[1].Get(batchHeader), hs[2].Get(batchHeader); a == "" || b != a || c == "" || c == a {
		t.Errorf("batch ids of events 0, 999, 1000: %q %q %q; want batches of 1,000", a, b, c)
	}
	if stored := collect(t, s, eventstore.Query{}); len(stored) != 2500 || stored[1234].ID != got[1234].ID {
		t.Fatalf("stream holds %d events", len(stored))
	}

	again, err := s.AppendBatch(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i].Seq != got[i].Seq {
			t.Fatalf("run again: event %d got sequence %d, first stored at %d", i, again[i].Seq, got[i].Seq)
		}
	}
	mixed, err := s.AppendBatch(ctx, []eventstore.Event{ev("bulk", `"new 1"`), got[5], ev("bulk", `"new 2"`)})
	if err != nil {
		t.Fatal(err)
	}
	if mixed[1].Seq != got[5].Seq || mixed[0].Seq <= 2500 || mixed[2].Seq <= 2500 || mixed[0].Seq == mixed[2].Seq {
		t.Fatalf("new, stored, new: sequences %d %d %d", mixed[0].Seq, mixed[1].Seq, mixed[2].Seq)
	}
	if st, err := s.State(ctx); err != nil || st.Events != 2502 {
		t.Fatalf("stream holds %d events (%v), want 2502", st.Events, err)
	}

	perMessage := n.Store(eventstore.Config{DisableGroupCommit: true})
	plain, err := perMessage.AppendBatch(ctx, []eventstore.Event{ev("bulk", `1`), ev("bulk", `2`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range rawHeaders(t, n, plain[0].Seq, plain[1].Seq) {
		if id := h.Get(batchHeader); id != "" {
			t.Fatalf("AppendBatch with group commit disabled stored batch %s", id)
		}
	}
}
