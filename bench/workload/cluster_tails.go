package workload

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/rewind-dev/rewind/bench/proc"
)

// TailCost is what one more tail of a stream costs the NATS cluster: every
// Rewind instance runs one ordered consumer on the whole stream, so the
// cluster sends every event once per instance. The Rewind modes differ by
// one tail, which this shared machine cannot resolve under the cost of the
// appends themselves (a Raft commit and an fsync each at low rates); here
// the harness adds many at once, on a stream in memory with one replica,
// whose appends cost little. Turns without tails and with Tails ordered
// consumers (each on a connection of its own, as instances have)
// alternate, each publishing at Rate with nats.go alone.
type TailCost struct {
	Tails int           `json:"tails"`
	Rate  float64       `json:"rate"`
	Turn  time.Duration `json:"turn"`
	Turns []TailTurn    `json:"turns"`
	// PerTailCPU is NATS's CPU per event per tail, µs, all nodes: the
	// turns with tails less those without, over Tails. PerTailBytes is
	// the bytes per event per tail from NATS to its connection.
	PerTailCPU   float64 `json:"per_tail_cpu_us"`
	PerTailBytes float64 `json:"per_tail_bytes"`
	Err          string  `json:"error,omitempty"`
}

// TailTurn is one turn of TailCost.
type TailTurn struct {
	Tails     int          `json:"tails"`
	Published int64        `json:"published"`
	Nodes     []NodeUsage  `json:"nodes"`
	Traffic   proc.Traffic `json:"traffic"`
}

// cpuPerEvent is the turn's NATS CPU per event, µs, all nodes.
func (t TailTurn) cpuPerEvent() float64 {
	return nodesCPU(t.Nodes) * 1e6 / float64(max(1, t.Published))
}

// The tail-cost stream: subjects apart from Rewind's.
const (
	tailStream  = "BENCH_TAILS"
	tailSubject = "tails.x"
)

// clusterTails measures TailCost on cl: rounds of a turn without tails
// and a turn with tails.
func (e *Env) clusterTails(ctx context.Context, cl *proc.NATSCluster, tails int, rate float64, turn time.Duration, rounds int) TailCost {
	r := TailCost{Tails: tails, Rate: rate, Turn: turn}
	if err := e.tailTurns(ctx, cl, &r, rounds); err != nil {
		r.Err = err.Error()
		e.logf("cluster tails: %v", err)
		return r
	}
	var cpu, bytes [2]float64
	var n [2]int
	for _, t := range r.Turns {
		i := min(t.Tails, 1)
		cpu[i] += t.cpuPerEvent()
		bytes[i] += float64(t.Traffic.ClientOut) / float64(max(1, t.Published))
		n[i]++
	}
	if n[0] > 0 && n[1] > 0 {
		r.PerTailCPU = (cpu[1]/float64(n[1]) - cpu[0]/float64(n[0])) / float64(tails)
		r.PerTailBytes = (bytes[1]/float64(n[1]) - bytes[0]/float64(n[0])) / float64(tails)
	}
	e.logf("cluster tails: %d tails at %.0f events/s: %.1f µs of NATS CPU and %.0f bytes per event per tail", tails, rate, r.PerTailCPU, r.PerTailBytes)
	return r
}

func (e *Env) tailTurns(ctx context.Context, cl *proc.NATSCluster, r *TailCost, rounds int) error {
	pc, err := nats.Connect(cl.URLs())
	if err != nil {
		return err
	}
	defer pc.Close()
	js, err := jetstream.New(pc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(sctx, jetstream.StreamConfig{Name: tailStream, Subjects: []string{"tails.>"}, Storage: jetstream.MemoryStorage, Replicas: 1}); err != nil {
		return fmt.Errorf("create stream %s: %w", tailStream, err)
	}
	defer func() {
		if err := cl.DeleteStream(context.WithoutCancel(ctx), tailStream); err != nil {
			e.logf("cluster tails: %v", err)
		}
	}()
	leader, err := cl.StreamLeader(ctx, tailStream)
	if err != nil {
		return err
	}
	var nodes []nodeMeter
	for _, n := range cl.Nodes {
		nodes = append(nodes, nodeMeter{node: n, leader: n.Name == leader})
	}
	for range rounds {
		for _, tails := range []int{0, r.Tails} {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t, err := tailTurn(ctx, cl, js, nodes, tails, r.Rate, r.Turn)
			if err != nil {
				return err
			}
			r.Turns = append(r.Turns, t)
		}
	}
	return nil
}

// tailTurn starts tails ordered consumers, each on its own connection,
// publishes at rate for d, waits until every tail has every event, and
// measures the nodes.
func tailTurn(ctx context.Context, cl *proc.NATSCluster, js jetstream.JetStream, nodes []nodeMeter, tails int, rate float64, d time.Duration) (TailTurn, error) {
	t := TailTurn{Tails: tails}
	count := int64(rate * d.Seconds())
	// The tails start at the turn's first event wherever their consumers
	// are created: Consume creates them asynchronously.
	st, err := js.Stream(ctx, tailStream)
	if err != nil {
		return t, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return t, err
	}
	first := info.State.LastSeq + 1
	var received atomic.Int64
	for range tails {
		nc, err := nats.Connect(cl.URLs())
		if err != nil {
			return t, err
		}
		defer nc.Close()
		tjs, err := jetstream.New(nc)
		if err != nil {
			return t, err
		}
		cons, err := tjs.OrderedConsumer(ctx, tailStream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: first})
		if err != nil {
			return t, fmt.Errorf("tail: %w", err)
		}
		cc, err := cons.Consume(func(jetstream.Msg) { received.Add(1) })
		if err != nil {
			return t, fmt.Errorf("tail: %w", err)
		}
		defer cc.Stop()
	}
	before, err := traffic(ctx, nodes)
	if err != nil {
		return t, err
	}
	nm := startNodes(nodes)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for k := range count {
		if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return t, ctx.Err()
			case <-time.After(wait):
			}
		}
		if _, err := js.PublishAsync(tailSubject, eventData(k), jetstream.WithMsgID(nuid.Next())); err != nil {
			return t, fmt.Errorf("publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return t, errors.New("publish: acknowledgements still pending after 30s")
	}
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() < count*int64(tails) {
		if time.Now().After(deadline) {
			return t, fmt.Errorf("the tails received %d of %d events within 30s", received.Load(), count*int64(tails))
		}
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(10 * time.Millisecond): // the tails' progress
		}
	}
	t.Nodes = stopNodes(nm)
	after, err := traffic(ctx, nodes)
	if err != nil {
		return t, err
	}
	t.Traffic, t.Published = after.Sub(before), count
	return t, nil
}
