package workload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rewind-dev/rewind/bench/wsclient"
)

// SuiteOptions chooses what a run does.
type SuiteOptions struct {
	Quick bool
	// Only runs these workloads (fanout, replay, cursor, conns, publish,
	// mixed); empty runs all.
	Only []string
	// Peers limits the servers compared; empty means all.
	Peers []string
	// ProfileFile, if set, receives a CPU profile of Rewind during the
	// largest fan-out, or during the workload ProfileWorkload names
	// (replay, cursor, publish, mixed, conns; Rewind then runs from the
	// pprof build).
	ProfileFile     string
	ProfileWorkload string
	// FanoutSubscribers overrides workload 1's subscriber counts.
	FanoutSubscribers []int
	// Rev, if set, builds the servers from this git revision (exported
	// into the scratch folder) instead of the working tree.
	Rev string
	// Conns overrides workload 4's connection counts (default 10,000).
	Conns []int
	// Baseline, if set, is a git revision whose Rewind workloads 3, 4 and
	// 6 measure too, as RewindBaseline, alternating with Rewind (baseline,
	// Rewind, Rewind, baseline), so that before and after come from one
	// session.
	Baseline string
}

// connCounts is workload 4's connection counts.
func (o SuiteOptions) connCounts() []int {
	switch {
	case len(o.Conns) > 0:
		return o.Conns
	case o.Quick:
		return []int{200}
	}
	return []int{10_000}
}

func (o SuiteOptions) runs(w string) bool { return len(o.Only) == 0 || slices.Contains(o.Only, w) }

func (o SuiteOptions) peers(all ...string) []string {
	if len(o.Peers) == 0 {
		return all
	}
	var out []string
	for _, p := range all {
		if slices.Contains(o.Peers, p) {
			out = append(out, p)
		}
	}
	return out
}

// FSyncPolicies are the fsync policies workload 5 compares: Rewind's
// default, fsync before every acknowledgement, and JetStream's own default,
// every two minutes.
var FSyncPolicies = []string{"always", "2m"}

// BatchSizes are the events a request of workload 5's batch runs, sent
// by BatchClients clients at once; the largest is the figure, and is also
// sent as publishBatch mutations.
var BatchSizes = []int{100, 1000}

// BatchClients is how many clients send batches at once.
const BatchClients = 8

