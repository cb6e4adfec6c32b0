package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/bench/report"
	"github.com/rewind-dev/rewind/bench/workload"
)

// TestQuickCluster runs workload 8 as rewind-bench --quick does: a
// three-node nats-server cluster, one and then two Rewind instances on it,
// and one on its embedded JetStream. It checks that every mode delivered
// exactly what was published at every instance, that the two instances'
// tails were both measured, that the publish runs measured every process,
// that the tail cost ran its turns, and that the section takes its place in
// the report. It checks no figure.
func TestQuickCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := workload.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	opts := workload.SuiteOptions{Quick: true, Only: []string{"cluster"}}
	var progress strings.Builder
	env, err := workload.Setup(ctx, root, t.TempDir(), "", opts, &progress)
	if err != nil {
		t.Fatal(err)
	}
	c := runCluster(ctx, env, opts)
	t.Log("\n" + progress.String())
	if c == nil {
		t.Fatal("workload 8 did not run")
	}
	for _, f := range c.Failures() {
		t.Error(f)
	}
	for _, mode := range []string{workload.ClusterOne, workload.ClusterTwo, workload.ClusterEmbedded} {
		run := c.Run(mode)
		if run == nil {
			t.Errorf("mode %s did not run", mode)
			continue
		}
		wantNodes, wantInstances := 3, 1
		if mode == workload.ClusterEmbedded {
			wantNodes = 0
		}
		if mode == workload.ClusterTwo {
			wantInstances = 2
		}
		if run.Paced == nil || run.Publish == nil || len(run.Publish.Nodes) != wantNodes || len(run.Publish.Instances) != wantInstances || len(run.Paced.Instances) != wantInstances {
			t.Errorf("%s: publish runs measured %+v and %+v, want %d nodes and %d instances", mode, run.Paced, run.Publish, wantNodes, wantInstances)
		}
		if mode != workload.ClusterEmbedded && run.Leader == "" {
			t.Errorf("%s: no stream leader recorded", mode)
		}
		for _, s := range run.Steps {
			if len(s.Instances) != wantInstances {
				t.Errorf("%s: a step measured %d instances, want %d", mode, len(s.Instances), wantInstances)
			}
			for _, in := range s.Instances {
				if in.Delivered == 0 {
					t.Errorf("%s: instance %s delivered nothing", mode, in.Name)
				}
			}
			if mode == workload.ClusterTwo && (s.TailLag == nil || s.TailLag.Events == 0) {
				t.Errorf("%s: no tail lag measured", mode)
			}
		}
	}
	if c.Tails == nil || len(c.Tails.Turns) != 2 || c.Tails.PerTailBytes <= 0 {
		t.Errorf("the tail cost was not measured: %+v (want a turn without tails and one with, and bytes per tail)", c.Tails)
	}
	base, err := report.Write(&workload.Results{Quick: true}, report.Options{ChartLink: "docs/bench"})
	if err != nil {
		t.Fatal(err)
	}
	md := c.Splice(base)
	i, j := strings.Index(md, "## 8. Beyond one instance"), strings.Index(md, "Raw results of this run")
	if i < 0 || j < i {
		t.Errorf("section 8 is not before the link to the raw results:\n%s", md)
	}
	for _, want := range []string{"| " + workload.ClusterOne + " | R3 | ", "| " + workload.ClusterTwo + " | R3 | ", "| " + workload.ClusterEmbedded + " | R1 | ",
		"| cluster-2 | paced at 200 events/s |", "| cluster-1 | back to back |", "**Tail, per event per instance**"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if again := c.Splice(md); again != md {
		t.Error("splicing the section again changed the report")
	}
}
