package workload

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Workload 8's part of BENCHMARKS.md. Like workload 7 it runs beside the
// suite, so its section is spliced into the report report.Write makes.

// clusterHeading starts workload 8's section.
const clusterHeading = "## 8. "

// Section is workload 8's section of the report.
func (r *ClusterResult) Section() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.Config
	w("%sBeyond one instance: two Rewind instances on a three-node NATS cluster\n\n", clusterHeading)
	w("The measured point behind the capacity model, [docs/capacity.md](docs/capacity.md); this workload took %.0f s, the load average %s before it and %s after. ",
		r.Took, r.LoadBefore, r.LoadAfter)
	w("Three nats-server processes on 127.0.0.1 form one JetStream cluster (`sync_interval: %s` on each, as Rewind's embedded default); ", r.FSync)
	w("Rewind's stream has %d replicas (`REPLICAS=%d`), and each Rewind instance is `cmd/server` with `NATS_URL` listing the three nodes. The modes, one after another in this run:\n\n", clusterReplicas, clusterReplicas)
	w("- **%s**: one instance on the cluster, every subscriber on it.\n", ClusterOne)
	w("- **%s**: two instances on the cluster; the subscribers split evenly between them (a and b), the publisher on a. Each instance tails the whole stream with its own ordered consumer, so b receives every event from NATS, not from a.\n", ClusterTwo)
	w("- **%s**: one instance on its embedded single-node JetStream, as workload 1 runs it.\n\n", ClusterEmbedded)
	w("Each mode starts on an empty stream (the cluster's is deleted between modes). %d subscribers in all, one WebSocket connection and one live `events` subscription each, on one topic, ", c.Subscribers)
	w("so every event is delivered %d times; the publisher sends `publish` mutations to instance a over HTTP (up to %d in flight) at %.0f events/s, then %.0fx that per step of %s, ", c.Subscribers, c.Publishers, c.StartRate, c.Factor, c.StepTime)
	w("with workload 1's pass rule (p99 at most %s, nothing lost or repeated, the rate kept). Every mode runs the same rates, passed or not, so that CPU per delivery compares at equal load; a mode's ramp ends where it is saturated (p99 over %s, or publishing below 90%% of the rate) or at most after %d steps. ", c.MaxP99, c.Saturated, c.Steps)
	w("**Tail lag** is, per event, the time instance b's probe subscription received it minus instance a's (negative: b first). ")
	w("Then **publish**: %d clients send `publish` mutations to instance a on a topic nobody subscribes to, for %s at %.0f events/s, then for %s back to back: a's CPU per event is a publish plus its tail, b's is its tail alone, and each nats-server's is its share of storing and replicating the event and feeding the tails.\n\n", c.PublishClients, c.PublishTime, c.PacedRate, c.PublishTime)
	w("> **How the machine bounds this.** All of it runs on the same 2 cores, shared with other work (the load average above): in %s, two Rewind instances, three nats-servers and the harness (its WebSocket clients and publisher) compete for them. ", ClusterTwo)
	w("So the rates here are the machine's, not Rewind's or NATS's: a second instance cannot add capacity when there is no second machine to put it on, and every replica's fsync goes to the same disk. ")
	w("What sharing disturbs least is CPU time per delivery and per event, which the capacity model uses; rates and latencies are for comparing the modes with each other in this one run.\n\n")
	for _, e := range r.Errors {
		w("Error: %s\n\n", oneLineText(e))
	}

	w("Fastest passing step of each mode:\n\n")
	w("| mode | stream | leader | events/s | deliveries/s | per instance | p50 ms | p99 ms | Rewind CPU µs per delivery | NATS CPU µs per event (leader / others) | tail lag b-a p50 / p99 ms | harness CPU | next step stopped by |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range r.Runs {
		if run.Err != "" {
			w("| %s | R%d | %s | error: %s ||||||||||\n", run.Mode, run.Replicas, dash(run.Leader), oneLineText(run.Err))
			continue
		}
		s := run.BestStep()
		if s == nil {
			why := "no step run"
			if len(run.Steps) > 0 {
				why = "first step failed: " + run.Steps[0].Why
			}
			w("| %s | R%d | %s | %s ||||||||||\n", run.Mode, run.Replicas, dash(run.Leader), oneLineText(why))
			continue
		}
		stop := "(last step)"
		if run.Best+1 < len(run.Steps) {
			stop = run.Steps[run.Best+1].Why
		}
		w("| %s | R%d | %s | %.0f | %.0f | %s | %.1f | %.1f | %s | %s | %s | %.0f%% | %s |\n", run.Mode, run.Replicas, dash(run.Leader),
			s.PublishRate, s.DeliveriesPerSec, perInstanceRates(s), s.Latency.P50, s.Latency.P99, cpuPerDelivery(s),
			nodesPerEvent(s.Nodes, s.Published), lagText(s.TailLag), s.HarnessCPU, oneLineText(stop))
	}
	w("\n")

	if rates := r.sharedRates(); len(rates) > 0 {
		w("At each rate every mode ran (whether its step passed or not): Rewind's CPU per delivery, all instances together (the figure the model uses), NATS's CPU per event published, all nodes together, and p99 latency. ")
		w("At these rates each publish is mostly a commit of its own (its own Raft entry, and with `sync_interval: always` its own fsync on each node), so NATS's CPU per event falls as the rate rises and batches form; the publish runs below, back to back, give the figure for busy streams. ")
		w("Rewind's CPU per delivery falls too, as more events share each write; on a machine too busy for the rate (p99 far over the bound) it falls further, because queued events are written together.\n\n")
		w("| events/s asked | deliveries/s asked |")
		for _, run := range r.Runs {
			w(" %s: Rewind µs per delivery / NATS µs per event / p99 ms |", run.Mode)
		}
		w("\n|---|---|%s\n", strings.Repeat("---|", len(r.Runs)))
		for _, rate := range rates {
			w("| %.0f | %.0f |", rate, rate*float64(c.Subscribers))
			for _, run := range r.Runs {
				s := run.StepAt(rate)
				w(" %.1f / %s / %.0f |", perItem(s.RewindCPU(), s.Delivered()), nodesAll(s.Nodes, s.Published), s.Latency.P99)
			}
			w("\n")
		}
		w("\n")
	}

	w("Connecting: each instance's CPU from its first connection until every subscription had received an event, per connection (a WebSocket upgrade, graphql-transport-ws's handshake, one live `events` subscription; the warm-up's few events included), and its RSS then.\n\n")
	w("| mode | connections, each instance | CPU µs per connection, each instance | RSS, each instance |\n|---|---|---|---|\n")
	for _, run := range r.Runs {
		var n, cpu, rss []string
		for _, in := range run.Connect {
			n = append(n, fmt.Sprintf("%s %d", in.Name, in.Subscribers))
			cpu = append(cpu, fmt.Sprintf("%s %.0f", in.Name, in.Server.PerItem(int64(in.Subscribers))))
			rss = append(rss, fmt.Sprintf("%s %s", in.Name, mibText(in.Server.RSS)))
		}
		if len(n) > 0 {
			w("| %s | %s | %s | %s |\n", run.Mode, strings.Join(n, ", "), strings.Join(cpu, ", "), strings.Join(rss, ", "))
		}
	}
	w("\n")

	w("Idle, for %s before each ramp (subscribers connected, nothing published): the floor under the per-event figures of slow steps, where the nodes' Raft heartbeats weigh on NATS's CPU per event.\n\n", c.IdleTime)
	w("| mode | Rewind CPU, each instance | NATS CPU, each node |\n|---|---|---|\n")
	for _, run := range r.Runs {
		if run.Idle == nil {
			continue
		}
		var rw, nt []string
		for _, in := range run.Idle.Instances {
			rw = append(rw, fmt.Sprintf("%s %.1f%%", in.Name, in.Server.CPUPercent))
		}
		for _, n := range run.Idle.Nodes {
			nt = append(nt, fmt.Sprintf("%s %.1f%%", n.Name, n.Usage.CPUPercent))
		}
		if len(nt) == 0 {
			nt = []string{"(embedded)"}
		}
		w("| %s | %s | %s |\n", run.Mode, strings.Join(rw, ", "), strings.Join(nt, ", "))
	}
	w("\n")

	w("Publish on instance a from %d clients, nobody subscribed: first paced at %.0f events/s in every mode (the same batching everywhere: the per-event figures the model uses), then back to back (the rate the machine allows).\n\n", c.PublishClients, c.PacedRate)
	w("| mode | publishing | events/s | p50 ms | p99 ms | instance a CPU µs per event (publish + tail) | instance b CPU µs per event (tail only) | NATS CPU µs per event, each node | all nodes | bytes from NATS to Rewind per event per instance | bytes between NATS nodes per event | harness CPU |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, paced := range []bool{true, false} {
		for _, run := range r.Runs {
			p := run.Publish
			if paced {
				p = run.Paced
			}
			if p == nil {
				continue
			}
			if p.Err != "" {
				w("| %s | %s | error: %s |||||||||\n", run.Mode, p.How(), oneLineText(p.Err))
				continue
			}
			a, b := "", ""
			if len(p.Instances) > 0 {
				a = fmt.Sprintf("%.1f", p.Instances[0].Server.PerItem(p.Published))
			}
			if len(p.Instances) > 1 {
				b = fmt.Sprintf("%.1f", p.Instances[1].Server.PerItem(p.Published))
			}
			toRewind, between := "", ""
			if t := p.Traffic; t != nil && p.Published > 0 {
				toRewind = fmt.Sprintf("%.0f", float64(t.ClientOut)/float64(p.Published)/float64(len(p.Instances)))
				between = fmt.Sprintf("%.0f", float64(t.RouteOut)/float64(p.Published))
			}
			lat := "| - | -"
			if p.Latency.Count > 0 {
				lat = fmt.Sprintf("| %.2f | %.2f", p.Latency.P50, p.Latency.P99)
			}
			w("| %s | %s | %.0f %s | %s | %s | %s | %s | %s | %s | %.0f%% |\n", run.Mode, p.How(), p.Rate, lat, a, b,
				nodesEach(p.Nodes, p.Published), nodesAll(p.Nodes, p.Published), toRewind, between, p.HarnessCPU)
		}
	}
	w("\n")
	if t := r.Tails; t != nil {
		w("**One more tail, on the NATS side.** The modes above differ by one tail, which this machine cannot resolve under the appends' own cost (at these rates a Raft commit and an fsync each). So the harness adds %d at once, on a stream of its own kept in memory with one replica, whose appends cost little: turns of %s without tails and with %d ordered consumers (each on a connection of its own, as instances have), alternating, %d of each, each publishing %.0f events/s with nats.go alone.\n\n",
			t.Tails, t.Turn, t.Tails, len(t.Turns)/2, t.Rate)
		if t.Err != "" {
			w("Error: %s\n\n", oneLineText(t.Err))
		} else {
			w("| tails | events | NATS CPU µs per event, each node | all nodes | bytes from NATS to its clients per event |\n|---|---|---|---|---|\n")
			for _, turn := range t.Turns {
				w("| %d | %d | %s | %.1f | %.0f |\n", turn.Tails, turn.Published, nodesEach(turn.Nodes, turn.Published), turn.cpuPerEvent(), float64(turn.Traffic.ClientOut)/float64(max(1, turn.Published)))
			}
			w("\nPer tail: %.1f µs of NATS CPU and %.0f bytes per event.\n\n", t.PerTailCPU, t.PerTailBytes)
		}
	}
	r.derived(w)

	w("<details><summary>Every step</summary>\n\n")
	w("| mode | events/s asked | events/s | instance | subscribers | deliveries/s | p50 ms | p99 ms | missing | duplicates | CPU | µs per delivery | RSS | result |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range r.Runs {
		for _, s := range run.Steps {
			res := "ok"
			if !s.Pass {
				res = oneLineText(s.Why)
			}
			for _, in := range s.Instances {
				w("| %s | %.0f | %.0f | %s | %d | %.0f | %.1f | %.1f | %d | %d | %.0f%% | %.1f | %s | %s |\n", run.Mode, s.Rate, s.PublishRate, in.Name, in.Subscribers,
					in.DeliveriesPerSec, in.Latency.P50, in.Latency.P99, in.Missing, in.Duplicates, in.Server.CPUPercent, in.Server.PerItem(in.Delivered),
					mibText(in.Server.RSS), res)
			}
		}
	}
	w("\n</details>\n\nRaw results: [docs/bench/cluster.json](docs/bench/cluster.json).\n\n")
	return b.String()
}