// Setup raises the open-file limit, builds the servers into work and
// checks the Node peer. rewindBin, if set, is used instead of building.
func Setup(ctx context.Context, root, work, rewindBin string, opts SuiteOptions, progress io.Writer) (*Env, error) {
	if _, err := RaiseFileLimit(); err != nil {
		return nil, fmt.Errorf("raise the open-file limit: %w", err)
	}
	bin := filepath.Join(work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	e := &Env{FSync: "always", Root: root, Quick: opts.Quick, Work: work, Progress: progress, NodeDir: filepath.Join(root, "bench", "peers", "node")}
	// Dial from several loopback addresses: a reconnect storm leaves more
	// TIME_WAIT sockets than one address has ephemeral ports (about
	// 28,000), and so do workload 4's largest counts of connections.
	e.Dialer = &wsclient.Dialer{}
	e.MaxConns = slices.Max(opts.connCounts())
	for i := 1; i <= max(8, e.MaxConns/20_000+2); i++ {
		e.Dialer.LocalAddrs = append(e.Dialer.LocalAddrs, fmt.Sprintf("127.0.0.%d", i))
	}
	src := root
	e.Source = "working tree at " + Head(ctx, root)
	if opts.Rev != "" {
		src = filepath.Join(work, "src")
		hash, err := Export(ctx, root, opts.Rev, src)
		if err != nil {
			return nil, err
		}
		e.Source = "commit " + hash
	}
	e.Src = src
	var err error
	e.RewindBin = rewindBin
	if e.RewindBin == "" {
		pkg := "./cmd/server"
		if opts.ProfileFile != "" {
			pkg = "./bench/cmd/rewind-pprof"
		}
		e.logf("building %s", pkg)
		if e.RewindBin, err = Build(ctx, src, pkg, bin); err != nil {
			return nil, err
		}
	}
	if opts.Baseline != "" && slices.Contains(opts.peers(Rewind), Rewind) && (opts.runs("conns") || opts.runs("cursor") || opts.runs("mixed")) {
		src := filepath.Join(work, "baseline-src")
		hash, err := Export(ctx, root, opts.Baseline, src)
		if err != nil {
			return nil, err
		}
		e.Baseline = "commit " + hash
		dir := filepath.Join(bin, "baseline")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		e.logf("building ./cmd/server at %s (baseline)", hash)
		if e.BaselineBin, err = Build(ctx, src, "./cmd/server", dir); err != nil {
			return nil, err
		}
	}
	// The peers take part in workloads 1, 4 and 5 only.
	comparing := opts.runs("fanout") || opts.runs("conns") || opts.runs("publish")
	if comparing && slices.Contains(opts.peers(GqlgenMem), GqlgenMem) {
		e.logf("building ./bench/peers/gqlgenmem")
		if e.GqlgenMemBin, err = Build(ctx, src, "./bench/peers/gqlgenmem", bin); err != nil {
			return nil, err
		}
	}
	if comparing && slices.Contains(opts.peers(Node), Node) {
		if err := NodeReady(e.NodeDir); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryGiB  int    `json:"memory_gib"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	Node       string `json:"node"`
	NATSServer string `json:"nats_server"`
	NATSGo     string `json:"nats_go"`
	Gqlgen     string `json:"gqlgen"`
	NodePeer   string `json:"node_peer"`
	Source     string `json:"source"`             // what the servers were built from
	Baseline   string `json:"baseline,omitempty"` // what RewindBaseline was built from
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

// Results is everything one run measured.
type Results struct {
	Quick        bool           `json:"quick"`
	Started      time.Time      `json:"started"`
	Took         float64        `json:"took_seconds"`
	Machine      Machine        `json:"machine"`
	Fanout       []FanoutRun    `json:"fanout,omitempty"`
	Replay       *ReplayResult  `json:"replay,omitempty"`
	Cursor       []CursorResult `json:"cursor,omitempty"` // one per round; see Env.rounds
	Conns        []ConnsRun     `json:"conns,omitempty"`
	Publish      *PublishResult `json:"publish,omitempty"`
	Mixed        []MixedResult  `json:"mixed,omitempty"` // one per round
	Errors       []string       `json:"errors,omitempty"`
	FanoutAt     int            `json:"fanout_subscribers"` // the subscriber count of workload 1's figure
	FanoutRounds int            `json:"fanout_rounds"`
}

// Failures lists what shows the harness or a server misbehaving: errors,
// lost or repeated events, and workloads that delivered nothing. Missed
// performance targets are not failures; the report states them.
func (r *Results) Failures() []string {
	out := slices.Clone(r.Errors)
	for _, f := range r.Fanout {
		switch {
		case f.Err != "":
			out = append(out, fmt.Sprintf("fan-out %s x%d: %s", f.Peer, f.Subscribers, f.Err))
		case len(f.Steps) == 0 || f.Steps[0].Delivered == 0:
			out = append(out, fmt.Sprintf("fan-out %s x%d: nothing delivered", f.Peer, f.Subscribers))
		}
		for _, s := range f.Steps {
			if s.Duplicates > 0 {
				out = append(out, fmt.Sprintf("fan-out %s x%d: %d duplicates", f.Peer, f.Subscribers, s.Duplicates))
			}
			// A peer without storage may lose events when it drops a slow
			// subscriber; Rewind may not.
			if isRewind(f.Peer) && s.Missing > 0 {
				out = append(out, fmt.Sprintf("fan-out %s x%d: %d deliveries missing at %.0f events/s", f.Peer, f.Subscribers, s.Missing, s.Rate))
			}
			if s.Unexpected > 0 {
				out = append(out, fmt.Sprintf("fan-out %s x%d: %d deliveries the filter should have dropped", f.Peer, f.Subscribers, s.Unexpected))
			}
		}
	}
	if p := r.Replay; p != nil {
		if p.Err != "" {
			out = append(out, "replay: "+p.Err)
		} else if p.Missing > 0 || p.Duplicates > 0 || p.Rewind == 0 {
			out = append(out, fmt.Sprintf("replay: %d missing, %d duplicates, %.0f events/s", p.Missing, p.Duplicates, p.Rewind))
		}
	}
	for _, c := range r.Cursor {
		if c.Err != "" {
			out = append(out, fmt.Sprintf("cursor %s: %s", c.Peer, c.Err))
		} else if c.Wrong > 0 {
			out = append(out, fmt.Sprintf("cursor %s: %d subscriptions started at the wrong event", c.Peer, c.Wrong))
		}
	}
	for _, c := range r.Conns {
		if c.Err != "" {
			out = append(out, fmt.Sprintf("connections %s: %s", c.Peer, c.Err))
		}
	}
	if p := r.Publish; p != nil {
		if p.Err != "" {
			out = append(out, "publish: "+p.Err)
		}
		for _, run := range p.Runs {
			if run.Err != "" || run.Published == 0 {
				out = append(out, fmt.Sprintf("publish %s: %d published %s", run.Peer, run.Published, run.Err))
			}
		}
	}
	for _, m := range r.Mixed {
		if m.Err != "" {
			out = append(out, fmt.Sprintf("mixed %s: %s", m.Peer, m.Err))
		}
		if m.Gaps > 0 || m.Duplicates > 0 || m.Deliveries == 0 {
			out = append(out, fmt.Sprintf("mixed %s: %d gaps, %d duplicates, %d deliveries", m.Peer, m.Gaps, m.Duplicates, m.Deliveries))
		}
		if m.Errors > 0 {
			out = append(out, fmt.Sprintf("mixed %s: the server ended %d subscriptions with an error (first: %s)", m.Peer, m.Errors, m.FirstError))
		}
	}
	return out
}

// isRewind reports whether peer is Rewind or one of its fan-out variants.
func isRewind(peer string) bool {
	return peer == Rewind || peer == RewindTyped || peer == RewindFiltered || peer == RewindBaseline
}

// Suite runs the chosen workloads, in quick or full size.
func (e *Env) Suite(ctx context.Context, o SuiteOptions) *Results {
	res := &Results{Quick: o.Quick, Started: time.Now().UTC(), Machine: e.machine()}
	res.Machine.LoadBefore = loadavg()
	q := o.Quick
	pick := func(quick, full int) int {
		if q {
			return quick
		}
		return full
	}
	dur := func(quick, full time.Duration) time.Duration {
		if q {
			return quick
		}
		return full
	}
	servers := o.peers(Rewind, GqlgenMem, Node)

	if o.runs("fanout") {
		subs := []int{10, 100, 1000}
		if q {
			subs = []int{20}
		}
		if len(o.FanoutSubscribers) > 0 {
			subs = o.FanoutSubscribers
		}
		res.FanoutAt = subs[len(subs)-1]
		// Two rounds in a full run, minutes apart, each server's figure the
		// better of its two: a passing burst of other work on the shared
		// machine then costs a server less.
		res.FanoutRounds = pick(1, 2)
		for round := 1; round <= res.FanoutRounds; round++ {
			for _, s := range subs {
				runs := servers
				// The typed and filtered runs, at the figure's subscriber
				// count, right after the untyped one, so that their ratios
				// compare runs minutes apart at most.
				if i := slices.Index(servers, Rewind); i >= 0 && s == res.FanoutAt {
					runs = slices.Insert(slices.Clone(servers), i+1, RewindTyped, RewindFiltered)
				}
				for _, peer := range runs {
					cfg := FanoutConfig{
						Subscribers: s, StartDeliveries: float64(pick(1000, 5000)), Factor: 1.5,
						Steps: pick(2, 24), StepTime: dur(time.Second, 4*time.Second),
						MaxP99: 100 * time.Millisecond, Publishers: pick(4, 32),
					}
					if o.ProfileFile != "" && o.ProfileWorkload == "fanout" && peer == Rewind && s == res.FanoutAt && round == 1 {
						e.profileNext(o.ProfileFile)
					}
					run := e.Fanout(ctx, peer, cfg)
					run.Round = round
					res.Fanout = append(res.Fanout, run)
				}
			}
		}
	}
	if (o.runs("replay") || o.runs("cursor")) && slices.Contains(servers, Rewind) && ctx.Err() == nil {
		n := pick(5000, 1_000_000)
		e.logf("filling a stream with %d events from two writers", n)
		ds, err := Fill(ctx, filepath.Join(e.Work, "replay-data"), n)
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
		} else {
			e.logf("filled at %.0f events/s", ds.FillRate)
			if o.runs("replay") {
				if o.ProfileFile != "" && o.ProfileWorkload == "replay" {
					e.profileNext(o.ProfileFile)
				}
				r := e.Replay(ctx, ds)
				res.Replay = &r
			}
			if o.runs("cursor") {
				for _, run := range e.rounds() {
					if o.ProfileFile != "" && o.ProfileWorkload == "cursor" && run.peer == Rewind && run.round <= 1 {
						e.profileNext(o.ProfileFile)
					}
					c := e.Cursor(ctx, run.peer, ds, pick(20, 200))
					c.Round = run.round
					res.Cursor = append(res.Cursor, c)
				}
			}
		}
	}
	if o.runs("publish") && ctx.Err() == nil {
		// Rewind and raw JetStream under both fsync policies; the peers
		// store nothing.
		clients, d := pick(8, 64), dur(time.Second, 10*time.Second)
		p := &PublishResult{}
		for _, peer := range servers {
			if peer != Rewind {
				p.Runs = append(p.Runs, e.Publish(ctx, peer, "", clients, d))
				continue
			}
			for _, fsync := range FSyncPolicies {
				if o.ProfileFile != "" && o.ProfileWorkload == "publish" && fsync == FSyncPolicies[0] {
					e.profileNext(o.ProfileFile)
				}
				p.Runs = append(p.Runs, e.Publish(ctx, peer, fsync, clients, d))
			}
			// The batch runs (issue 25): a few clients, each sending
			// batches back to back, under both policies, and the
			// per-message rate they compare with under fsync always.
			p.Runs = append(p.Runs, e.PublishPerMessage(ctx, "always", clients, d))
			for _, fsync := range FSyncPolicies {
				for _, size := range BatchSizes {
					p.Runs = append(p.Runs, e.PublishBatch(ctx, fsync, BatchClients, size, BatchNDJSON, d))
				}
				p.Runs = append(p.Runs, e.PublishBatch(ctx, fsync, BatchClients, BatchSizes[len(BatchSizes)-1], BatchMutation, d))
			}
		}
		for _, fsync := range FSyncPolicies {
			e.RawPublish(ctx, fsync, clients, d, p)
		}
		res.Publish = p
	}
	if o.runs("conns") && ctx.Err() == nil {
		for i, n := range o.connCounts() {
			if err := FileLimit(n); err != nil {
				// Not a run of any server: reported once.
				e.logf("connections: %v", err)
				res.Conns = append(res.Conns, ConnsRun{Peer: Rewind, Connections: n, Sources: len(e.Dialer.LocalAddrs), Err: err.Error()})
				continue
			}
			for _, run := range e.connsOrder(servers) {
				if o.ProfileFile != "" && o.ProfileWorkload == "conns" && run.peer == Rewind && run.round <= 1 && i == 0 {
					e.profileNext(o.ProfileFile)
				}
				c := e.Conns(ctx, run.peer, n)
				c.Round = run.round
				res.Conns = append(res.Conns, c)
			}
		}
	}
	if o.runs("mixed") && slices.Contains(servers, Rewind) && ctx.Err() == nil {
		cfg := MixedConfig{
			Topics: pick(10, 100), Subscribers: pick(40, 2000), Rate: float64(pick(200, 5000)),
			Duration: dur(3*time.Second, 20*time.Second),
			MinLife:  dur(300*time.Millisecond, time.Second), MaxLife: dur(time.Second, 4*time.Second),
			MaxPause: 200 * time.Millisecond,
		}
		for _, run := range e.rounds() {
			if o.ProfileFile != "" && o.ProfileWorkload == "mixed" && run.peer == Rewind && run.round <= 1 {
				e.profileNext(o.ProfileFile)
			}
			m := e.Mixed(ctx, run.peer, cfg)
			m.Round = run.round
			res.Mixed = append(res.Mixed, m)
		}
	}
	res.Took = time.Since(res.Started).Seconds()
	res.Machine.LoadAfter = loadavg()
	return res
}

// serverRun is one server's turn in a workload.
type serverRun struct {
	peer  string
	round int // 0 when the server runs once
}

// rounds is the order of Rewind's runs in a workload that compares it
// with the baseline build: Rewind once or, with a baseline, the baseline
// and Rewind twice each, in the order baseline, Rewind, Rewind, baseline,
// so that a drift in the machine's load weighs on both alike.
func (e *Env) rounds() []serverRun {
	if e.BaselineBin == "" {
		return []serverRun{{Rewind, 0}}
	}
	return []serverRun{{RewindBaseline, 1}, {Rewind, 1}, {Rewind, 2}, {RewindBaseline, 2}}
}

// connsOrder is the order of workload 4's runs: each server once, Rewind
// in rounds with a baseline build (see rounds).
func (e *Env) connsOrder(servers []string) []serverRun {
	var out []serverRun
	for _, s := range servers {
		if s == Rewind {
			out = append(out, e.rounds()...)
			continue
		}
		out = append(out, serverRun{s, 0})
	}
	return out
}

func (e *Env) machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Source: e.Source, Baseline: e.Baseline}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m.MemoryGiB = int((kb + 1<<19) >> 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := exec.Command("node", "--version").Output(); err == nil {
		m.Node = strings.TrimSpace(string(b))
	}
	// The servers' versions are the module's requirements.
	if b, err := os.ReadFile(filepath.Join(e.Root, "go.mod")); err == nil {
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "github.com/nats-io/nats-server/v2":
				m.NATSServer = f[1]
			case "github.com/nats-io/nats.go":
				m.NATSGo = f[1]
			case "github.com/99designs/gqlgen":
				m.Gqlgen = f[1]
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(e.NodeDir, "package.json")); err == nil {
		i := bytes.Index(b, []byte(`"dependencies"`))
		if i >= 0 {
			j := bytes.IndexByte(b[i:], '}')
			m.NodePeer = strings.Join(strings.Fields(strings.NewReplacer(`"`, "", "\n", " ").Replace(string(b[i+len(`"dependencies": {`):i+j]))), " ")
		}
	}
	return m
}

// LoadAverage is the machine's load averages over 1, 5 and 15 minutes.
func LoadAverage() string { return loadavg() }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
