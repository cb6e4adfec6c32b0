package capacity

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The generated part of docs/capacity.md lies between these markers.
const (
	Begin = "<!-- rewind-capacity: begin. Generated from the tables above by `go run ./bench/cmd/rewind-capacity -w docs/capacity.md`; edit the tables, not this. -->"
	End   = "<!-- rewind-capacity: end -->"
)

// Parse reads every table row of md whose first cell is a symbol in
// backquotes, taking the value from the column headed "value". Values may
// have thousands separators (1,000) and a percent sign.
func Parse(md string) (Values, error) {
	v := Values{}
	col := -1
	for line := range strings.Lines(md) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			col = -1
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if col < 0 {
			for i, c := range cells {
				if strings.EqualFold(c, "value") {
					col = i
				}
			}
			continue
		}
		sym, ok := strings.CutPrefix(cells[0], "`")
		if !ok || col >= len(cells) {
			continue
		}
		sym = strings.TrimSuffix(sym, "`")
		raw := strings.NewReplacer(",", "", "%", "", " ", "").Replace(cells[col])
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("capacity: %s's value %q is not a number", sym, cells[col])
		}
		if _, dup := v[sym]; dup {
			return nil, fmt.Errorf("capacity: %s is given twice", sym)
		}
		v[sym] = f
	}
	return v, v.Check()
}

// Update recomputes md's generated part from its tables.
func Update(md string) (string, error) {
	i, j := strings.Index(md, Begin), strings.Index(md, End)
	if i < 0 || j < i {
		return "", errors.New("capacity: the document has no generated part (its begin and end markers)")
	}
	v, err := Parse(md[:i])
	if err != nil {
		return "", err
	}
	return md[:i+len(Begin)] + "\n\n" + Render(v) + md[j:], nil
}

// Render writes the derived tables: the ceilings of one stream, then each
// worked example's instances, NATS nodes and reconnect storm.
func Render(v Values) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	l := v.Limits()
	w("### Ceilings of one stream\n\n")
	w("| ceiling | events/s | from |\n|---|---|---|\n")
	w("| an instance spends its whole budget (`u` x `K` = %s cores) on its tail | %s | `u` x `K` / `c_tail` |\n", num(v["u"]*v["K"]), num(l.TailOnly))
	w("| the tail takes a quarter of each instance's budget | %s | `u` x `K` / 4 / `c_tail` |\n", num(l.TailQuarter))
	w("| the tail fills %s of an instance's %s Gbit/s NIC (events of `S` = %s bytes) | %s | `u_nats` x `nic` / ((`S` + `b_tail`) x 8) |\n", num(v["u_nats"]), num(v["nic"]), num(v["S"]), num(l.NetTail))
	w("| the three replicas' NICs, at `u_nats`, carry the tails: instances x events/s | %s | 3 x `u_nats` x `nic` / ((`S` + `b_tail`) x 8) |\n", num(l.EgressEvents))
	w("| one stream's leader, measured (group commit, fsync always, loopback) | %s | `r_append` |\n", num(l.Append))
	w("| one instance publishing onto the three-node cluster over HTTP, measured (2 shared cores) | %s | `r_cluster` |\n\n", num(v["r_cluster"]))

	plans := make([]Plan, 0, 12)
	for _, s := range Scenarios() {
		plans = append(plans, v.Compute(s))
	}
	w("### Worked examples\n\n")
	w("Instances of `K` = %s cores and `RAM` = %s GiB at `u` = %s; events of `S` = %s bytes; one live subscription per connection; publishes spread over the instances; %s%% of the connections resume each minute, replaying `x` = %s events each.\n\n",
		num(v["K"]), num(v["RAM"]), num(v["u"]), num(v["S"]), num(v["rho"]), num(v["x"]))
	w("| connections | events/s | fan-out | deliveries/s | µs per delivery | instances (CPU / memory / network) | connections per instance | cores per instance (tail's share) | memory per instance GiB | in / out per instance Mbit/s | one event to its subscribers on an instance, ms |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range plans {
		if p.TailBound {
			w("| %s | %s | %s | %s | %s | none: the tail alone exceeds an instance | | | | | |\n", num(p.Connections), num(p.Events), num(p.Fanout), num(p.Deliveries), num(p.DeliveryCPU))
			continue
		}
		w("| %s | %s | %s | %s | %s | **%d** (%d / %d / %d) | %s | %s (%.0f%%) | %s | %s / %s | %s |\n", num(p.Connections), num(p.Events), num(p.Fanout), num(p.Deliveries), num(p.DeliveryCPU),
			p.Instances, p.InstancesCPU, p.InstancesMemory, p.InstancesNet, num(p.ConnsPer), num(p.CPUPer), 100*p.TailShare, num(p.MemoryPer), num(p.NetInPer), num(p.NetOutPer), num(p.Reach))
	}
	w("\nNATS, for the same examples: one stream, R3, `n_event` per event and `n_tail` per event per further instance, the tails' egress shared by the three replicas. Then a reconnect storm: after an outage of `t_out` = %s s, `storm` = %s%% of the connections resume at once, each replaying what its subscription missed (`t_out` x D / N events), from the replay window when the outage fits in it, else from storage, which NATS serves at `r_storage`; Rewind's part is absorbed by the instances' idle CPU (`K` less their load).\n\n", num(v["t_out"]), num(v["storm"]))
	w("| connections | events/s | fan-out | NATS cores, all nodes | tail egress per replica node Gbit/s | replication out of the leader Gbit/s | NATS nodes | leader load (E / `r_append`) | window holds s | storm: resumes | events each | Rewind CPU seconds | seconds for Rewind | events from storage | seconds for NATS |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range plans {
		if p.TailBound {
			continue
		}
		storage, storageTime := "0 (window)", "-"
		if p.StormStorage > 0 {
			storage, storageTime = num(p.StormStorage), "**"+num(p.StormStorageSeconds)+"**"
		}
		w("| %s | %s | %s | %s | %s | %s | **%d** | %.1f%% | %s | %s | %s | %s | %s | %s | %s |\n", num(p.Connections), num(p.Events), num(p.Fanout), num(p.NATSCPU), num(p.NATSEgress), num(p.Replication),
			p.NATSNodes, 100*p.LeaderLoad, num(p.Window), num(v["storm"]/100*p.Connections), num(p.StormReplay), num(p.StormCPU), num(p.StormSeconds), storage, storageTime)
	}
	w("\n")
	return b.String()
}

// num writes x with three significant figures at most and thousands
// separators.
func num(x float64) string {
	switch {
	case math.IsInf(x, 0) || math.IsNaN(x):
		return "-"
	case x == 0:
		return "0"
	case x == math.Trunc(x) && math.Abs(x) < 1e6:
		return group(strconv.FormatFloat(x, 'f', 0, 64))
	case math.Abs(x) >= 1000:
		return group(strconv.FormatFloat(math.Round(x/sig(x))*sig(x), 'f', 0, 64))
	case math.Abs(x) >= 100:
		return strconv.FormatFloat(math.Round(x), 'f', 0, 64)
	case math.Abs(x) >= 10:
		return trim(strconv.FormatFloat(x, 'f', 1, 64))
	case math.Abs(x) >= 1:
		return trim(strconv.FormatFloat(x, 'f', 2, 64))
	}
	return trim(strconv.FormatFloat(x, 'f', 3, 64))
}

// sig is the power of ten that keeps three significant figures of x.
func sig(x float64) float64 {
	return math.Pow(10, math.Floor(math.Log10(math.Abs(x)))-2)
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
