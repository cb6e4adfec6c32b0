// Package report turns a rewind-bench run into BENCHMARKS.md, with every
// figure, every ratio against the peers and the targets of issue 3, and
// PNG charts drawn with gonum/plot.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rewind-dev/rewind/bench/workload"
)

// Options says where charts go.
type Options struct {
	// ChartDir receives the PNG charts; empty draws none.
	ChartDir string
	// ChartLink is ChartDir as linked from the Markdown.
	ChartLink string
	// RawName is the raw results' file name in ChartDir; empty is
	// results.json.
	RawName string
}

func (o Options) rawName() string {
	if o.RawName == "" {
		return "results.json"
	}
	return o.RawName
}

// Write renders r as Markdown, draws the charts and, beside them, keeps the
// raw results as JSON.
func Write(r *workload.Results, o Options) (string, error) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	var charts []string
	if o.ChartDir != "" {
		if err := os.MkdirAll(o.ChartDir, 0o755); err != nil {
			return "", err
		}
		var err error
		if charts, err = drawCharts(r, o.ChartDir); err != nil {
			return "", err
		}
		raw, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(filepath.Join(o.ChartDir, o.rawName()), raw, 0o644); err != nil {
			return "", err
		}
	}

	mode := "in full"
	if r.Quick {
		mode = "with --quick, a harness check whose figures mean nothing,"
	}
	w("# Benchmarks\n\n")
	w("Rewind against its peers, measured in one run of `go run ./bench/cmd/rewind-bench --out BENCHMARKS.md` ")
	w("%s on %s UTC, which took %.0f s. Every server is a child process on 127.0.0.1, ",
		mode, r.Started.Format("2006-01-02 15:04"), r.Took)
	w("driven by the harness's own graphql-transport-ws client (gorilla/websocket, one reading goroutine per connection); ")
	w("latency is from the publish time carried in each event's data to its arrival at the subscriber. ")
	w("Targets are those of issue 3; ratios compare figures measured in this same run.\n\n")
	m := r.Machine
	w("| machine | |\n|---|---|\n")
	w("| CPU | %s, %d cores |\n| memory | %d GiB |\n| kernel | Linux %s |\n", m.CPU, m.Cores, m.MemoryGiB, m.Kernel)
	w("| servers built from | %s |\n", m.Source)
	w("| Go | %s; nats-server %s, nats.go %s, gqlgen %s |\n", m.Go, m.NATSServer, m.NATSGo, m.Gqlgen)
	w("| Node | %s; %s |\n", m.Node, m.NodePeer)
	w("| load average (1, 5, 15 min) | %s before, %s after |\n\n", m.LoadBefore, m.LoadAfter)
	w("> The harness runs on the same 2 cores as the servers (its CPU use is shown beside each fan-out figure), and other work on the machine, if any, shows in the load averages above. ")
	w("Absolute figures are noisy; ratios between servers measured minutes apart in the same run are what to read.\n\n")
	w("Peers: **gqlgen-mem** is the simplest gqlgen server with the same `publish` mutation and `events` subscription, ")
	w("fanning out through Go channels with no storage, on gqlgen's stock WebSocket transport over gorilla/websocket ([bench/peers/gqlgenmem](bench/peers/gqlgenmem)); ")
	w("**node-graphql-ws** is graphql-ws on ws with graphql-subscriptions' PubSub ([bench/peers/node](bench/peers/node)); ")
	w("**raw-jetstream** is nats.go alone against an embedded nats-server with a file store, configured as Rewind's and under the same fsync policy in each comparison ([bench/rawjs](bench/rawjs)).\n\n")
	w("Rewind runs with its defaults (notably `NATS_SYNC=always`: fsync before every acknowledgement), except that its WebSocket connection limits are raised ")
	w("(`MAX_CONNECTIONS` and `MAX_CONNECTIONS_PER_ADDRESS` at 100,000) because the harness opens all connections from the loopback; workload 5 also measures `NATS_SYNC=2m`.\n\n")

	w("Rerun: `npm ci --prefix bench/peers/node` once, then `go run ./bench/cmd/rewind-bench --rev HEAD --out BENCHMARKS.md` ")
	w("(about 15 minutes; `--only fanout,replay,...` and `--peers rewind,...` narrow it, `--profile cpu.pprof` profiles Rewind, `--help` lists the rest). ")
	w("`go run ./bench/cmd/rewind-bench --quick` checks the harness in about half a minute, and `go test ./bench/cmd/rewind-bench` runs that check against every server. ")
	w("[docs/capacity.md](docs/capacity.md) turns these figures into a capacity model: the instances and NATS nodes a deployment needs.\n\n")
	summary(w, r)
	fanout(w, r, charts, o.ChartLink)
	replay(w, r)
	cursor(w, r)
	conns(w, r)
	publish(w, r)
	mixed(w, r)
	w("## 7. Durable publish (group commit)\n\nNot measured yet: coalescing appends into JetStream atomic batches changes Rewind's append path and is left for later.\n\n")
	if len(r.Errors) > 0 {
		w("## Errors\n\n")
		for _, e := range r.Errors {
			w("- %s\n", e)
		}
		w("\n")
	}
	w("Raw results of this run: [%s/%s](%s/%s).\n", o.ChartLink, o.rawName(), o.ChartLink, o.rawName())
	return b.String(), nil
}

type writer = func(string, ...any)

// fanoutRun is peer's best round at subs subscribers: the one whose
// fastest passing step is fastest.
func fanoutRun(r *workload.Results, peer string, subs int) *workload.FanoutRun {
	var best *workload.FanoutRun
	score := func(f *workload.FanoutRun) float64 {
		if f.Best < 0 {
			return -1
		}
		return f.Steps[f.Best].DeliveriesPerSec
	}
	for i := range r.Fanout {
		f := &r.Fanout[i]
		if f.Peer == peer && f.Subscribers == subs && f.Err == "" && len(f.Steps) > 0 && (best == nil || score(f) > score(best)) {
			best = f
		}
	}
	return best
}

