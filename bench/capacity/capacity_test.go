package capacity

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testValues are round figures that make the arithmetic checkable by hand.
func testValues() Values {
	return Values{
		"m_conn": 20, "m_base": 32, "m_window": 64, "w_events": 100_000, "c_del": 10, "c_del10": 30, "c_tail": 20,
		"c_pub": 100, "c_conn": 100, "c_replay": 10, "n_event": 100, "n_tail": 10, "b_tail": 176, "b_repl": 200,
		"r_append": 50_000, "r_cluster": 2_000,
		"K": 8, "RAM": 16, "u": 0.5, "S": 1024, "env": 176, "K_nats": 8, "nic": 10, "u_nats": 0.5,
		"rho": 6, "x": 10, "storm": 10, "t_out": 30, "r_storage": 1_000_000, "I_min": 2,
	}
}

func TestCompute(t *testing.T) {
	v := testValues()
	if err := v.Check(); err != nil {
		t.Fatal(err)
	}
	p := v.Compute(Scenario{Connections: 1_000_000, Events: 1_000, Fanout: 1_000})
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("deliveries", p.Deliveries, 1e6)
	near("CPU per delivery", p.DeliveryCPU, 10)
	near("resumes/s", p.Resumes, 1_000) // 6% of 1M a minute
	// 1e6 deliveries x 10 µs + 1,000 publishes x 80 µs + 1,000 resumes x (100 + 10 x 10) µs.
	near("spread", p.Spread, 10+0.08+0.2)
	near("tail", p.Tail, 0.02)
	// Budget 4 cores less the tail: 10.28 / 3.98 -> 3.
	if p.InstancesCPU != 3 {
		t.Errorf("instances for CPU = %d, want 3", p.InstancesCPU)
	}
	// 1e6 x 20 KiB over 8 GiB - 96 MiB -> 3.
	if p.InstancesMemory != 3 {
		t.Errorf("instances for memory = %d, want 3", p.InstancesMemory)
	}
	// 1e6 x 1,200 bytes x 8 over 5 Gbit/s -> 2.
	if p.InstancesNet != 2 || p.Instances != 3 {
		t.Errorf("instances for the network %d and in all %d, want 2 and 3", p.InstancesNet, p.Instances)
	}
	near("NATS CPU", p.NATSCPU, 1_000*(100+2*10)*1e-6)
	near("tail egress per node", p.NATSEgress, 3*1_000*1_200*8/1e9/3)
	near("leader load", p.LeaderLoad, 0.02)
	// 30 s at 1,000 events/s fits in 100,000 events, and in 64 MiB of 1,200-byte events.
	near("window", p.Window, 64*(1<<20)/1_200.0/1_000)
	near("storm replay", p.StormReplay, 30)
	near("storm CPU", p.StormCPU, 100_000*(100+30*10)*1e-6)
	if p.StormStorage != 0 {
		t.Errorf("the storm read %v events from storage, want none: the outage fits in the window", p.StormStorage)
	}

	// A small fan-out's delivery is dearer: c_del10 less the publish each
	// of its 10 deliveries carried.
	near("small fan-out delivery", v.DeliveryCPU(1), 30-100.0/10)
	// A tail that takes an instance's whole budget leaves nothing to size.
	if p := v.Compute(Scenario{Connections: 1000, Events: 200_000, Fanout: 1}); !p.TailBound {
		t.Errorf("200,000 events/s x 20 µs = 4 cores of tail on a 4-core budget: want tail-bound, got %+v", p)
	}
}

func TestParseAndUpdate(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Model\n\n| symbol | figure | value | unit |\n|---|---|---|---|\n")
	for k, x := range testValues() {
		if k == "r_append" {
			b.WriteString("| `r_append` | appends | 50,000 | events/s |\n")
			continue
		}
		b.WriteString("| `" + k + "` | x | " + strings.TrimSpace(num(x)) + " | |\n")
	}
	b.WriteString("\nText.\n\n" + Begin + "\nstale\n" + End + "\n\nAfter.\n")
	md := b.String()
	v, err := Parse(md)
	if err != nil {
		t.Fatal(err)
	}
	if v["r_append"] != 50_000 || v["u"] != 0.5 {
		t.Errorf("parsed r_append %v and u %v, want 50000 and 0.5", v["r_append"], v["u"])
	}
	out, err := Update(md)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "stale") || !strings.Contains(out, "### Worked examples") || !strings.HasSuffix(out, End+"\n\nAfter.\n") {
		t.Errorf("update did not replace the generated part:\n%s", out)
	}
	if again, _ := Update(out); again != out {
		t.Error("updating twice changed the document")
	}
	if _, err := Parse(strings.Replace(md, "| `u` | x | 0.5 |", "| `u` | x | half |", 1)); err == nil {
		t.Error("a value that is not a number was accepted")
	}
	if _, err := Parse(strings.Replace(md, "| `u` |", "| `unused` |", 1)); err == nil {
		t.Error("a missing symbol was not reported")
	}
}

// TestDocCurrent checks that docs/capacity.md's derived tables are those
// of its own tables: a figure changed without rerunning the generator
// fails here.
func TestDocCurrent(t *testing.T) {
	file := filepath.Join("..", "..", "docs", "capacity.md")
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	md, err := Update(string(old))
	if err != nil {
		t.Fatal(err)
	}
	if md != string(old) {
		t.Error("docs/capacity.md is not current: run go run ./bench/cmd/rewind-capacity -w docs/capacity.md")
	}
}

func TestNum(t *testing.T) {
	for _, c := range []struct {
		x    float64
		want string
	}{{1024, "1,024"}, {77825, "77,825"}, {1e8, "100,000,000"}, {294_736.8, "295,000"}, {14.8, "14.8"}, {0.0315, "0.032"}, {4815.5, "4,820"}, {0, "0"}} {
		if got := num(c.x); got != c.want {
			t.Errorf("num(%v) = %q, want %q", c.x, got, c.want)
		}
	}
}
