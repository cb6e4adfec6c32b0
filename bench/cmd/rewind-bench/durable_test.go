package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/bench/report"
	"github.com/rewind-dev/rewind/bench/workload"
)

// TestQuickDurable runs workload 7 (durable publish with group commit) as
// rewind-bench --quick does, and checks that it measured every mode, that
// every stream held exactly what was acknowledged, and that its section
// and target row take the report's placeholders. It checks no figure.
func TestQuickDurable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := workload.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	opts := workload.SuiteOptions{Quick: true, Only: []string{"durable"}, Peers: []string{workload.Rewind}}
	var progress strings.Builder
	env, err := workload.Setup(ctx, root, t.TempDir(), "", opts, &progress)
	if err != nil {
		t.Fatal(err)
	}
	d := runDurable(ctx, env, opts)
	t.Log("\n" + progress.String())
	if d == nil {
		t.Fatal("workload 7 did not run")
	}
	for _, f := range d.Failures() {
		t.Error(f)
	}
	for _, mode := range []string{workload.PerMessage, workload.GroupCommit, workload.RawSync} {
		if d.Run(mode, 64) == nil {
			t.Errorf("no %s run at 64 appenders", mode)
		}
	}
	if len(d.Idle) != 2 || len(d.HTTP) != 2 {
		t.Errorf("%d runs at no load and %d over HTTP, want 2 and 2", len(d.Idle), len(d.HTTP))
	}
	for _, idle := range d.Idle {
		if idle.Batched != 0 {
			t.Errorf("%s at no load: %d events stored by batches, want every one alone", idle.Mode, idle.Batched)
		}
	}
	base, err := report.Write(&workload.Results{Quick: true}, report.Options{ChartLink: "docs/bench"})
	if err != nil {
		t.Fatal(err)
	}
	md := d.Splice(base)
	for _, want := range []string{"| 7 | durable publish, 64 appenders, fsync always | >= 10x per-message rate, same run | ",
		"## 7. Durable publish (group commit)\n\nRewind's append path", "| 64 | group-commit | ", "| 64 | per-message | ",
		"| 64 | raw-jetstream-sync | ", "Raw results of this run"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "Not measured yet") || strings.Contains(md, "left for later") {
		t.Error("the report still has workload 7's placeholder")
	}
}
