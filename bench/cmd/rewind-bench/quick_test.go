package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/bench/report"
	"github.com/rewind-dev/rewind/bench/workload"
)

// TestQuick runs rewind-bench --quick end to end against Rewind, the
// gqlgen in-memory peer and the Node peer: every workload, small. It checks
// that the harness works (events delivered, none lost or repeated, a report
// and charts written), not any figure. The Node peer's dependencies are
// installed with npm ci when missing; without node and npm it fails.
func TestQuick(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root, err := workload.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	nodeDir := filepath.Join(root, "bench", "peers", "node")
	if err := workload.NodeReady(nodeDir); err != nil {
		t.Logf("%v: installing", err)
		if err := workload.NpmCI(ctx, nodeDir); err != nil {
			t.Fatalf("the Node peer cannot be installed (CI should run npm ci --prefix bench/peers/node): %v", err)
		}
	}
	opts := workload.SuiteOptions{Quick: true}
	var progress strings.Builder
	env, err := workload.Setup(ctx, root, t.TempDir(), "", opts, &progress)
	if err != nil {
		t.Fatal(err)
	}
	res := env.Suite(ctx, opts)
	t.Log("\n" + progress.String())
	for _, f := range res.Failures() {
		t.Error(f)
	}
	charts := t.TempDir()
	md, err := report.Write(res, report.Options{ChartDir: charts, ChartLink: "docs/bench"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Targets", "## 1. Fan-out", "## 2. Catch-up replay", "## 3. Cursor resolution",
		"## 4. Idle connections", "## 5. Publish", "## 6. Mixed", workload.GqlgenMem, workload.Node,
		"### Typed and filtered subscriptions", "| " + workload.RewindTyped + " |", "| " + workload.RewindFiltered + " |",
		"typed subscriptions (issue 16) | >= 0.8x untyped Rewind",
		"| 5 | publish batches of 1000 (POST /publish), 8 HTTP clients, fsync 2m (issue 25) | >= 0.3x raw JetStream async publish",
		"| 5 | publish batches of 1000 (POST /publish), 8 HTTP clients, fsync always (issue 25) | >= 10x the per-message rate",
		"| `POST /publish` | 100 | always | ", "| `publishBatch` | 1000 | 2m | "} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, png := range []string{"fanout-throughput.png", "fanout-latency.png"} {
		if fi, err := os.Stat(filepath.Join(charts, png)); err != nil || fi.Size() == 0 {
			t.Errorf("chart %s: %v", png, err)
		}
	}
	// Three servers, and Rewind's typed and filtered runs; Failures has
	// checked that each delivered, exactly what it should.
	if len(res.Fanout) != 5 {
		t.Errorf("fan-out ran %d times, want 5 (three servers, typed, filtered)", len(res.Fanout))
	}
}
