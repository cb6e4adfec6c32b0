// Command rewind-bench measures Rewind against its peers (a gqlgen
// in-memory server, a Node graphql-ws server and raw JetStream) in one run
// on this machine, each server a child process on 127.0.0.1, and writes
// BENCHMARKS.md and PNG charts. --quick runs every workload small, to check
// that the harness works.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only with --pprof
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rewind-dev/rewind/bench/report"
	"github.com/rewind-dev/rewind/bench/workload"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rewind-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	quick := flag.Bool("quick", false, "run each workload small (seconds): checks that the harness works")
	only := flag.String("only", "", "comma-separated workloads to run (fanout,replay,cursor,conns,publish,mixed,durable,cluster); empty: all")
	peers := flag.String("peers", "", "comma-separated peers (rewind,gqlgen-mem,node-graphql-ws); empty: all")
	out := flag.String("out", "", "write the report here (e.g. BENCHMARKS.md) and charts beside it in docs/bench; empty: print to stdout")
	merge := flag.Bool("merge", false, "with --only and --out: replace only those workloads' sections and target rows in the existing --out file, keeping every other figure")
	charts := flag.String("charts", "docs/bench", "folder for the PNG charts, relative to the module root")
	work := flag.String("work", "", "scratch folder (data, logs); empty: a temporary one, removed afterwards")
	rewindBin := flag.String("rewind-bin", "", "Rewind server binary; empty: build ./cmd/server (with --profile: ./bench/cmd/rewind-pprof)")
	profile := flag.String("profile", "", "write a CPU profile of Rewind to this file (runs Rewind from the pprof build, bench/cmd/rewind-pprof)")
	profileWorkload := flag.String("profile-workload", "fanout", "what to profile: fanout (30 s of the largest fan-out), replay (10 s of the catch-up replay), cursor (the first 5 s of the cursor lookups), publish (Rewind's publish run with fsync always), mixed (its first 10 s) or conns (heap and goroutine profiles with the first --conns count open, to FILE.heap and FILE.goroutine)")
	fanoutSubs := flag.String("fanout-subscribers", "", "comma-separated subscriber counts for the fan-out (default 10,100,1000; quick: 20)")
	connCounts := flag.String("conns", "", "comma-separated connection counts for the idle connections (default 10000; quick: 200); past about 20,000 per source address they come from more loopback addresses (127.0.0.2, ...), and each needs an open file in the harness and in the server")
	baseline := flag.String("baseline", "", "also measure the cursor resolution, idle connections and mixed load (workloads 3, 4 and 6) with Rewind built from this git revision (e.g. main), alternating with the tested build: before and after in one run")
	rev := flag.String("rev", "", "build the servers from this git revision (e.g. HEAD) instead of the working tree")
	rewindEnv := flag.String("rewind-env", "", "extra environment for Rewind, comma-separated KEY=VALUE (e.g. GOGC=400), for experiments")
	pprofAddr := flag.String("pprof", "", "serve the harness's own net/http/pprof on this loopback address, e.g. 127.0.0.1:6060")
	timeout := flag.Duration("timeout", 60*time.Minute, "stop everything after this long")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if *pprofAddr != "" {
		if !strings.HasPrefix(*pprofAddr, "127.") && !strings.HasPrefix(*pprofAddr, "localhost:") {
			return errors.New("--pprof must be a loopback address")
		}
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	}

	root, err := workload.ModuleRoot()
	if err != nil {
		return err
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "rewind-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	opts := workload.SuiteOptions{
		Quick:           *quick,
		Only:            list(*only),
		Peers:           list(*peers),
		ProfileFile:     *profile,
		ProfileWorkload: *profileWorkload,
		Rev:             *rev,
		Baseline:        *baseline,
	}
	for _, s := range list(*fanoutSubs) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("--fanout-subscribers: %q is not a positive number", s)
		}
		opts.FanoutSubscribers = append(opts.FanoutSubscribers, n)
	}
	for _, s := range list(*connCounts) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("--conns: %q is not a positive number", s)
		}
		opts.Conns = append(opts.Conns, n)
	}
	env, err := workload.Setup(ctx, root, dir, *rewindBin, opts, os.Stderr)
	if err != nil {
		return err
	}
	env.RewindEnv = list(*rewindEnv)
	res := env.Suite(ctx, opts)
	durable := runDurable(ctx, env, opts)
	cluster := runCluster(ctx, env, opts)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped: %w", ctx.Err())
	}
	// The run's time and load include the workloads run beside the suite.
	res.Took, res.Machine.LoadAfter = time.Since(res.Started).Seconds(), workload.LoadAverage()

	chartDir := *charts
	if !filepath.IsAbs(chartDir) {
		chartDir = filepath.Join(root, chartDir)
	}
	ropts := report.Options{ChartDir: chartDir, ChartLink: *charts}
	var nums []int
	if *merge {
		if *out == "" || len(opts.Only) == 0 {
			return errors.New("--merge needs --out and --only")
		}
		for _, w := range opts.Only {
			n, ok := report.Workloads[w]
			if !ok {
				return fmt.Errorf("--merge: unknown workload %q", w)
			}
			nums = append(nums, n)
		}
		ropts.RawName = "results-" + strings.Join(opts.Only, "-") + ".json"
	}
	md, err := report.Write(res, ropts)
	if err != nil {
		return err
	}
	md = durable.Splice(md)
	md = cluster.Splice(md)
	if *merge {
		old, err := os.ReadFile(*out)
		if err != nil {
			return err
		}
		source := res.Machine.Source
		if res.Machine.Baseline != "" {
			source += ", the baseline from " + res.Machine.Baseline
		}
		note := fmt.Sprintf("> Measured apart from the rest of this file, on %s UTC in %.0f s, with `go run ./bench/cmd/rewind-bench --only %s --merge --out %s%s` "+
			"(servers built from %s; load average %s before, %s after); raw results: [%s/%s](%s/%s).",
			res.Started.Format("2006-01-02 15:04"), res.Took, strings.Join(opts.Only, ","), filepath.Base(*out), flagsNote(),
			source, res.Machine.LoadBefore, res.Machine.LoadAfter, *charts, ropts.RawName, *charts, ropts.RawName)
		if md, err = report.Merge(string(old), md, nums, note); err != nil {
			return err
		}
	}
	if durable != nil {
		if err := writeJSON(filepath.Join(chartDir, "durable.json"), durable); err != nil {
			return err
		}
	}
	if cluster != nil {
		if err := writeJSON(filepath.Join(chartDir, "cluster.json"), cluster); err != nil {
			return err
		}
	}
	if *out == "" {
		fmt.Print(md)
	} else if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		return err
	}
	if errs := slices.Concat(res.Failures(), durable.Failures(), cluster.Failures()); len(errs) > 0 {
		return fmt.Errorf("%d checks failed:\n  %s", len(errs), strings.Join(errs, "\n  "))
	}
	return nil
}

