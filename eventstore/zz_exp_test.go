package eventstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/natsembed"
)

func TestZZExp(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	for round := 0; round < 2; round++ {
		for _, fsync := range []string{"2m", "always"} {
			cfg := natsembed.Config{DataDir: t.TempDir()}
			if fsync == "always" {
				cfg.SyncAlways = true
			} else {
				cfg.SyncInterval = 2 * time.Minute
			}
			ns, err := natsembed.Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			nc, _ := ns.Connect()
			ctx := context.Background()
			// raw async, 20k
			js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
			js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage})
			n := 20000
			if fsync == "always" {
				n = 3000
			}
			start := time.Now()
			var last jetstream.PubAckFuture
			for i := range n {
				m := nats.NewMsg("raw.x")
				m.Data = []byte(`{"ts":1765000000000000000,"n":123456}`)
				last, _ = js.PublishMsgAsync(m, jetstream.WithMsgID(strconv.Itoa(i)))
			}
			<-last.Ok()
			<-js.PublishAsyncComplete()
			raw := float64(n) / time.Since(start).Seconds()
			for _, gc := range []bool{true, false} {
				s, err := eventstore.Open(ctx, nc, eventstore.Config{Stream: fmt.Sprintf("S%v", gc), SubjectPrefix: fmt.Sprintf("s%v", gc), DisableGroupCommit: !gc})
				if err != nil {
					t.Fatal(err)
				}
				evs := make([]eventstore.BatchEvent, 1000)
				for i := range evs {
					evs[i] = eventstore.BatchEvent{Event: eventstore.Event{Topic: "bench", Type: "x", Data: json.RawMessage(`{"ts":1765000000000000000,"n":123456}`)}}
				}
				start := time.Now()
				k := n / 1000
				for range k {
					if _, err := s.AppendEach(ctx, evs); err != nil {
						t.Fatal(err)
					}
				}
				r := float64(k*1000) / time.Since(start).Seconds()
				t.Logf("round %d fsync %s: raw async %.0f/s; AppendEach groupcommit=%v %.0f/s = %.2fx", round, fsync, raw, gc, r, r/raw)
			}
			nc.Close()
			ns.Shutdown()
		}
	}
}