func fanoutBest(r *workload.Results, peer string, subs int) *workload.FanoutStep {
	if f := fanoutRun(r, peer, subs); f != nil {
		return f.BestStep()
	}
	return nil
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func status(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func summary(w writer, r *workload.Results) {
	w("## Targets\n\n| # | workload | target | measured | |\n|---|---|---|---|---|\n")
	if rw := fanoutBest(r, workload.Rewind, r.FanoutAt); rw != nil {
		if g := fanoutBest(r, workload.GqlgenMem, r.FanoutAt); g != nil {
			w("| 1 | fan-out, %d subscribers | >= 0.8x gqlgen-mem deliveries/s | %.0f vs %.0f: %s | %s |\n",
				r.FanoutAt, rw.DeliveriesPerSec, g.DeliveriesPerSec, ratio(rw.DeliveriesPerSec, g.DeliveriesPerSec), status(rw.DeliveriesPerSec >= 0.8*g.DeliveriesPerSec))
		}
		if n := fanoutBest(r, workload.Node, r.FanoutAt); n != nil {
			w("| 1 | fan-out, %d subscribers | >= 3x node-graphql-ws deliveries/s | %.0f vs %.0f: %s | %s |\n",
				r.FanoutAt, rw.DeliveriesPerSec, n.DeliveriesPerSec, ratio(rw.DeliveriesPerSec, n.DeliveriesPerSec), status(rw.DeliveriesPerSec >= 3*n.DeliveriesPerSec))
		}
	}
	if rw, ty := fanoutBest(r, workload.Rewind, r.FanoutAt), fanoutBest(r, workload.RewindTyped, r.FanoutAt); rw != nil && ty != nil {
		w("| 1 | fan-out, %d subscribers, typed subscriptions (issue 16) | >= 0.8x untyped Rewind deliveries/s | %.0f vs %.0f: %s | %s |\n",
			r.FanoutAt, ty.DeliveriesPerSec, rw.DeliveriesPerSec, ratio(ty.DeliveriesPerSec, rw.DeliveriesPerSec), status(ty.DeliveriesPerSec >= 0.8*rw.DeliveriesPerSec))
	}
	if p := r.Replay; p != nil && p.Err == "" {
		w("| 2 | catch-up replay, %d events | >= 0.5x raw ordered-consumer read | %.0f vs %.0f events/s: %s | %s |\n",
			p.Events, p.Rewind, p.Raw, ratio(p.Rewind, p.Raw), status(p.Rewind >= 0.5*p.Raw))
	}
	if runs := cursorRuns(r, workload.Rewind); len(runs) > 0 {
		met := true
		var p99, p50 []float64
		for _, c := range runs {
			met = met && c.Latency.P99 < 10
			p99, p50 = append(p99, c.Latency.P99), append(p50, c.Latency.P50)
		}
		w("| 3 | cursor resolution, %d-event stream | p99 time to first event < 10 ms | p99 %s ms (p50 %s ms)%s | %s |\n",
			runs[0].Events, figures(p99), figures(p50), cursorBaselineNote(r), status(met))
	}
	connsTargets(w, r)
	if p := r.Publish; p != nil {
		for _, raw := range p.Raw {
			if rw := rewindPublish(p, raw.FSync); rw != nil {
				w("| 5 | publish, %d HTTP clients, fsync %s | >= 0.3x raw JetStream async publish, same fsync | %.0f vs %.0f events/s: %s | %s |\n",
					rw.Clients, raw.FSync, rw.Rate, raw.Async, ratio(rw.Rate, raw.Async), status(rw.Rate >= 0.3*raw.Async))
			}
		}
		batchTargets(w, p)
	}
	if runs := mixedRuns(r, workload.Rewind); len(runs) > 0 {
		met := true
		var p99, rate []float64
		var gaps, dups, errs int64
		for _, mx := range runs {
			met = met && mx.Err == "" && mx.Gaps == 0 && mx.Duplicates == 0 && mx.Latency.P99 < 50 && mx.PublishRate >= 0.95*mx.Config.Rate
			p99, rate = append(p99, mx.Latency.P99), append(rate, mx.PublishRate)
			gaps, dups, errs = gaps+mx.Gaps, dups+mx.Duplicates, errs+mx.Errors
		}
		c := runs[0].Config
		w("| 6 | mixed: %.0f events/s, %d topics, %d subscribers reconnecting | p99 < 50 ms, zero gaps or duplicates, the rate reached | p99 %s ms at %s events/s, %d gaps, %d duplicates, %d subscriptions ended by errors%s | %s |\n",
			c.Rate, c.Topics, c.Subscribers, figures(p99), figures0(rate), gaps, dups, errs, mixedBaselineNote(r), status(met))
	}
	w("| 7 | durable publish (group commit) | >= 10x per-message fsync-always rate | not implemented | **left for later** |\n\n")
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func fanout(w writer, r *workload.Results, charts []string, link string) {
	if len(r.Fanout) == 0 {
		return
	}
	w("## 1. Fan-out\n\n")
	w("One topic; every subscriber has its own WebSocket connection and one `events` subscription selecting every field of `Event`. ")
	w("The harness publishes with the `publish` mutation over HTTP (keep-alive, up to 32 requests in flight) at a rate that rises by 1.5x per step of a few seconds, ")
	w("and stops at the first step whose p99 latency is over 100 ms, that loses or repeats a delivery, or whose publishing cannot keep the rate. ")
	if r.FanoutRounds > 1 {
		w("Each server ran the whole ramp %d times, minutes apart; the tables show its better round, and every step of every round is listed below. ", r.FanoutRounds)
	}
	w("The figure is the fastest step that passed. Server CPU is in percent of one core (200%% is the whole machine); ")
	w("CPU time per delivery is the figure least disturbed by other work on the machine.\n\n")
	if len(charts) > 0 {
		for _, c := range charts {
			w("![%s](%s/%s)\n", strings.TrimSuffix(c, ".png"), link, c)
		}
		w("\n")
	}
	w("| subscribers | server | deliveries/s | events/s | p50 ms | p99 ms | max ms | server CPU | server CPU µs per delivery | server RSS | harness CPU | next step stopped by |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	runs := slices.Clone(r.Fanout)
	slices.SortStableFunc(runs, func(a, b workload.FanoutRun) int { return a.Subscribers - b.Subscribers })
	for _, f := range runs {
		if b := fanoutRun(r, f.Peer, f.Subscribers); b != nil && (b.Round != f.Round) {
			continue // another round of this server did better
		}
		if f.Err != "" {
			w("| %d | %s | error: %s |||||||||\n", f.Subscribers, f.Peer, oneLine(f.Err))
			continue
		}
		s := f.BestStep()
		if s == nil {
			continue
		}
		stop := "(last step)"
		if f.Best+1 < len(f.Steps) {
			stop = f.Steps[f.Best+1].Why
		}
		if f.Best < 0 {
			stop = "first step failed: " + s.Why
		}
		w("| %d | %s | %.0f | %.0f | %.1f | %.1f | %.1f | %.0f%% | %.1f | %s | %.0f%% | %s |\n",
			f.Subscribers, f.Peer, s.DeliveriesPerSec, s.PublishRate, s.Latency.P50, s.Latency.P99, s.Latency.Max,
			s.Server.CPUPercent, s.Server.PerItem(s.Delivered), mib(s.Server.RSS), s.HarnessCPU, oneLine(stop))
	}
	w("\n")
	subs := map[int]bool{}
	for _, f := range r.Fanout {
		subs[f.Subscribers] = true
	}
	if fanoutRun(r, workload.Rewind, 10) != nil {
		w("At 10 subscribers every server's ramp ends where its `publish` mutation cannot go faster (see workload 5), not at a fan-out limit.\n\n")
	}
	if rate, steps := commonRate(r, r.FanoutAt); len(steps) > 1 {
		w("At the same load, the fastest step every server passed at %d subscribers (%.0f events/s asked, %.0f deliveries/s):\n\n", r.FanoutAt, rate, rate*float64(r.FanoutAt))
		w("| server | p50 ms | p99 ms | max ms | server CPU µs per delivery | Rewind's CPU per delivery / this |\n|---|---|---|---|---|---|\n")
		rw := steps[workload.Rewind]
		for _, peer := range peerOrder {
			st := steps[peer]
			if st == nil {
				continue
			}
			rel := "n/a"
			if rw != nil {
				rel = ratio(rw.Server.PerItem(rw.Delivered), st.Server.PerItem(st.Delivered))
			}
			w("| %s | %.1f | %.1f | %.1f | %.1f | %s |\n", peer, st.Latency.P50, st.Latency.P99, st.Latency.Max, st.Server.PerItem(st.Delivered), rel)
		}
		w("\n")
	}
	w("Ratios (Rewind / peer, deliveries/s):\n\n| subscribers | vs gqlgen-mem | vs node-graphql-ws |\n|---|---|---|\n")
	for _, s := range slices.Sorted(mapsKeys(subs)) {
		rw := fanoutBest(r, workload.Rewind, s)
		if rw == nil {
			continue
		}
		g, n := "n/a", "n/a"
		if p := fanoutBest(r, workload.GqlgenMem, s); p != nil {
			g = ratio(rw.DeliveriesPerSec, p.DeliveriesPerSec)
		}
		if p := fanoutBest(r, workload.Node, s); p != nil {
			n = ratio(rw.DeliveriesPerSec, p.DeliveriesPerSec)
		}
		w("| %d | %s | %s |\n", s, g, n)
	}
	variants(w, r)
	w("\n<details><summary>Every step</summary>\n\n| round | server | subscribers | events/s asked | events/s | deliveries/s | p50 ms | p99 ms | max ms | missing | server CPU | µs per delivery | harness CPU | result |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range runs {
		if f.Err != "" {
			w("| %d | %s | %d | error: %s |||||||||||\n", f.Round, f.Peer, f.Subscribers, oneLine(f.Err))
		}
		for _, s := range f.Steps {
			res := "ok"
			if !s.Pass {
				res = oneLine(s.Why)
			}
			w("| %d | %s | %d | %.0f | %.0f | %.0f | %.1f | %.1f | %.1f | %d | %.0f%% | %.1f | %.0f%% | %s |\n",
				f.Round, f.Peer, f.Subscribers, s.Rate, s.PublishRate, s.DeliveriesPerSec, s.Latency.P50, s.Latency.P99, s.Latency.Max, s.Missing, s.Server.CPUPercent, s.Server.PerItem(s.Delivered), s.HarnessCPU, res)
		}
	}
	w("\n</details>\n\n")
}

// variants describes Rewind's typed and filtered runs beside its untyped
// one.
func variants(w writer, r *workload.Results) {
	rw := fanoutBest(r, workload.Rewind, r.FanoutAt)
	ty := fanoutBest(r, workload.RewindTyped, r.FanoutAt)
	fi := fanoutBest(r, workload.RewindFiltered, r.FanoutAt)
	if rw == nil || (ty == nil && fi == nil) {
		return
	}
	w("### Typed and filtered subscriptions\n\n")
	w("At %d subscribers Rewind also ran the same ramp, with the same steps and pass rule, right after its untyped run in each round:\n\n", r.FanoutAt)
	w("- **rewind** (untyped): the `events` subscription above, `data` as JSON.\n")
	w("- **rewind-typed**: Rewind started with `--schema` declaring the harness's event as `type BenchEvent @event(topics: \"fanout\", type: \"bench\") { ts: ID! n: Int! }` ")
	w("(`ts` is an ID because Unix nanoseconds overflow GraphQL's 32-bit Int); the publisher publishes with `type: \"bench\"`, so every event is checked against the type, ")
	w("and each subscriber subscribes with `benchEvent(topics: [\"fanout\"]) { id topic time live data { ts n } }`.\n")
	w("- **rewind-filtered**: the publisher adds `k = n %% %d` to the data, and subscriber *i* subscribes to `events` with `where: {path: \"k\", eq: i %% %d}`: ", workload.FanoutFilters, workload.FanoutFilters)
	w("%d distinct filters, %d subscribers each, every event wanted by a tenth of them. The harness checks that each subscriber gets every event its filter keeps exactly once and nothing else; ", workload.FanoutFilters, r.FanoutAt/workload.FanoutFilters)
	w("deliveries/s count what subscribers should get, so for the same deliveries/s it publishes %d times as many events as the unfiltered run.\n\n", workload.FanoutFilters)
	w("| run | deliveries/s | events/s | p50 ms | p99 ms | server CPU µs per delivery | deliveries/s vs untyped, unfiltered | CPU per delivery, untyped unfiltered / this |\n|---|---|---|---|---|---|---|---|\n")
	for _, v := range []struct {
		name string
		st   *workload.FanoutStep
	}{{workload.Rewind, rw}, {workload.RewindTyped, ty}, {workload.RewindFiltered, fi}} {
		if v.st == nil {
			continue
		}
		w("| %s | %.0f | %.0f | %.1f | %.1f | %.1f | %s | %s |\n", v.name, v.st.DeliveriesPerSec, v.st.PublishRate, v.st.Latency.P50, v.st.Latency.P99,
			v.st.Server.PerItem(v.st.Delivered), ratio(v.st.DeliveriesPerSec, rw.DeliveriesPerSec),
			ratio(rw.Server.PerItem(rw.Delivered), v.st.Server.PerItem(v.st.Delivered)))
	}
	w("\nThe last column compares server CPU time per delivery at each run's fastest passing step (above 1 means the run costs less per delivery than the untyped, unfiltered one); ")
	w("on a shared machine it moves less than deliveries/s, which depends on when other work took the cores. ")
	w("The filtered run's CPU includes publishing %d times as many events for the same deliveries.\n\n", workload.FanoutFilters)
	// Steps rise by half: one step's p99 moves the fastest passing
	// step's ratio to 0.67x or 1.5x. At one asked rate the CPU compares.
	peers := []string{workload.Rewind, workload.RewindTyped}
	if rate, at := sameStep(r, r.FanoutAt, peers); at[workload.RewindTyped] != nil && at[workload.Rewind] != nil {
		u, t := at[workload.Rewind], at[workload.RewindTyped]
		w("Steps rise by half, so one step's p99 moves the ratio of fastest passing steps between 0.67x, 1x and 1.5x. At the highest step both passed (%.0f events/s asked, in any round), ", rate)
		w("typed subscriptions cost %.1f µs of server CPU per delivery against %.1f untyped: %s untyped's deliveries per CPU-second.\n\n",
			t.Server.PerItem(t.Delivered), u.Server.PerItem(u.Delivered), ratio(u.Server.PerItem(u.Delivered), t.Server.PerItem(t.Delivered)))
	}
}

// commonRate finds the highest asked rate at which every server that ran
// at subs subscribers passed a step, and each server's step there.
func commonRate(r *workload.Results, subs int) (float64, map[string]*workload.FanoutStep) {
	return sameStep(r, subs, peerOrder) // the Rewind variants ramp on their own terms
}

// sameStep finds the highest asked rate at which each of peers that ran
// at subs subscribers passed a step, in any round, and each one's first
// step that passed there.
func sameStep(r *workload.Results, subs int, peers []string) (float64, map[string]*workload.FanoutStep) {
	key := func(rate float64) int64 { return int64(rate*1000 + 0.5) }
	passed := map[string]map[int64]*workload.FanoutStep{}
	for i := range r.Fanout {
		f := &r.Fanout[i]
		if f.Subscribers != subs || f.Err != "" || !slices.Contains(peers, f.Peer) {
			continue
		}
		if passed[f.Peer] == nil {
			passed[f.Peer] = map[int64]*workload.FanoutStep{}
		}
		for j := range f.Steps {
			if st := &f.Steps[j]; st.Pass && passed[f.Peer][key(st.Rate)] == nil {
				passed[f.Peer][key(st.Rate)] = st
			}
		}
	}
	var best int64 = -1
	var rate float64
	for _, st := range passed[peers[0]] {
		k := key(st.Rate)
		all := true
		for _, m := range passed {
			if m[k] == nil {
				all = false
			}
		}
		if all && k > best {
			best, rate = k, st.Rate
		}
	}
	if best < 0 {
		return 0, nil
	}
	out := map[string]*workload.FanoutStep{}
	for peer, m := range passed {
		out[peer] = m[best]
	}
	return rate, out
}

func mapsKeys(m map[int]bool) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

func replay(w writer, r *workload.Results) {
	p := r.Replay
	if p == nil {
		return
	}
	w("## 2. Catch-up replay\n\n")
	w("A stream of %d events on one topic, written by two concurrent writers through Rewind's eventstore (%.0f events/s). ", p.Events, p.FillRate)
	w("Raw: one nats.go ordered consumer reads the whole stream, in-process against an embedded nats-server on the same data folder. ")
	w("Rewind: a freshly started server; one WebSocket subscription from the zero ULID receives every event (checked: none missing, none repeated).\n\n")
	if p.Err != "" {
		w("Error: %s\n\n", oneLine(p.Err))
		return
	}
	w("| reader | events/s | seconds | server CPU | server CPU µs per event | server RSS |\n|---|---|---|---|---|---|\n")
	w("| raw JetStream ordered consumer | %.0f | %.1f | | | |\n", p.Raw, p.RawTime)
	w("| Rewind subscription over WebSocket | %.0f | %.1f | %.0f%% | %.1f | %s |\n\n", p.Rewind, p.RewindTime, p.Server.CPUPercent, p.Server.PerItem(int64(p.Events)), mib(p.Server.RSS))
	w("Rewind / raw: %s (target >= 0.5x). Missing %d, duplicates %d.\n\n", ratio(p.Rewind, p.Raw), p.Missing, p.Duplicates)
}

func cursor(w writer, r *workload.Results) {
	if len(r.Cursor) == 0 {
		return
	}
	c := r.Cursor[0]
	w("## 3. Cursor resolution\n\n")
	w("The same %d-event, two-writer stream. A freshly started Rewind (so no cursor is in its cache of recent ids) receives %d subscriptions, one after another on one connection, ", c.Events, c.Cursors)
	w("each from a random event's id (the same ids in every run); the time is from sending `subscribe` to receiving the first replayed event, which is checked to be the event right after the cursor.\n\n")
	if r.Machine.Baseline != "" {
		w("**%s** is Rewind built from %s, measured alternately with the tested build (baseline, tested, tested, baseline) in this same run, each on a freshly started server.\n\n", workload.RewindBaseline, r.Machine.Baseline)
	}
	w("| server | cursors | p50 ms | p99 ms | max ms | wrong first event |\n|---|---|---|---|---|---|\n")
	for _, c := range r.Cursor {
		if c.Err != "" {
			w("| %s | %d | error: %s ||||\n", roundName(c.Peer, c.Round), c.Cursors, oneLine(c.Err))
			continue
		}
		w("| %s | %d | %.1f | %.1f | %.1f | %d |\n", roundName(c.Peer, c.Round), c.Cursors, c.Latency.P50, c.Latency.P99, c.Latency.Max, c.Wrong)
	}
	w("\n")
	after, before := cursorRuns(r, workload.Rewind), cursorRuns(r, workload.RewindBaseline)
	if len(after) > 0 && len(before) > 0 {
		p99 := func(c workload.CursorResult) float64 { return c.Latency.P99 }
		p50 := func(c workload.CursorResult) float64 { return c.Latency.P50 }
		w("Mean of the rounds: p99 %.1f ms against the baseline's %.1f ms, %s; p50 %.1f ms against %.1f ms, %s.\n\n",
			mean(after, p99), mean(before, p99), ratio(mean(after, p99), mean(before, p99)),
			mean(after, p50), mean(before, p50), ratio(mean(after, p50), mean(before, p50)))
	}
	w("Where a lookup's time goes (profiles of the server, the block loads, and what smaller blocks and garbage collection change): [%s](%s#cursor-resolution).\n\n", findings, findings)
}

// findings is where the profiles of workloads 3 and 6 are discussed.
const findings = "docs/bench/where-the-time-goes.md"

// cursorRuns is peer's runs of workload 3, without those that failed.
func cursorRuns(r *workload.Results, peer string) []workload.CursorResult {
	var out []workload.CursorResult
	for _, c := range r.Cursor {
		if c.Peer == peer && c.Err == "" {
			out = append(out, c)
		}
	}
	return out
}

// cursorBaselineNote is the baseline's figures for workload 3's target
// row, if it ran.
func cursorBaselineNote(r *workload.Results) string {
	var p99 []float64
	for _, c := range cursorRuns(r, workload.RewindBaseline) {
		p99 = append(p99, c.Latency.P99)
	}
	if len(p99) == 0 {
		return ""
	}
	return fmt.Sprintf("; before (%s): p99 %s ms", shortRev(r.Machine.Baseline), figures(p99))
}

// mixedRuns is peer's runs of workload 6, without those that failed.
func mixedRuns(r *workload.Results, peer string) []workload.MixedResult {
	var out []workload.MixedResult
	for _, m := range r.Mixed {
		if m.Peer == peer && m.Err == "" {
			out = append(out, m)
		}
	}
	return out
}

// mixedBaselineNote is the baseline's figures for workload 6's target
// row, if it ran.
func mixedBaselineNote(r *workload.Results) string {
	var p99, rate []float64
	for _, m := range mixedRuns(r, workload.RewindBaseline) {
		p99, rate = append(p99, m.Latency.P99), append(rate, m.PublishRate)
	}
	if len(p99) == 0 {
		return ""
	}
	return fmt.Sprintf("; before (%s): p99 %s ms at %s events/s", shortRev(r.Machine.Baseline), figures(p99), figures0(rate))
}

// shortRev is the abbreviated commit of a build description ("commit
// 4f68904..."), or the description.
func shortRev(build string) string {
	if rev, ok := strings.CutPrefix(build, "commit "); ok && len(rev) > 7 {
		return rev[:7]
	}
	return build
}

// roundName names a server's run: its name, and its round if it ran in
// several.
func roundName(peer string, round int) string {
	if round > 0 {
		return fmt.Sprintf("%s (round %d)", peer, round)
	}
	return peer
}

// figures lists values with one decimal: "37.8" or "37.8 and 41.2".
func figures(vs []float64) string { return joinFigures(vs, "%.1f") }

// figures0 lists values without decimals.
func figures0(vs []float64) string { return joinFigures(vs, "%.0f") }

func joinFigures(vs []float64, format string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf(format, v)
	}
	if len(out) <= 1 {
		return strings.Join(out, "")
	}
	return strings.Join(out[:len(out)-1], ", ") + " and " + out[len(out)-1]
}

// mean is the mean of f over runs.
func mean[T any](runs []T, f func(T) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	sum := 0.0
	for _, r := range runs {
		sum += f(r)
	}
	return sum / float64(len(runs))
}

// connsTargets writes workload 4's target rows: per connection at the
// first count (the mean of Rewind's rounds), and the 100,000 connections
// of issue 25, or, when they could not be measured, the most that were.
func connsTargets(w writer, r *workload.Results) {
	counts := connCounts(r)
	if len(counts) == 0 {
		return
	}
	n := counts[0]
	if perConn, ok := meanPerConn(connsRuns(r, workload.Rewind, n)); ok {
		w("| 4 | %d idle connections | <= 16 KiB RSS per connection | %.1f KiB | %s |\n", n, perConn/1024, status(perConn <= 16*1024))
		w("| 4 | %d idle connections (issue 25) | <= 6 KiB RSS per connection | %.1f KiB | %s |\n", n, perConn/1024, status(perConn <= 6*1024))
		for _, node := range connsRuns(r, workload.Node, n) {
			if node.Err == "" {
				w("| 4 | %d idle connections | no more than node-graphql-ws per connection | %.1f vs %.1f KiB | %s |\n",
					n, perConn/1024, node.PerConn/1024, status(perConn <= node.PerConn))
			}
		}
	}
	const target = "| 4 | 100,000 idle connections (issue 25) | server under 1 GiB RSS, every subscription receiving a published event |"
	var large, failed, most *workload.ConnsRun
	for i := range r.Conns {
		c := &r.Conns[i]
		switch {
		case c.Peer != workload.Rewind:
		case c.Err == "" && c.Connections >= 100_000 && (large == nil || c.RSSAfter > large.RSSAfter):
			large = c
		case c.Err != "" && c.Connections >= 100_000:
			failed = c
		case c.Err == "" && (most == nil || c.Connections > most.Connections || c.Connections == most.Connections && c.RSSAfter > most.RSSAfter):
			most = c
		}
	}
	switch {
	case large != nil:
		w("%s %d connections: %s RSS, one event to all in %.0f ms (p99 %.0f ms) | %s |\n",
			target, large.Connections, mib(large.RSSAfter), large.Fanout.ToAll, large.Fanout.P99, status(large.RSSAfter < 1<<30))
	case failed != nil && most != nil:
		w("%s not measured: %s. The most measured, %d: %s RSS (the larger of the rounds), one event to all in %.0f ms (p99 %.0f ms) | **not measured** |\n",
			target, oneLine(failed.Err), most.Connections, mib(most.RSSAfter), most.Fanout.ToAll, most.Fanout.P99)
	case failed != nil:
		w("%s not measured: %s | **not measured** |\n", target, oneLine(failed.Err))
	default:
		w("%s not measured in this run (`--only conns --conns 100000`) | |\n", target)
	}
}

// connCounts lists workload 4's connection counts in the order run.
func connCounts(r *workload.Results) []int {
	var out []int
	for _, c := range r.Conns {
		if !slices.Contains(out, c.Connections) {
			out = append(out, c.Connections)
		}
	}
	return out
}

// connsRuns is peer's runs of workload 4 at n connections.
func connsRuns(r *workload.Results, peer string, n int) []workload.ConnsRun {
	var out []workload.ConnsRun
	for _, c := range r.Conns {
		if c.Peer == peer && c.Connections == n {
			out = append(out, c)
		}
	}
	return out
}

// meanPerConn is the mean RSS per connection of runs without errors.
func meanPerConn(runs []workload.ConnsRun) (float64, bool) {
	sum, k := 0.0, 0
	for _, c := range runs {
		if c.Err == "" {
			sum += c.PerConn
			k++
		}
	}
	if k == 0 {
		return 0, false
	}
	return sum / float64(k), true
}

func conns(w writer, r *workload.Results) {
	if len(r.Conns) == 0 {
		return
	}
	w("## 4. Idle connections\n\n")
	w("Each server gets one warm-up connection, then N more WebSocket connections (from several loopback source addresses, 127.0.0.1 and up) with one live `events` subscription each; ")
	w("events are published until every subscription has received one (so every subscription is live); a server with Go runtime figures on its /metrics (Rewind) is then left until its goroutines settle ")
	w("(fewer than one per 100 connections above its count before them, or no fall for 2 s: **settled after**), so that what is read is what idle connections hold; ")
	w("then the server's RSS is read from /proc and, for Rewind, its heap in use, goroutine stacks and goroutines from its /metrics. Growth per connection = (after - before) / N. ")
	w("Then %d events are published one at a time, each once every connection has the one before: **to all** is the time from an event's publish ", 5)
	w("(the publish time carried in its data, taken before the publish request, which waits for fsync) until the last connection had it, the median of the events (the slowest in brackets); ")
	w("p50 and p99 are over every delivery. The harness's client, one reading goroutine per connection, shares the 2 cores with the server.\n\n")
	if r.Machine.Baseline != "" {
		w("**%s** is Rewind built from %s, measured alternately with the tested build (baseline, tested, tested, baseline) in this same run.\n\n", workload.RewindBaseline, r.Machine.Baseline)
	}
	w("| server | connections | sources | connect time s | settled after s | RSS before | RSS after | RSS per connection | heap per connection | stacks per connection | goroutines per connection | to all ms | p50 ms | p99 ms |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.Conns {
		name := c.Peer
		if c.Round > 0 {
			name = fmt.Sprintf("%s (round %d)", c.Peer, c.Round)
		}
		if c.Err != "" {
			w("| %s | %d | %d | error: %s |||||||||||\n", name, c.Connections, c.Sources, oneLine(c.Err))
			continue
		}
		heap, stack, gor, settled := "", "", "", ""
		if c.Runtime != nil {
			settled = fmt.Sprintf("%.1f", c.Settle)
			h, s, g := c.Runtime.PerConn(c.Connections)
			if math.Abs(g) < 0.005 {
				g = 0 // a goroutine fewer than before is not "-0.00" each
			}
			heap, stack, gor = fmt.Sprintf("%.1f KiB", h/1024), fmt.Sprintf("%.1f KiB", s/1024), fmt.Sprintf("%.2f", g)
		}
		fan := " | | |"
		if f := c.Fanout; f != nil {
			fan = fmt.Sprintf("%.0f (%.0f) | %.0f | %.0f |", f.ToAll, f.ToAllMax, f.P50, f.P99)
		}
		w("| %s | %d | %d | %.1f | %s | %s | %s | %.1f KiB | %s | %s | %s | %s\n", name, c.Connections, c.Sources, c.ConnectTime, settled,
			mib(c.RSSBefore), mib(c.RSSAfter), c.PerConn/1024, heap, stack, gor, fan)
	}
	w("\n")
	for _, n := range connCounts(r) {
		after, ok1 := meanPerConn(connsRuns(r, workload.Rewind, n))
		before, ok2 := meanPerConn(connsRuns(r, workload.RewindBaseline, n))
		if ok1 && ok2 {
			w("At %d connections, RSS per connection (mean of the rounds): %.1f KiB against the baseline's %.1f KiB, %s.\n\n", n, after/1024, before/1024, ratio(after, before))
		}
	}
}

func publish(w writer, r *workload.Results) {
	p := r.Publish
	if p == nil {
		return
	}
	w("## 5. Publish\n\n")
	w("Concurrent HTTP clients, each sending `publish` mutations back to back (keep-alive), for a fixed time. Rewind and raw JetStream run under each fsync policy: ")
	w("`always` (fsync before every acknowledgement: Rewind's default, `NATS_SYNC=always`) and `2m` (JetStream's default: fsync every two minutes). ")
	w("Raw JetStream runs in the harness process against an embedded nats-server with a file store, with async publishing (up to 4,096 acknowledgements pending) ")
	w("and with synchronous publishing from as many goroutines as there are HTTP clients (the floor under Rewind's one-at-a-time append). The peers store nothing.\n\n")
	if p.Err != "" {
		w("Error: %s\n\n", oneLine(p.Err))
	}
	w("| publisher | fsync | events/s | p50 ms | p99 ms | server CPU | server CPU µs per publish | harness CPU |\n|---|---|---|---|---|---|---|---|\n")
	for _, run := range p.Runs {
		if run.Batch > 0 {
			continue // in the table of batches
		}
		fsync := run.FSync
		if fsync == "" {
			fsync = "(no storage)"
		}
		peer := run.Peer
		if run.Via == workload.PerMessage {
			peer += ", group commit off"
		}
		if run.Err != "" {
			w("| %s | %s | error: %s ||||||\n", peer, fsync, oneLine(run.Err))
			continue
		}
		w("| %s, %d clients | %s | %.0f | %.2f | %.2f | %.0f%% | %.1f | %.0f%% |\n", peer, run.Clients, fsync, run.Rate, run.Latency.P50, run.Latency.P99, run.Server.CPUPercent, run.Server.PerItem(run.Published), run.HarnessCPU)
	}
	for _, raw := range p.Raw {
		w("| raw JetStream async | %s | %.0f | | | | | |\n", raw.FSync, raw.Async)
		w("| raw JetStream sync, %d goroutines | %s | %.0f | | %.2f | | | |\n", clientsOf(p), raw.FSync, raw.Sync, raw.SyncP99)
	}
	w("\nRatios, Rewind / raw JetStream under the same policy:\n\n| fsync | vs async | vs sync |\n|---|---|---|\n")
	for _, raw := range p.Raw {
		if rw := rewindPublish(p, raw.FSync); rw != nil {
			w("| %s | %s | %s |\n", raw.FSync, ratio(rw.Rate, raw.Async), ratio(rw.Rate, raw.Sync))
		}
	}
	w("\n")
	publishBatches(w, p)
}

// rewindPublish is Rewind's run of one publish mutation per event under
// fsync.
func rewindPublish(p *workload.PublishResult, fsync string) *workload.PublishRun {
	return batchRun(p, fsync, 0, "")
}

// batchRun is Rewind's run of batches of size events via under fsync
// (size 0: one publish mutation per event).
func batchRun(p *workload.PublishResult, fsync string, size int, via string) *workload.PublishRun {
	for i := range p.Runs {
		if run := &p.Runs[i]; run.Peer == workload.Rewind && run.FSync == fsync && run.Batch == size && run.Via == via && run.Err == "" {
			return run
		}
	}
	return nil
}

func clientsOf(p *workload.PublishResult) int {
	for _, r := range p.Runs {
		if r.Batch == 0 {
			return r.Clients
		}
	}
	return 0
}

// batchTargets are issue 25's rows of workload 5: the largest batches over
// POST /publish against raw JetStream's async publish under fsync 2m, and
// against the per-message rate (one publish mutation per event, group
// commit off) under fsync always.
func batchTargets(w writer, p *workload.PublishResult) {
	size := workload.BatchSizes[len(workload.BatchSizes)-1]
	if b, raw := batchRun(p, "2m", size, workload.BatchNDJSON), rawOf(p, "2m"); b != nil && raw != nil {
		w("| 5 | publish batches of %d (POST /publish), %d HTTP clients, fsync 2m (issue 25) | >= 0.3x raw JetStream async publish, same fsync | %.0f vs %.0f events/s: %s | %s |\n",
			size, b.Clients, b.Rate, raw.Async, ratio(b.Rate, raw.Async), status(b.Rate >= 0.3*raw.Async))
	}
	if b, one := batchRun(p, "always", size, workload.BatchNDJSON), batchRun(p, "always", 0, workload.PerMessage); b != nil && one != nil {
		w("| 5 | publish batches of %d (POST /publish), %d HTTP clients, fsync always (issue 25) | >= 10x the per-message rate (one `publish` per event, group commit off, %d clients), same fsync | %.0f vs %.0f events/s: %s | %s |\n",
			size, b.Clients, one.Clients, b.Rate, one.Rate, ratio(b.Rate, one.Rate), status(b.Rate >= 10*one.Rate))
	}
}

func rawOf(p *workload.PublishResult, fsync string) *workload.RawPublish {
	for i := range p.Raw {
		if p.Raw[i].FSync == fsync {
			return &p.Raw[i]
		}
	}
	return nil
}

// publishBatches is workload 5's table of batch runs, with each run's
// ratios to raw JetStream's async publish and to one publish mutation per
// event, under the same policy.
func publishBatches(w writer, p *workload.PublishResult) {
	var runs []workload.PublishRun
	for _, r := range p.Runs {
		if r.Batch > 0 {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return
	}
	w("Batches (issue 25): %d clients, each sending a batch and waiting for its answer, back to back: NDJSON bodies to `POST /publish`, ", runs[0].Clients)
	w("or `publishBatch` mutations selecting each result's `sequence`. Every answer is checked: every event of every batch must be stored. ")
	w("Latency is per batch; server CPU µs is per event. The ratios compare, under the same policy in this run, with raw JetStream's async publish, ")
	w("with Rewind's one `publish` mutation per event (group commit on, its default), and with the per-message rate: one `publish` per event with group commit off, each event its own JetStream publish (measured under fsync always).\n\n")
	w("| via | events a batch | fsync | events/s | p50 ms | p99 ms | server CPU | server CPU µs per event | vs raw async | vs one `publish` per event | vs per-message |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		if r.Err != "" {
			w("| %s | %d | %s | error: %s ||||||||\n", r.Via, r.Batch, r.FSync, oneLine(r.Err))
			continue
		}
		vsRaw, vsOne, vsPer := "n/a", "n/a", "n/a"
		if raw := rawOf(p, r.FSync); raw != nil {
			vsRaw = ratio(r.Rate, raw.Async)
		}
		if one := rewindPublish(p, r.FSync); one != nil {
			vsOne = ratio(r.Rate, one.Rate)
		}
		if per := batchRun(p, r.FSync, 0, workload.PerMessage); per != nil {
			vsPer = ratio(r.Rate, per.Rate)
		}
		w("| `%s` | %d | %s | %.0f | %.1f | %.1f | %.0f%% | %.1f | %s | %s | %s |\n", r.Via, r.Batch, r.FSync, r.Rate, r.Latency.P50, r.Latency.P99,
			r.Server.CPUPercent, r.Server.PerItem(r.Published), vsRaw, vsOne, vsPer)
	}
	w("\n")
}

func mixed(w writer, r *workload.Results) {
	if len(r.Mixed) == 0 {
		return
	}
	c := r.Mixed[0].Config
	w("## 6. Mixed load with a reconnect storm\n\n")
	w("Rewind only (the peers cannot resume). %.0f events/s over %d topics, one publisher per topic waiting for each acknowledgement (so each topic's numbers are in stream order), for %s. ", c.Rate, c.Topics, c.Duration)
	w("%d subscribers, each on one topic: a session lasts %s to %s, then the client drops its connection, waits up to %s and resumes with the id of the last event it received. ", c.Subscribers, c.MinLife, c.MaxLife, c.MaxPause)
	w("Halfway through, every connection drops at once and every client resumes at once with its cursor while publishing goes on (the herd after a server restart or a failover). ")
	w("Every delivery is checked: each event must be the previous one's successor on its topic, across reconnects. At the end each subscriber reads up to its topic's last event. ")
	w("Latency counts live events only (published after the session began); replayed ones are counted apart. ")
	w("It is also given by when the event was published: before the herd, in the %s after it, and after that. Server CPU per event is the server's CPU time over the events published.\n\n", workload.HerdWindow)
	if r.Machine.Baseline != "" {
		w("**%s** is Rewind built from %s, measured alternately with the tested build (baseline, tested, tested, baseline) in this same run.\n\n", workload.RewindBaseline, r.Machine.Baseline)
	}
	w("| server | events/s (asked %.0f) | sessions | deliveries | replayed | gaps | duplicates | subscription errors | live p50 ms | live p99 ms | p99 before the herd | p99 in the herd | p99 after it | max ms | server CPU | server CPU µs per event | server RSS | harness CPU |\n", c.Rate)
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.Mixed {
		name := roundName(m.Peer, m.Round)
		if m.Err != "" && m.Deliveries == 0 {
			w("| %s | error: %s |||||||||||||||||\n", name, oneLine(m.Err))
			continue
		}
		w("| %s | %.0f | %d | %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.0f | %s | %.0f%% |\n", name, m.PublishRate, m.Sessions, m.Deliveries, m.Replayed, m.Gaps, m.Duplicates, m.Errors,
			m.Latency.P50, m.Latency.P99, m.BeforeHerd.P99, m.InHerd.P99, m.AfterHerd.P99, m.Latency.Max, m.Server.CPUPercent, m.Server.PerItem(m.Published), mib(m.Server.RSS), m.HarnessCPU)
	}
	w("\n")
	for _, m := range r.Mixed {
		if m.Err != "" {
			w("%s: error: %s\n\n", roundName(m.Peer, m.Round), oneLine(m.Err))
		}
	}
	after, before := mixedRuns(r, workload.Rewind), mixedRuns(r, workload.RewindBaseline)
	if len(after) > 0 && len(before) > 0 {
		rate := func(m workload.MixedResult) float64 { return m.PublishRate }
		p99 := func(m workload.MixedResult) float64 { return m.Latency.P99 }
		cpu := func(m workload.MixedResult) float64 { return m.Server.PerItem(m.Published) }
		w("Mean of the rounds: %.0f events/s against the baseline's %.0f, %s; live p99 %.1f ms against %.1f ms, %s; server CPU per event %.0f µs against %.0f µs, %s.\n\n",
			mean(after, rate), mean(before, rate), ratio(mean(after, rate), mean(before, rate)),
			mean(after, p99), mean(before, p99), ratio(mean(after, p99), mean(before, p99)),
			mean(after, cpu), mean(before, cpu), ratio(mean(after, cpu), mean(before, cpu)))
	}
	for _, m := range mixedRuns(r, workload.Rewind) {
		if m.PublishRate < 0.9*c.Rate {
			w("The publishers reached only %.0f of the %.0f events/s asked (%s): each topic's publisher waits for its acknowledgement, and under this load a publish took %.0f ms on average.\n\n",
				m.PublishRate, c.Rate, roundName(m.Peer, m.Round), 1000*float64(c.Topics)/m.PublishRate)
			break
		}
	}
	w("Where the server's CPU goes, and why the publishers cannot reach the rate asked on this machine: [%s](%s#mixed-load).\n\n", findings, findings)
	for _, m := range r.Mixed {
		if m.FirstError != "" {
			w("The server (%s) ended %d subscriptions with an error; each client resumed with its cursor (gaps and duplicates are counted across those resumptions). The first:\n\n```\n%s\n```\n\n", roundName(m.Peer, m.Round), m.Errors, m.FirstError)
		}
	}
}