// derived states the figures docs/capacity.md takes from this run.
func (r *ClusterResult) derived(w func(string, ...any)) {
	one, two := r.Run(ClusterOne), r.Run(ClusterTwo)
	if one == nil || two == nil || one.Paced == nil || two.Paced == nil || one.Paced.Err != "" || two.Paced.Err != "" || one.Paced.Published == 0 || two.Paced.Published == 0 {
		return
	}
	p1, p2 := one.Paced, two.Paced
	w("For the capacity model, from this run:\n\n")
	var cpu float64
	var conns int
	for _, in := range append(append([]ClusterInstance(nil), one.Connect...), two.Connect...) {
		cpu += in.Server.CPUSeconds
		conns += in.Subscribers
	}
	if conns > 0 {
		w("- **Connect and subscribe**, per connection: %.0f µs of CPU (%s and %s together).\n", cpu*1e6/float64(conns), ClusterOne, ClusterTwo)
	}
	if b2 := two.Publish; len(p2.Instances) > 1 && b2 != nil && b2.Err == "" && len(b2.Instances) > 1 {
		w("- **Tail, per event per instance**: %.1f µs of CPU publishing back to back, %.1f µs paced at %.0f events/s, where events come one at a time (instance b in %s, which only tails).\n",
			b2.Instances[1].Server.PerItem(b2.Published), p2.Instances[1].Server.PerItem(p2.Published), p2.Asked, ClusterTwo)
	}
	w("- **Publish, per event** on the instance that takes it (its own tail included), paced at %.0f events/s: %.1f µs (%s), %.1f µs (%s).\n",
		p1.Asked, p1.Instances[0].Server.PerItem(p1.Published), ClusterOne, p2.Instances[0].Server.PerItem(p2.Published), ClusterTwo)
	n1, n2 := nodesCPU(p1.Nodes)*1e6/float64(max(1, p1.Published)), nodesCPU(p2.Nodes)*1e6/float64(max(1, p2.Published))
	if t := p2.Traffic; t != nil && p2.Published > 0 {
		w("- **Network, per event of %d bytes of data**: %.0f bytes from NATS to each instance (its tail; the publishing instance also gets acknowledgements), %.0f bytes between the NATS nodes (replication to two followers, and the Raft traffic).\n",
			p2.DataBytes, float64(t.ClientOut)/float64(p2.Published)/float64(len(p2.Instances)), float64(t.RouteOut)/float64(p2.Published))
	}
	w("- **NATS, per event published, R%d, all nodes together**, paced at %.0f events/s: %.1f µs with one tail, %.1f µs with two (%+.1f µs: the second tail is within this machine's noise).\n", clusterReplicas, p1.Asked, n1, n2, n2-n1)
	if b1, b2 := one.Publish, two.Publish; b1 != nil && b2 != nil && b1.Err == "" && b2.Err == "" {
		w("- **NATS, per event published back to back**, R%d, all nodes together: %.1f µs (%s), %.1f µs (%s).\n", clusterReplicas,
			nodesCPU(b1.Nodes)*1e6/float64(max(1, b1.Published)), ClusterOne, nodesCPU(b2.Nodes)*1e6/float64(max(1, b2.Published)), ClusterTwo)
	}
	if t := r.Tails; t != nil && t.Err == "" {
		w("- **NATS, per event per further tail**: %.1f µs of CPU and %.0f bytes (%d tails added at once).\n", t.PerTailCPU, t.PerTailBytes, t.Tails)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, rate := range r.sharedRates() {
		if s1, s2 := one.StepAt(rate), two.StepAt(rate); s1 != nil && s2 != nil && s1.Delivered() > 0 && s2.Delivered() > 0 {
			x := perItem(s2.RewindCPU(), s2.Delivered()) / perItem(s1.RewindCPU(), s1.Delivered())
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	if lo <= hi {
		w("- **Rewind CPU per delivery, two instances against one** (all instances together, each tailing every event, each serving half the subscribers): %.2fx to %.2fx over the rates both ran.\n", lo, hi)
	}
	if b1, b2 := one.Publish, two.Publish; b1 != nil && b2 != nil && b1.Err == "" && b2.Err == "" {
		w("- **Publishing back to back** through instance a onto the R%d stream: %.0f events/s (%s), %.0f events/s (%s); p99 %.1f ms and %.1f ms.\n",
			clusterReplicas, b1.Rate, ClusterOne, b2.Rate, ClusterTwo, b1.Latency.P99, b2.Latency.P99)
	}
	if s := two.BestStep(); s != nil && s.TailLag != nil && s.TailLag.Events > 0 {
		w("- **Tail lag** between the instances at %.0f events/s: p50 %.1f ms, p99 %.1f ms (over %d events).\n", s.PublishRate, s.TailLag.P50, s.TailLag.P99, s.TailLag.Events)
	}
	w("\n")
}

// sharedRates are the fan-out rates every mode ran, in order.
func (r *ClusterResult) sharedRates() []float64 {
	if len(r.Runs) == 0 {
		return nil
	}
	var out []float64
	for _, s := range r.Runs[0].Steps {
		all := !slices.Contains(out, s.Rate)
		for i := range r.Runs {
			all = all && r.Runs[i].StepAt(s.Rate) != nil
		}
		if all {
			out = append(out, s.Rate)
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func mibText(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func perInstanceRates(s *ClusterStep) string {
	var parts []string
	for _, in := range s.Instances {
		parts = append(parts, fmt.Sprintf("%s %.0f", in.Name, in.DeliveriesPerSec))
	}
	return strings.Join(parts, ", ")
}

func cpuPerDelivery(s *ClusterStep) string {
	var parts []string
	for _, in := range s.Instances {
		parts = append(parts, fmt.Sprintf("%s %.1f", in.Name, in.Server.PerItem(in.Delivered)))
	}
	return strings.Join(parts, ", ")
}

func lagText(l *Lag) string {
	if l == nil || l.Events == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f / %.1f", l.P50, l.P99)
}

// nodesPerEvent is the leader's CPU per event and the other nodes'.
func nodesPerEvent(nodes []NodeUsage, events int64) string {
	if len(nodes) == 0 {
		return "(embedded)"
	}
	var lead string
	var others []string
	for _, n := range nodes {
		v := fmt.Sprintf("%.1f", n.Usage.PerItem(events))
		if n.Leader {
			lead = v
		} else {
			others = append(others, v)
		}
	}
	return dash(lead) + " / " + strings.Join(others, ", ")
}

func nodesEach(nodes []NodeUsage, events int64) string {
	if len(nodes) == 0 {
		return "(embedded)"
	}
	var parts []string
	for _, n := range nodes {
		name := n.Name
		if n.Leader {
			name += " (leader)"
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", name, n.Usage.PerItem(events)))
	}
	return strings.Join(parts, ", ")
}

func nodesAll(nodes []NodeUsage, events int64) string {
	if len(nodes) == 0 {
		return "(in Rewind's)"
	}
	return fmt.Sprintf("%.1f", nodesCPU(nodes)*1e6/float64(max(1, events)))
}

func nodesCPU(nodes []NodeUsage) float64 {
	var c float64
	for _, n := range nodes {
		c += n.Usage.CPUSeconds
	}
	return c
}

// Splice puts r's section into a report written by report.Write: in place
// of an earlier section 8, or else before the link to the raw results.
func (r *ClusterResult) Splice(md string) string {
	if r == nil {
		return md
	}
	if i := strings.Index(md, clusterHeading); i >= 0 && (i == 0 || md[i-1] == '\n') {
		end := len(md)
		if j := strings.Index(md[i+len(clusterHeading):], "\n## "); j >= 0 {
			end = i + len(clusterHeading) + j + 1
		} else if j := strings.Index(md[i:], "\nRaw results of this run"); j >= 0 {
			end = i + j + 1
		}
		return md[:i] + r.Section() + md[end:]
	}
	if i := strings.Index(md, "Raw results of this run"); i >= 0 {
		return md[:i] + r.Section() + md[i:]
	}
	return md + "\n" + r.Section()
}
