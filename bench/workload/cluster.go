package workload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/bench/proc"
	"github.com/rewind-dev/rewind/bench/wsclient"
	"github.com/rewind-dev/rewind/eventstore"
)

// Workload 8: Rewind beyond one instance. A three-node JetStream cluster of
// nats-server processes on loopback, Rewind's stream replicated three
// times, and the same fan-out and publish load served by one instance, by
// two (subscribers split between them, the publisher on the first), and by
// one instance on its embedded single-node JetStream, in one session: the
// measured point behind docs/capacity.md.

// Modes of workload 8.
const (
	// ClusterEmbedded is one instance on its embedded JetStream, as
	// workload 1 runs it.
	ClusterEmbedded = "embedded"
	// ClusterOne is one instance on the three-node cluster, stream R3.
	ClusterOne = "cluster-1"
	// ClusterTwo is two instances on the cluster, subscribers split
	// between them, publishing through the first.
	ClusterTwo = "cluster-2"
)

// clusterReplicas is the stream's replicas on the cluster: README's
// recommendation.
const clusterReplicas = 3

// ClusterConfig sizes workload 8.
type ClusterConfig struct {
	// Subscribers in all, split evenly between a mode's instances; each
	// has its own WebSocket connection and one live subscription to one
	// topic.
	Subscribers int `json:"subscribers"`
	// StartRate is the first fan-out step's events/s; each next step
	// multiplies it by Factor, for at most Steps steps of StepTime.
	StartRate float64       `json:"start_rate"`
	Factor    float64       `json:"factor"`
	Steps     int           `json:"steps"`
	StepTime  time.Duration `json:"step_time"`
	// MaxP99 is the pass rule's latency bound, as workload 1's. A step
	// over it does not stop the ramp; one whose p99 is over Saturated, or
	// whose publishing cannot keep the rate, does.
	MaxP99    time.Duration `json:"max_p99"`
	Saturated time.Duration `json:"saturated"`
	// Publishers is how many fan-out publish requests may be in flight.
	Publishers int `json:"publishers"`
	// PublishClients send publish mutations back to back to the first
	// instance for PublishTime, on a topic nobody subscribes to.
	PublishClients int           `json:"publish_clients"`
	PublishTime    time.Duration `json:"publish_time"`
	// PacedRate is the publish run's rate, events/s, before it runs back
	// to back: the same in every mode, well within what the machine can
	// store, so that per-event CPU compares at equal batching.
	PacedRate float64 `json:"paced_rate"`
	// Tails ordered consumers, in TailRounds turns of TailTurn against as
	// many without, measure what one more tail costs NATS (TailCost).
	Tails      int           `json:"tails"`
	TailTurn   time.Duration `json:"tail_turn"`
	TailRounds int           `json:"tail_rounds"`
	// IdleTime measures every process before the ramp, nothing published.
	IdleTime time.Duration `json:"idle_time"`
	// Modes run in this order.
	Modes []string `json:"modes"`
}

// ClusterSize is workload 8's size in a quick or a full run: a full run
// takes about two minutes.
func ClusterSize(quick bool) ClusterConfig {
	modes := []string{ClusterOne, ClusterTwo, ClusterEmbedded}
	if quick {
		return ClusterConfig{Subscribers: 20, StartRate: 50, Factor: 2, Steps: 1, StepTime: time.Second, MaxP99: 100 * time.Millisecond, Saturated: time.Second,
			Publishers: 4, PublishClients: 8, PublishTime: time.Second, PacedRate: 200, IdleTime: 500 * time.Millisecond, Modes: modes,
			Tails: 2, TailTurn: 500 * time.Millisecond, TailRounds: 1}
	}
	return ClusterConfig{Subscribers: 1000, StartRate: 10, Factor: 2, Steps: 6, StepTime: 4 * time.Second, MaxP99: 100 * time.Millisecond, Saturated: time.Second,
		Publishers: 32, PublishClients: 64, PublishTime: 5 * time.Second, PacedRate: 1000, IdleTime: 3 * time.Second, Modes: modes,
		Tails: 16, TailTurn: 3 * time.Second, TailRounds: 2}
}

