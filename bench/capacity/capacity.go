// Package capacity is Rewind's capacity model: from figures rewind-bench
// measured (memory per connection, CPU per delivery, per event tailed and
// published, NATS's CPU and bytes per event) and stated assumptions (the
// machines, the event size), how many Rewind instances and NATS nodes a
// deployment needs. docs/capacity.md holds the inputs in two tables; this
// package reads them and writes the derived tables back, so that a refreshed
// figure refreshes the conclusions.
package capacity

import (
	"fmt"
	"math"
)

// Values are the model's inputs and assumptions by symbol, as in
// docs/capacity.md's tables.
type Values map[string]float64

// The symbols the model needs. Inputs are measured; assumptions are
// chosen. Each table row of docs/capacity.md names one in its first cell.
var (
	inputSymbols = []string{
		"m_conn", "m_base", "m_window", "w_events", "c_del", "c_del10", "c_tail", "c_pub", "c_conn", "c_replay",
		"n_event", "n_tail", "b_tail", "b_repl", "r_append", "r_cluster",
	}
	assumptionSymbols = []string{"K", "RAM", "u", "S", "env", "K_nats", "nic", "u_nats", "rho", "x", "storm", "t_out", "r_storage", "I_min"}
)

// Check reports the symbols v lacks.
func (v Values) Check() error {
	var missing []string
	for _, s := range append(append([]string(nil), inputSymbols...), assumptionSymbols...) {
		if _, ok := v[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the tables lack %v", missing)
	}
	return nil
}

// Scenario is a deployment to size.
type Scenario struct {
	Connections float64 // N: WebSocket connections, one live subscription each
	Events      float64 // E: events published per second, the whole stream
	Fanout      float64 // F: live subscriptions each event reaches, on average
}

// Plan is what a scenario needs, by the model.
type Plan struct {
	Scenario
	Deliveries float64 // D = E * F, per second
	// DeliveryCPU is the CPU per delivery used, µs: c_del for broadcast
	// fan-outs, the small fan-out figure below 100.
	DeliveryCPU float64
	// Resumes per second in steady state: rho * N / 60.
	Resumes float64
	// Spread is the CPU spread over instances (deliveries, publishes,
	// resumes), and Tail the CPU every instance spends on its tail, cores.
	Spread, Tail float64
	// TailBound: one instance's CPU budget does not cover the tail, so no
	// number of instances serves the scenario from one stream.
	TailBound bool
	// InstancesCPU, InstancesMemory and InstancesNet are the instances
	// each resource asks for; Instances the largest, at least I_min.
	InstancesCPU, InstancesMemory, InstancesNet, Instances int
	// Per instance.
	ConnsPer  float64
	CPUPer    float64 // cores
	MemoryPer float64 // GiB
	NetInPer  float64 // Mbit/s from NATS (the tail)
	NetOutPer float64 // Mbit/s to clients
	TailShare float64 // of CPUPer
	// Reach is an estimate of the time one event takes to reach its
	// subscribers on one instance, ms: their deliveries' CPU over the
	// instance's budget of cores.
	Reach       float64
	NATSCPU     float64 // cores, all nodes
	NATSEgress  float64 // Gbit/s per replica node, the tails
	Replication float64 // Gbit/s out of the leader
	NATSNodes   int     // 3, plus nodes holding mirrors for the tails' egress
	LeaderLoad  float64 // E / r_append
	// Window is how many seconds of the stream the replay window holds.
	Window float64
	// StormReplay is the events each connection of the storm replays:
	// what its subscription missed during t_out.
	StormReplay  float64
	StormCPU     float64 // CPU seconds of storm * N resumes
	StormSeconds float64 // to absorb them with every instance's spare CPU
	// StormStorage is the events the storm reads from storage (0 when the
	// outage fits in the window), StormStorageSeconds the time NATS takes
	// to serve them at r_storage.
	StormStorage, StormStorageSeconds float64
}

// WindowSeconds is how much of the stream, in seconds at e events/s, the
// replay window holds: w_events events or m_window bytes of events of S
// bytes of data and about b_tail of the rest.
func (v Values) WindowSeconds(e float64) float64 {
	events := math.Min(v["w_events"], v["m_window"]*(1<<20)/(v["S"]+v["b_tail"]))
	return events / e
}

// smallFanout is the fan-out below which c_del10's figure applies.
const smallFanout = 100

// DeliveryCPU is the CPU per delivery at fan-out f, µs. Below 100 it is
// workload 1's figure at 10 subscribers less the publish it divides among
// them (its publisher publishes to the same server, whose tail is part of
// c_pub), floored at c_del.
func (v Values) DeliveryCPU(f float64) float64 {
	if f >= smallFanout {
		return v["c_del"]
	}
	return math.Max(v["c_del"], v["c_del10"]-v["c_pub"]/10)
}

// Compute sizes s.
func (v Values) Compute(s Scenario) Plan {
	p := Plan{Scenario: s}
	const µs = 1e-6
	n, e := s.Connections, s.Events
	p.Deliveries = e * s.Fanout
	p.DeliveryCPU = v.DeliveryCPU(s.Fanout)
	p.Resumes = v["rho"] / 100 * n / 60
	resume := v["c_conn"] + v["x"]*v["c_replay"]
	// The instance that takes a publish pays c_pub, its tail included;
	// every other instance its tail alone.
	p.Spread = (p.Deliveries*p.DeliveryCPU + e*(v["c_pub"]-v["c_tail"]) + p.Resumes*resume) * µs
	p.Tail = e * v["c_tail"] * µs
	budget := v["u"] * v["K"]
	if p.Tail >= budget {
		p.TailBound = true
		p.InstancesCPU = math.MaxInt
	} else {
		p.InstancesCPU = int(math.Ceil(p.Spread / (budget - p.Tail)))
	}
	memFree := v["u"]*v["RAM"]*(1<<30) - (v["m_base"]+v["m_window"])*(1<<20)
	p.InstancesMemory = int(math.Ceil(n * v["m_conn"] * 1024 / memFree))
	// Instances send their deliveries over a NIC like a NATS node's.
	p.InstancesNet = int(math.Ceil(p.Deliveries * (v["S"] + v["env"]) * 8 / (v["u"] * v["nic"] * 1e9)))
	p.Instances = max(p.InstancesCPU, p.InstancesMemory, p.InstancesNet, int(v["I_min"]))
	if p.TailBound {
		return p
	}
	i := float64(p.Instances)
	p.ConnsPer = n / i
	p.CPUPer = p.Spread/i + p.Tail
	p.TailShare = p.Tail / p.CPUPer
	p.Reach = math.Max(1, s.Fanout/i) * p.DeliveryCPU / budget / 1000
	p.MemoryPer = ((v["m_base"]+v["m_window"])*(1<<20) + p.ConnsPer*v["m_conn"]*1024) / (1 << 30)
	p.NetInPer = e * (v["S"] + v["b_tail"]) * 8 / 1e6
	p.NetOutPer = p.Deliveries / i * (v["S"] + v["env"]) * 8 / 1e6

	p.NATSCPU = e * (v["n_event"] + (i-1)*math.Max(0, v["n_tail"])) * µs
	// The tails' consumers are placed on the stream's replicas: three
	// nodes share the egress to every instance.
	egress := i * e * (v["S"] + v["b_tail"]) * 8 / 1e9
	p.NATSEgress = egress / 3
	p.Replication = e * (2*v["S"] + v["b_repl"]) * 8 / 1e9
	perNode := v["u_nats"] * v["nic"]
	p.NATSNodes = 3
	if extra := egress - 3*perNode; extra > 0 {
		// Mirrors of the stream on further nodes serve some instances'
		// tails (a mirror keeps the origin's sequences).
		p.NATSNodes += int(math.Ceil(extra / perNode))
	}
	if cpuNodes := int(math.Ceil(p.NATSCPU / (v["u_nats"] * v["K_nats"]))); cpuNodes > p.NATSNodes {
		p.NATSNodes = cpuNodes
	}
	p.LeaderLoad = e / v["r_append"]

	p.Window = v.WindowSeconds(e)
	p.StormReplay = v["t_out"] * p.Deliveries / n
	p.StormCPU = v["storm"] / 100 * n * (v["c_conn"] + p.StormReplay*v["c_replay"]) * µs
	if spare := i * (v["K"] - p.CPUPer); spare > 0 {
		p.StormSeconds = p.StormCPU / spare
	}
	if v["t_out"] > p.Window {
		p.StormStorage = v["storm"] / 100 * n * p.StormReplay
		p.StormStorageSeconds = p.StormStorage / v["r_storage"]
	}
	return p
}

// Limits are the scenario-free ceilings of one stream.
type Limits struct {
	// TailOnly is the publish rate at which an instance's whole CPU budget
	// goes to its tail; TailQuarter, a quarter of it.
	TailOnly, TailQuarter float64
	// NetTail is the publish rate whose tail fills an instance's share of
	// a NIC like a NATS node's (nic * u_nats).
	NetTail float64
	// EgressEvents is I * E, instances times events/s, that the three
	// replicas' NICs carry to the tails.
	EgressEvents float64
	// Append is the measured append rate of one stream.
	Append float64
}

// Limits computes the ceilings.
func (v Values) Limits() Limits {
	budget := v["u"] * v["K"]
	perEvent := (v["S"] + v["b_tail"]) * 8
	return Limits{
		TailOnly:     budget / (v["c_tail"] * 1e-6),
		TailQuarter:  budget / 4 / (v["c_tail"] * 1e-6),
		NetTail:      v["u_nats"] * v["nic"] * 1e9 / perEvent,
		EgressEvents: 3 * v["u_nats"] * v["nic"] * 1e9 / perEvent,
		Append:       v["r_append"],
	}
}

// Scenarios are the worked examples: 1M and 10M connections, 100 and
// 10,000 events/s, fan-outs of 1 (private topics), 100 and 10,000
// (broadcast).
func Scenarios() []Scenario {
	var out []Scenario
	for _, n := range []float64{1e6, 1e7} {
		for _, e := range []float64{100, 10_000} {
			for _, f := range []float64{1, 100, 10_000} {
				out = append(out, Scenario{Connections: n, Events: e, Fanout: f})
			}
		}
	}
	return out
}