// runDurable runs workload 7 unless --only leaves it out. It runs beside
// the suite, with its own result, which is spliced into the report.
func runDurable(ctx context.Context, env *workload.Env, opts workload.SuiteOptions) *workload.DurableResult {
	if len(opts.Only) > 0 && !slices.Contains(opts.Only, "durable") || ctx.Err() != nil {
		return nil
	}
	cfg := workload.DurableSize(opts.Quick)
	if len(opts.Peers) > 0 && !slices.Contains(opts.Peers, workload.Rewind) {
		cfg.HTTPClients = 0 // Rewind's server is not being compared
	}
	d := env.Durable(ctx, cfg)
	return &d
}

// runCluster runs workload 8 unless --only leaves it out, beside the
// suite as workload 7 does. It needs Rewind: --peers without it skips it.
func runCluster(ctx context.Context, env *workload.Env, opts workload.SuiteOptions) *workload.ClusterResult {
	if len(opts.Only) > 0 && !slices.Contains(opts.Only, "cluster") || ctx.Err() != nil {
		return nil
	}
	if len(opts.Peers) > 0 && !slices.Contains(opts.Peers, workload.Rewind) {
		return nil
	}
	c := env.Cluster(ctx, workload.ClusterSize(opts.Quick))
	return &c
}

// writeJSON keeps a workload's raw results beside the charts.
func writeJSON(file string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, raw, 0o644)
}

// flagsNote lists the flags that change what a merged section measured
// (its size, its builds), as given.
func flagsNote() string {
	var b strings.Builder
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "rev", "baseline", "conns", "fanout-subscribers", "peers":
			fmt.Fprintf(&b, " --%s %s", f.Name, f.Value)
		}
	})
	return b.String()
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
