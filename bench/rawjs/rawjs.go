// Package rawjs measures the floor under Rewind's storage path: publishing
// and reading with nats.go alone against an embedded nats-server with a
// file store, configured as Rewind's (same starter, same fsync policy, same
// stream settings), in this process with an in-process connection as
// Rewind's server uses.
package rawjs

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/natsembed"
)

// Result is one raw measurement.
type Result struct {
	Events  int64
	Elapsed time.Duration
	Rate    float64 // events/s
	Latency *metrics.Hist
}

// Stream is the stream Rewind creates: the same name and subjects.
const (
	Stream  = "REWIND"
	Subject = "events.>"
)

// Embedded returns the embedded server's configuration for dir under an
// fsync policy written as Rewind's NATS_SYNC: "always" (fsync before every
// acknowledgement) or an interval such as "2m".
func Embedded(dir, fsync string) (natsembed.Config, error) {
	cfg := natsembed.Config{DataDir: dir}
	if fsync == "always" {
		cfg.SyncAlways = true
		return cfg, nil
	}
	d, err := time.ParseDuration(fsync)
	if err != nil || d <= 0 {
		return cfg, fmt.Errorf("fsync policy %q: use always or an interval such as 2m", fsync)
	}
	cfg.SyncInterval = d
	return cfg, nil
}

// Open starts an embedded server on dir with fsync policy fsync and returns
// a JetStream handle on it with Rewind's stream created, and a function
// that stops both.
func Open(ctx context.Context, dir, fsync string) (jetstream.JetStream, func(), error) {
	cfg, err := Embedded(dir, fsync)
	if err != nil {
		return nil, nil, err
	}
	ns, err := natsembed.Start(cfg)
	if err != nil {
		return nil, nil, err
	}
	nc, err := ns.Connect()
	if err != nil {
		ns.Shutdown()
		return nil, nil, err
	}
	closeAll := func() { nc.Close(); ns.Shutdown() }
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Stream, Subjects: []string{Subject}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		Duplicates: 2 * time.Minute, MaxMsgs: -1, MaxBytes: -1,
		MaxMsgSize: 1<<20 + 1024, AllowDirect: true,
	})
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("stream: %w", err)
	}
	return js, closeAll, nil
}

// Read reads every message of the stream in dir with one ordered consumer
// and returns the rate. It expects want messages.
func Read(ctx context.Context, dir string, want int64) (Result, error) {
	js, closeAll, err := Open(ctx, dir, "always")
	if err != nil {
		return Result{}, err
	}
	defer closeAll()
	start := time.Now()
	cons, err := js.OrderedConsumer(ctx, Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{Subject}})
	if err != nil {
		return Result{}, err
	}
	it, err := cons.Messages()
	if err != nil {
		return Result{}, err
	}
	defer it.Stop()
	var n int64
	for n < want {
		m, err := it.Next()
		if err != nil {
			return Result{}, fmt.Errorf("after %d messages: %w", n, err)
		}
		_ = m.Data()
		n++
		if n%65536 == 0 && ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
	}
	el := time.Since(start)
	return Result{Events: n, Elapsed: el, Rate: float64(n) / el.Seconds()}, nil
}

// payload is an event of the benchmark's size, with Rewind's headers.
func message(i int64) *nats.Msg {
	id := nuid.Next()
	return &nats.Msg{
		Subject: "events.raw",
		Data:    []byte(`{"ts":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `,"n":` + strconv.FormatInt(i, 10) + `}`),
		Header:  nats.Header{"Rewind-Id": {id}, "Rewind-Type": {"message"}, "Nats-Msg-Id": {id}},
	}
}

// PublishAsync publishes for d with up to 4,096 acknowledgements pending
// and returns the acknowledged rate.
func PublishAsync(ctx context.Context, dir, fsync string, d time.Duration) (Result, error) {
	js, closeAll, err := Open(ctx, dir, fsync)
	if err != nil {
		return Result{}, err
	}
	defer closeAll()
	start := time.Now()
	var sent int64
	for time.Since(start) < d {
		for range 256 {
			if _, err := js.PublishMsgAsync(message(sent), jetstream.WithStallWait(10*time.Second)); err != nil {
				return Result{}, err
			}
			sent++
		}
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return Result{}, fmt.Errorf("%d acknowledgements still pending after 30s", js.PublishAsyncPending())
	}
	el := time.Since(start)
	return Result{Events: sent, Elapsed: el, Rate: float64(sent) / el.Seconds()}, nil
}

// PublishSync publishes from conc goroutines, each waiting for its
// acknowledgement, for d: the per-message floor under Rewind's Append.
func PublishSync(ctx context.Context, dir, fsync string, conc int, d time.Duration) (Result, error) {
	js, closeAll, err := Open(ctx, dir, fsync)
	if err != nil {
		return Result{}, err
	}
	defer closeAll()
	start := time.Now()
	var sent atomic.Int64
	var firstErr error
	var mu sync.Mutex
	lat := &metrics.Shared{}
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var h metrics.Hist
			defer lat.Merge(&h)
			for time.Since(start) < d && ctx.Err() == nil {
				t := time.Now()
				if _, err := js.PublishMsg(ctx, message(sent.Load())); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				h.Record(time.Since(t))
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return Result{}, firstErr
	}
	el := time.Since(start)
	return Result{Events: sent.Load(), Elapsed: el, Rate: float64(sent.Load()) / el.Seconds(), Latency: lat.Snapshot()}, nil
}