// ClusterInstance is one Rewind instance's share of a step.
type ClusterInstance struct {
	Name        string `json:"name"`
	Subscribers int    `json:"subscribers"`
	Delivered   int64  `json:"delivered"`
	Missing     int64  `json:"missing"`
	Duplicates  int64  `json:"duplicates"`
	// DeliveriesPerSec is from the step's start to its last delivery here.
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Latency          Latency `json:"latency"`
	Server           Usage   `json:"server"`
}

// NodeUsage is one nats-server's CPU and memory over a stretch.
type NodeUsage struct {
	Name   string `json:"name"`
	Leader bool   `json:"leader"` // of Rewind's stream
	Usage  Usage  `json:"usage"`
}

// Lag is how much later the second instance delivered each event than the
// first (negative: earlier), over the events both delivered, in ms: the
// difference between their tails of the stream.
type Lag struct {
	Events int     `json:"events"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Min    float64 `json:"min_ms"`
	Max    float64 `json:"max_ms"`
}

// ClusterStep is one fan-out rate in one mode.
type ClusterStep struct {
	Rate             float64           `json:"rate"` // events/s asked for
	Published        int64             `json:"published"`
	PublishRate      float64           `json:"publish_rate"`
	Instances        []ClusterInstance `json:"instances"`
	DeliveriesPerSec float64           `json:"deliveries_per_sec"` // all instances
	Latency          Latency           `json:"latency"`            // every delivery
	TailLag          *Lag              `json:"tail_lag,omitempty"` // two instances only
	Nodes            []NodeUsage       `json:"nodes,omitempty"`
	HarnessCPU       float64           `json:"harness_cpu_percent"`
	Pass             bool              `json:"pass"`
	Why              string            `json:"why,omitempty"`
}

// Delivered is the step's deliveries at every instance.
func (s *ClusterStep) Delivered() int64 {
	var n int64
	for _, in := range s.Instances {
		n += in.Delivered
	}
	return n
}

// RewindCPU is the CPU seconds of every instance over the step.
func (s *ClusterStep) RewindCPU() float64 {
	var c float64
	for _, in := range s.Instances {
		c += in.Server.CPUSeconds
	}
	return c
}

// ClusterPublish is the first instance under back-to-back publishers, on a
// topic nobody subscribes to: its CPU per event is a publish plus its
// tail's share; the second instance's, its tail alone.
type ClusterPublish struct {
	Clients int `json:"clients"`
	// Asked is the rate asked for, events/s; 0: back to back, as fast as
	// the clients go.
	Asked     float64 `json:"asked,omitempty"`
	Published int64   `json:"published"`
	Rate      float64 `json:"rate"`
	Latency   Latency `json:"latency"`
	// Instances holds each instance's usage (no deliveries).
	Instances  []ClusterInstance `json:"instances"`
	Nodes      []NodeUsage       `json:"nodes,omitempty"`
	HarnessCPU float64           `json:"harness_cpu_percent"`
	// Traffic is what the NATS nodes together sent and received over the
	// run: to Rewind's connections (every instance's tail, and
	// acknowledgements) and between themselves (replication).
	Traffic *proc.Traffic `json:"traffic,omitempty"`
	// DataBytes is the size of each event's data.
	DataBytes int    `json:"data_bytes,omitempty"`
	Err       string `json:"error,omitempty"`
}

// How says how the run published.
func (p *ClusterPublish) How() string {
	if p.Asked > 0 {
		return fmt.Sprintf("paced at %.0f events/s", p.Asked)
	}
	return "back to back"
}

// ClusterRun is one mode's fan-out ramp and publish run.
type ClusterRun struct {
	Mode      string        `json:"mode"`
	Instances int           `json:"instances"`
	Replicas  int           `json:"replicas"`
	Leader    string        `json:"leader,omitempty"` // the stream's leader node
	Steps     []ClusterStep `json:"steps"`
	Best      int           `json:"best"` // the last (fastest) passing step, -1 if none
	// Connect is each instance from the first connection until every
	// subscription had received an event: what opening a WebSocket,
	// graphql-transport-ws's handshake and a live subscription cost
	// (with the warm-up's few events).
	Connect []ClusterInstance `json:"connect,omitempty"`
	// Idle is every process over IdleTime with the subscribers connected
	// and nothing published: the floor (keep-alives, Raft heartbeats) under
	// the per-event figures of the slow steps.
	Idle *ClusterPublish `json:"idle,omitempty"`
	// Paced publishes at PacedRate, the same in every mode, so that the
	// per-event figures compare at equal batching; Publish goes as fast as
	// its clients can.
	Paced   *ClusterPublish `json:"paced,omitempty"`
	Publish *ClusterPublish `json:"publish,omitempty"`
	Err     string          `json:"error,omitempty"`
}

// BestStep is the fastest passing step, or nil.
func (r *ClusterRun) BestStep() *ClusterStep {
	if r.Best < 0 || r.Best >= len(r.Steps) {
		return nil
	}
	return &r.Steps[r.Best]
}

// StepAt is the step at rate, passed or not, or nil.
func (r *ClusterRun) StepAt(rate float64) *ClusterStep {
	for i := range r.Steps {
		if s := &r.Steps[i]; s.Rate == rate {
			return s
		}
	}
	return nil
}

// ClusterResult is workload 8.
type ClusterResult struct {
	Config     ClusterConfig `json:"config"`
	Started    time.Time     `json:"started"`
	Took       float64       `json:"took_seconds"`
	Source     string        `json:"source"`
	FSync      string        `json:"fsync"` // every JetStream's, embedded and clustered
	LoadBefore string        `json:"load_before"`
	LoadAfter  string        `json:"load_after"`
	Runs       []ClusterRun  `json:"runs"`
	Tails      *TailCost     `json:"tails,omitempty"`
	Errors     []string      `json:"errors,omitempty"`
}

// Run is mode's run, or nil.
func (r *ClusterResult) Run(mode string) *ClusterRun {
	for i := range r.Runs {
		if r.Runs[i].Mode == mode {
			return &r.Runs[i]
		}
	}
	return nil
}

// Failures lists errors, lost or repeated deliveries, and modes that
// delivered or published nothing. Slow steps are not failures.
func (r *ClusterResult) Failures() []string {
	if r == nil {
		return nil
	}
	out := slices.Clone(r.Errors)
	if t := r.Tails; t != nil && t.Err != "" {
		out = append(out, "cluster tails: "+t.Err)
	}
	for _, run := range r.Runs {
		if run.Err != "" {
			out = append(out, fmt.Sprintf("cluster %s: %s", run.Mode, run.Err))
			continue
		}
		if len(run.Steps) == 0 || run.Steps[0].Delivered() == 0 {
			out = append(out, fmt.Sprintf("cluster %s: nothing delivered", run.Mode))
		}
		for _, s := range run.Steps {
			for _, in := range s.Instances {
				if in.Missing > 0 || in.Duplicates > 0 {
					out = append(out, fmt.Sprintf("cluster %s, instance %s at %.0f events/s: %d deliveries missing, %d duplicates", run.Mode, in.Name, s.Rate, in.Missing, in.Duplicates))
				}
			}
		}
		for _, p := range []*ClusterPublish{run.Paced, run.Publish} {
			if p == nil || p.Err != "" || p.Published == 0 {
				why := "not run"
				if p != nil {
					why = fmt.Sprintf("%s: %d published %s", p.How(), p.Published, p.Err)
				}
				out = append(out, fmt.Sprintf("cluster %s publish: %s", run.Mode, why))
			}
		}
	}
	return out
}

// Cluster runs workload 8: the cluster modes on one three-node cluster
// (the stream deleted between them), then the embedded mode with the
// cluster stopped.
func (e *Env) Cluster(ctx context.Context, cfg ClusterConfig) (res ClusterResult) {
	res = ClusterResult{Config: cfg, Started: time.Now().UTC(), Source: e.Source, FSync: e.FSync, LoadBefore: loadavg()}
	defer func() {
		res.Took = time.Since(res.Started).Seconds()
		res.LoadAfter = loadavg()
	}()
	var clustered []string
	for _, m := range cfg.Modes {
		if m != ClusterEmbedded {
			clustered = append(clustered, m)
		}
	}
	if len(clustered) > 0 {
		if err := e.clusterModes(ctx, cfg, clustered, &res); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
	}
	if slices.Contains(cfg.Modes, ClusterEmbedded) && ctx.Err() == nil {
		res.Runs = append(res.Runs, e.clusterMode(ctx, cfg, ClusterEmbedded, nil))
	}
	return res
}

// clusterModes starts the NATS cluster, runs each mode on it, and stops
// it.
func (e *Env) clusterModes(ctx context.Context, cfg ClusterConfig, modes []string, res *ClusterResult) error {
	if e.NATSServerBin == "" {
		src := e.Src
		if src == "" {
			src = e.Root
		}
		dir := filepath.Join(e.Work, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		e.logf("building nats-server")
		bin, err := Build(ctx, src, "github.com/nats-io/nats-server/v2", dir)
		if err != nil {
			return err
		}
		e.NATSServerBin = bin
	}
	logf, err := os.Create(filepath.Join(e.Work, "nats-cluster.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cl, err := proc.StartNATSCluster(ctx, proc.NATSClusterSpec{
		Bin: e.NATSServerBin, Dir: filepath.Join(e.Work, "nats-cluster"), Nodes: 3, Sync: e.FSync, Log: logf,
	})
	if err != nil {
		return fmt.Errorf("start the NATS cluster: %w", err)
	}
	defer cl.Stop()
	e.logf("started a three-node NATS cluster at %s (sync_interval %s)", cl.URLs(), e.FSync)
	for _, m := range modes {
		if ctx.Err() != nil {
			break
		}
		res.Runs = append(res.Runs, e.clusterMode(ctx, cfg, m, cl))
	}
	if cfg.Tails > 0 && ctx.Err() == nil {
		t := e.clusterTails(ctx, cl, cfg.Tails, cfg.PacedRate, cfg.TailTurn, cfg.TailRounds)
		res.Tails = &t
	}
	return nil
}

// clusterMode runs one mode: its instances, a fan-out ramp, then the
// publish run. cl is nil for the embedded mode.
func (e *Env) clusterMode(ctx context.Context, cfg ClusterConfig, mode string, cl *proc.NATSCluster) ClusterRun {
	run := ClusterRun{Mode: mode, Instances: 1, Replicas: 1, Best: -1}
	if mode == ClusterTwo {
		run.Instances = 2
	}
	if cl != nil {
		run.Replicas = clusterReplicas
	}
	if err := e.clusterRun(ctx, cfg, cl, &run); err != nil {
		run.Err = err.Error()
		e.logf("cluster %s: %v", mode, err)
	}
	return run
}

// clusterTopic is the fan-out's topic; clusterPublishTopic, which nobody
// subscribes to, the publish run's.
const (
	clusterTopic        = "cluster"
	clusterPublishTopic = "cluster-publish"
)

func (e *Env) clusterRun(ctx context.Context, cfg ClusterConfig, cl *proc.NATSCluster, run *ClusterRun) error {
	var env []string
	if cl != nil {
		env = []string{"NATS_URL=" + cl.URLs(), fmt.Sprintf("REPLICAS=%d", clusterReplicas)}
		// The next mode starts from an empty stream; deferred first, so it
		// runs once the instances have stopped.
		defer func() {
			if err := cl.DeleteStream(context.WithoutCancel(ctx), eventstore.DefaultStream); err != nil {
				e.logf("cluster %s: %v", run.Mode, err)
			}
		}()
	}
	insts := make([]*proc.Server, 0, run.Instances)
	defer func() {
		for _, s := range insts {
			s.Stop()
		}
	}()
	for range run.Instances {
		s, err := e.start(ctx, Rewind, "", e.FSync, env...)
		if err != nil {
			return err
		}
		insts = append(insts, s)
	}
	var nodes []nodeMeter
	if cl != nil {
		leader, err := cl.StreamLeader(ctx, eventstore.DefaultStream)
		if err != nil {
			return err
		}
		run.Leader = leader
		for _, n := range cl.Nodes {
			nodes = append(nodes, nodeMeter{node: n, leader: n.Name == leader})
		}
		e.logf("cluster %s: stream %s R%d led by %s", run.Mode, eventstore.DefaultStream, clusterReplicas, leader)
	}

	// Subscribers split evenly, the first instance taking the remainder;
	// one probe per instance records when each event arrived there.
	pools := make([]*pool, len(insts))
	probes := make([]*probe, len(insts))
	defer func() {
		for i := range insts {
			if pools[i] != nil {
				pools[i].close()
			}
			if probes[i] != nil {
				probes[i].close()
			}
		}
	}()
	connect := make([]*meter, len(insts))
	for i, s := range insts {
		connect[i] = startMeter(s.PID())
	}
	for i, s := range insts {
		var err error
		if probes[i], err = openProbe(ctx, e.Dialer, s.URL, clusterTopic); err != nil {
			return err
		}
		n := cfg.Subscribers / len(insts)
		if i == 0 {
			n += cfg.Subscribers % len(insts)
		}
		if pools[i], err = openPool(ctx, e.Dialer, s.URL, clusterTopic, n); err != nil {
			return err
		}
	}
	pub := newPublisher(insts[0].URL, cfg.Publishers)
	defer pub.close()
	if err := clusterWarmUp(ctx, pub, pools, probes); err != nil {
		return err
	}
	for i := range insts {
		run.Connect = append(run.Connect, ClusterInstance{Name: instanceName(i), Subscribers: len(pools[i].conns) + 1, Server: connect[i].stop()})
	}

	idle := clusterIdle(ctx, cfg.IdleTime, insts, nodes)
	run.Idle = &idle

	// Every mode runs the same rates, whether a step passes or not, so that
	// CPU per delivery compares at equal load even when the shared machine
	// is too busy for the latency bound; the ramp stops where a mode is
	// saturated, and at a real failure.
	rate := cfg.StartRate
	for i := 0; i < cfg.Steps && ctx.Err() == nil; i, rate = i+1, rate*cfg.Factor {
		count := int64(max(1, rate*cfg.StepTime.Seconds()+0.5))
		step := e.clusterStep(ctx, cfg, insts, nodes, pools, probes, pub, rate, count)
		run.Steps = append(run.Steps, step)
		lag := ""
		if step.TailLag != nil {
			lag = fmt.Sprintf(", tail lag p50 %.1f ms p99 %.1f ms", step.TailLag.P50, step.TailLag.P99)
		}
		e.logf("cluster %s: %.0f ev/s -> %.0f deliveries/s, p50 %.1f ms p99 %.1f ms, Rewind %.1f µs/delivery%s %s",
			run.Mode, step.PublishRate, step.DeliveriesPerSec, step.Latency.P50, step.Latency.P99,
			perItem(step.RewindCPU(), step.Delivered()), lag, passWord(step.Pass, step.Why))
		if step.Pass {
			run.Best = len(run.Steps) - 1
		}
		if clusterStepBroken(step) {
			return nil // a real failure, reported by Failures
		}
		if step.PublishRate < 0.9*rate || step.Latency.P99 > float64(cfg.Saturated)/1e6 {
			break // saturated: the next rate would only queue
		}
	}
	for _, s := range insts {
		if !s.Alive() {
			return fmt.Errorf("%s exited during the run", s.Name)
		}
	}
	paced := e.clusterPublish(ctx, cfg, insts, nodes, cfg.PacedRate)
	run.Paced = &paced
	p := e.clusterPublish(ctx, cfg, insts, nodes, 0)
	run.Publish = &p
	return nil
}

// clusterStepBroken reports a step that lost, repeated or ended
// something: not noise, so the ramp stops.
func clusterStepBroken(s ClusterStep) bool {
	for _, in := range s.Instances {
		if in.Missing > 0 || in.Duplicates > 0 {
			return true
		}
	}
	return strings.HasPrefix(s.Why, "publish failed") || strings.Contains(s.Why, "ended")
}

func perItem(cpuSeconds float64, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return cpuSeconds * 1e6 / float64(n)
}

// clusterWarmUp publishes one event at a time until every subscription
// and probe has received one: subscriptions start asynchronously, and
// from then on every event must reach all.
func clusterWarmUp(ctx context.Context, pub *publisher, pools []*pool, probes []*probe) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, _, err := pub.paced(ctx, clusterTopic, 1, 1000, 1); err != nil {
			return fmt.Errorf("warm-up publish: %w", err)
		}
		ready, all := 0, 0
		for _, p := range pools {
			for _, sc := range p.conns {
				sc.mu.Lock()
				if sc.count > 0 {
					ready++
				}
				sc.mu.Unlock()
				all++
			}
		}
		for _, pr := range probes {
			if pr.received() > 0 {
				ready++
			}
			all++
		}
		if ready == all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d subscriptions received events after 30s", ready, all)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // the next warm-up event
		}
	}
}

// nodeMeter measures one nats-server.
type nodeMeter struct {
	node   *proc.NATSNode
	leader bool
	m      *meter
}

func startNodes(nodes []nodeMeter) []nodeMeter {
	out := slices.Clone(nodes)
	for i := range out {
		out[i].m = startMeter(out[i].node.PID())
	}
	return out
}

func stopNodes(nodes []nodeMeter) []NodeUsage {
	var out []NodeUsage
	for _, n := range nodes {
		out = append(out, NodeUsage{Name: n.node.Name, Leader: n.leader, Usage: n.m.stop()})
	}
	return out
}

func (e *Env) clusterStep(ctx context.Context, cfg ClusterConfig, insts []*proc.Server, nodes []nodeMeter, pools []*pool, probes []*probe,
	pub *publisher, rate float64, count int64) ClusterStep {
	step := ClusterStep{Rate: rate}
	lo := pub.n.Load()
	for _, p := range pools {
		p.startStep(lo)
	}
	meters := make([]*meter, len(insts))
	for i, s := range insts {
		meters[i] = startMeter(s.PID())
	}
	nm, hm := startNodes(nodes), startMeter(0)
	start := time.Now()
	_, published, took, err := pub.paced(ctx, clusterTopic, count, rate, cfg.Publishers)
	step.Published, step.PublishRate = published, float64(published)/took.Seconds()
	for _, p := range pools {
		p.waitDelivered(ctx, p.expected(lo, lo+published), 3*time.Second+2*cfg.MaxP99)
	}
	usage := make([]Usage, len(insts))
	for i := range meters {
		usage[i] = meters[i].stop()
	}
	step.Nodes, step.HarnessCPU = stopNodes(nm), hm.stop().CPUPercent

	all := &metrics.Hist{}
	var last int64
	var total stepStats // of every instance, for the pass rule
	for i, p := range pools {
		st := p.stats(lo, lo+count, true)
		in := ClusterInstance{Name: instanceName(i), Subscribers: len(p.conns), Delivered: st.delivered, Missing: st.missing,
			Duplicates: st.dups, Latency: summarise(st.hist), Server: usage[i]}
		if st.last > start.UnixNano() {
			in.DeliveriesPerSec = float64(st.delivered) / time.Duration(st.last-start.UnixNano()).Seconds()
		}
		step.Instances = append(step.Instances, in)
		all.Merge(st.hist)
		last = max(last, st.last)
		if st.ended > 0 && total.firstEnd == "" {
			total.firstEnd = st.firstEnd
		}
		total.ended += st.ended
		total.missing += st.missing
		total.dups += st.dups
	}
	if last > start.UnixNano() {
		step.DeliveriesPerSec = float64(step.Delivered()) / time.Duration(last-start.UnixNano()).Seconds()
	}
	step.Latency = summarise(all)
	if len(probes) == 2 {
		step.TailLag = probes[0].lagOf(probes[1], lo, lo+published)
	}
	step.Why = total.stopWhy(err, step.Latency.P99, cfg.MaxP99, step.PublishRate, rate)
	step.Pass = step.Why == ""
	return step
}

// instanceName names instance i in reports: a, b, ...
func instanceName(i int) string { return string(rune('a' + i)) }

// clusterPublish sends publish mutations back to back to the first
// instance from cfg.PublishClients clients for cfg.PublishTime, on a topic
// nobody subscribes to, and measures every process.
func (e *Env) clusterPublish(ctx context.Context, cfg ClusterConfig, insts []*proc.Server, nodes []nodeMeter, rate float64) ClusterPublish {
	r := ClusterPublish{Clients: cfg.PublishClients, Asked: rate}
	pub := newPublisher(insts[0].URL, cfg.PublishClients)
	defer pub.close()
	if _, err := pub.publishOne(ctx, clusterPublishTopic, 0); err != nil {
		r.Err = err.Error()
		return r
	}
	meters := make([]*meter, len(insts))
	for i, s := range insts {
		meters[i] = startMeter(s.PID())
	}
	before, terr := traffic(ctx, nodes)
	nm, hm := startNodes(nodes), startMeter(0)
	var (
		n   int64
		el  time.Duration
		h   = &metrics.Hist{}
		err error
	)
	if rate > 0 {
		count := int64(rate * cfg.PublishTime.Seconds())
		_, n, el, err = pub.paced(ctx, clusterPublishTopic, count, rate, cfg.PublishClients)
	} else {
		n, el, h, err = publishLoop(ctx, pub, clusterPublishTopic, cfg.PublishClients, cfg.PublishTime)
	}
	for i := range meters {
		r.Instances = append(r.Instances, ClusterInstance{Name: instanceName(i), Server: meters[i].stop()})
	}
	r.Nodes, r.HarnessCPU = stopNodes(nm), hm.stop().CPUPercent
	if after, err := traffic(ctx, nodes); terr == nil && err == nil && len(nodes) > 0 {
		d := after.Sub(before)
		r.Traffic = &d
	}
	r.DataBytes = len(eventData(0))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Published, r.Rate, r.Latency = n, float64(n)/el.Seconds(), summarise(h)
	e.logf("cluster publish (%d instance(s), %s): %d clients, %.0f events/s, p99 %.2f ms, instance a %.1f µs/event",
		len(insts), r.How(), r.Clients, r.Rate, r.Latency.P99, r.Instances[0].Server.PerItem(n))
	return r
}

// traffic is the nodes' traffic summed.
func traffic(ctx context.Context, nodes []nodeMeter) (proc.Traffic, error) {
	var sum proc.Traffic
	for _, n := range nodes {
		t, err := n.node.Traffic(ctx)
		if err != nil {
			return sum, err
		}
		sum.ClientOut += t.ClientOut
		sum.ClientIn += t.ClientIn
		sum.RouteOut += t.RouteOut
		sum.RouteIn += t.RouteIn
	}
	return sum, nil
}

// clusterIdle measures every process for d while nothing is published.
func clusterIdle(ctx context.Context, d time.Duration, insts []*proc.Server, nodes []nodeMeter) ClusterPublish {
	var r ClusterPublish
	meters := make([]*meter, len(insts))
	for i, s := range insts {
		meters[i] = startMeter(s.PID())
	}
	nm := startNodes(nodes)
	select {
	case <-ctx.Done():
	case <-time.After(d): // the stretch measured
	}
	for i := range meters {
		r.Instances = append(r.Instances, ClusterInstance{Name: instanceName(i), Server: meters[i].stop()})
	}
	r.Nodes = stopNodes(nm)
	return r
}

// probe is one more subscription on an instance that records when each
// event arrived: two instances' probes give the lag between their tails.
type probe struct {
	c    *wsclient.Conn
	done chan struct{}

	mu sync.Mutex
	at map[int64]int64 // event number -> arrival, Unix nanoseconds
}

// openProbe subscribes to topic on the server at url.
func openProbe(ctx context.Context, d *wsclient.Dialer, url, topic string) (*probe, error) {
	c, err := d.Dial(ctx, url+"/graphql")
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if err := c.Subscribe("1", EventsQuery, map[string]any{"topics": []string{topic}}); err != nil {
		c.Close()
		return nil, fmt.Errorf("probe subscribe: %w", err)
	}
	p := &probe{c: c, done: make(chan struct{}), at: map[int64]int64{}}
	go func() {
		defer close(p.done)
		_ = c.Run(func(m wsclient.Msg) bool {
			if m.Kind != wsclient.KindNext {
				return m.Kind != wsclient.KindError && m.Kind != wsclient.KindComplete
			}
			now := time.Now().UnixNano()
			if _, n, ok := delivery(m.Payload); ok {
				p.mu.Lock()
				p.at[n] = now
				p.mu.Unlock()
			}
			return true
		})
	}()
	return p, nil
}

func (p *probe) received() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.at)
}

// lagOf is, for the events numbered [lo, hi) that both probes received,
// how much later o received each than p.
func (p *probe) lagOf(o *probe, lo, hi int64) *Lag {
	var d []float64
	p.mu.Lock()
	o.mu.Lock()
	for n := lo; n < hi; n++ {
		a, ok1 := p.at[n]
		b, ok2 := o.at[n]
		if ok1 && ok2 {
			d = append(d, float64(b-a)/1e6)
		}
	}
	o.mu.Unlock()
	p.mu.Unlock()
	if len(d) == 0 {
		return &Lag{}
	}
	slices.Sort(d)
	q := func(f float64) float64 { return d[min(len(d)-1, int(f*float64(len(d))))] }
	return &Lag{Events: len(d), P50: q(0.5), P99: q(0.99), Min: d[0], Max: d[len(d)-1]}
}

func (p *probe) close() {
	_ = p.c.Close()
	<-p.done
}
