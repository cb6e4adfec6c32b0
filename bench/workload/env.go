// Package workload runs rewind-bench's workloads against Rewind and its
// peers, each server a child process on loopback, and returns figures.
// Every loop is bounded in count and time, and every server it starts is
// stopped before the workload returns.
package workload

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/bench/proc"
	"github.com/rewind-dev/rewind/bench/wsclient"
)

// Peer names, as they appear in reports.
const (
	Rewind    = "rewind"
	GqlgenMem = "gqlgen-mem"
	Node      = "node-graphql-ws"
	RawJS     = "raw-jetstream"
	// RewindTyped and RewindFiltered are workload 1's extra Rewind runs:
	// typed subscriptions from a --schema, and subscriptions with a where
	// filter. They are reported as servers of their own so that every
	// comparison with the peers keeps using the untyped, unfiltered run.
	RewindTyped    = "rewind-typed"
	RewindFiltered = "rewind-filtered"
	// RewindBaseline is Rewind built from SuiteOptions.Baseline, measured
	// beside Rewind in workload 4.
	RewindBaseline = "rewind-baseline"
)

// Env is what every workload needs.
type Env struct {
	Quick bool
	// Root is the repository's root.
	Root string
	// Work is a scratch folder for data directories and server logs.
	Work string
	// RewindBin and GqlgenMemBin are built executables; NodeDir holds the
	// Node peer's server.js with its node_modules installed.
	RewindBin, GqlgenMemBin, NodeDir string
	// Source says what the servers were built from.
	Source string
	// BaselineBin is RewindBaseline's executable, built from Baseline.
	BaselineBin, Baseline string
	// Src is the tree the servers are built from (Root, or Rev exported);
	// NATSServerBin, nats-server built from its go.mod, once workload 8
	// needs it.
	Src, NATSServerBin string
	// MaxConns is the most connections a workload opens at once: Rewind's
	// connection limits are raised above it.
	// FSync is Rewind's NATS_SYNC (always or an interval) in every workload
	// but publish, which measures both.
	FSync string
	// RewindEnv is added to Rewind's environment.
	RewindEnv []string
	// Progress receives one line per step.
	Progress io.Writer
	MaxConns int
	Dialer   *wsclient.Dialer
	mu       sync.Mutex
	n        int

	profileFile string // set by profileNext: the next Rewind serves pprof
	pprofURL    string // that Rewind's pprof address, once started
}

// profileNext makes the next Rewind started serve pprof, and the next
// fan-out write a CPU profile of it to file.
func (e *Env) profileNext(file string) { e.profileFile = file }

func (e *Env) logf(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

// Start starts peer (Rewind, GqlgenMem or Node). For Rewind, dataDir is its
// DATA_DIR; empty makes a new one.
func (e *Env) Start(ctx context.Context, peer, dataDir string) (*proc.Server, error) {
	return e.start(ctx, peer, dataDir, e.FSync)
}

func (e *Env) start(ctx context.Context, peer, dataDir, fsync string, env ...string) (*proc.Server, error) {
	e.mu.Lock()
	e.n++
	n := e.n
	e.mu.Unlock()
	logf, err := os.Create(filepath.Join(e.Work, fmt.Sprintf("%02d-%s.log", n, peer)))
	if err != nil {
		return nil, err
	}
	spec := proc.Spec{Name: peer, Log: logf, Env: []string{"ADDR=127.0.0.1:0"}}
	switch peer {
	case Rewind, RewindBaseline:
		if dataDir == "" {
			dataDir = filepath.Join(e.Work, fmt.Sprintf("data-%02d", n))
		}
		spec.Path = e.RewindBin
		if peer == RewindBaseline {
			spec.Path = e.BaselineBin
		}
		// The workloads open more connections from one address than
		// the defaults allow a single client.
		limit := strconv.Itoa(max(100_000, e.MaxConns+1000))
		// info: the address is logged at info; Rewind logs little else.
		spec.Env = append(spec.Env, "DATA_DIR="+dataDir, "LOG_LEVEL=info", "NATS_SYNC="+fsync,
			"MAX_CONNECTIONS="+limit, "MAX_CONNECTIONS_PER_ADDRESS="+limit)
		spec.Env = append(spec.Env, env...)
		spec.Env = append(spec.Env, e.RewindEnv...)
		if e.profileFile != "" && peer == Rewind {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			e.pprofURL = "http://127.0.0.1:" + port
			spec.Env = append(spec.Env, "PPROF_ADDR=127.0.0.1:"+port)
		}
	case GqlgenMem:
		spec.Path = e.GqlgenMemBin
	case Node:
		spec.Path = "node"
		spec.Args = []string{"server.js"}
		spec.Dir = e.NodeDir
	default:
		return nil, fmt.Errorf("unknown peer %q", peer)
	}
	s, err := proc.Start(ctx, spec, 60*time.Second)
	if err != nil {
		logf.Close()
		return nil, err
	}
	go func() { <-s.Done(); logf.Close() }()
	e.logf("started %s (pid %d) at %s", peer, s.PID(), s.URL)
	return s, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// takeProfile fetches a CPU profile of d from the Rewind started for
// profiling and writes it to the profile file. It returns a channel that
// yields the outcome.
func (e *Env) takeProfile(ctx context.Context, d time.Duration) <-chan error {
	done := make(chan error, 1)
	url, file := e.pprofURL, e.profileFile
	e.profileFile, e.pprofURL = "", ""
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", url, int(d.Seconds())), nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(file)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		e.logf("wrote a %s CPU profile of Rewind to %s", d, file)
		done <- err
	}()
	return done
}

// fetchProfile saves the named profile (heap, goroutine) of the Rewind
// started for profiling to the profile file with name as suffix. The heap
// profile is taken after a collection, so that it shows exactly what is
// live.
func (e *Env) fetchProfile(ctx context.Context, name string) error {
	url, file := e.pprofURL+"/debug/pprof/"+name, e.profileFile+"."+name
	if name == "heap" {
		url += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	e.logf("wrote Rewind's %s profile to %s", name, file)
	return err
}

// Usage is a server's resources over a measured stretch.
type Usage struct {
	RSS        int64   `json:"rss_bytes"`
	CPUPercent float64 `json:"cpu_percent"` // of one core
	CPUSeconds float64 `json:"cpu_seconds"`
}

// PerItem is the CPU time spent per item (delivery, event, publish) in
// microseconds: unlike rates, it barely changes when other processes
// compete for the cores.
func (u Usage) PerItem(n int64) float64 {
	if n <= 0 {
		return 0
	}
	return u.CPUSeconds * 1e6 / float64(n)
}

// meter measures a process's CPU between Start and Stop.
type meter struct {
	pid   int
	start metrics.Usage
}

func startMeter(pid int) *meter {
	u, _ := metrics.ReadUsage(pid)
	return &meter{pid: pid, start: u}
}

func (m *meter) stop() Usage {
	u, err := metrics.ReadUsage(m.pid)
	if err != nil {
		return Usage{}
	}
	return Usage{RSS: u.RSS, CPUPercent: metrics.CPUPercent(m.start, u), CPUSeconds: (u.CPU - m.start.CPU).Seconds()}
}

// Latency summarises a histogram, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	// CDF is kept for charts.
	CDF []metrics.Point `json:"-"`
}

func summarise(h *metrics.Hist) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Latency{Count: h.Count(), P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max()), CDF: h.CDF()}
}

// eventData is the JSON data of the benchmark's events: ts, the publish
// time in Unix nanoseconds, and n, the publisher's sequence number.
func eventData(n int64) []byte {
	return classedData(n, 0)
}

// classedData is eventData with, for classes > 0, a field k = n % classes
// for filters to select on.
func classedData(n int64, classes int) []byte {
	b := make([]byte, 0, 56)
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, n, 10)
	if classes > 0 {
		b = append(b, `,"k":`...)
		b = strconv.AppendInt(b, n%int64(classes), 10)
	}
	return append(b, '}')
}

// delivery reads ts and n from a next message's payload. A typed
// subscription renders ts, declared an ID (it is wider than GraphQL's
// 32-bit Int), as a string.
func delivery(payload []byte) (ts, n int64, ok bool) {
	ts, ok1 := wsclient.Int(payload, "ts")
	if !ok1 {
		if s, ok := wsclient.Str(payload, "ts"); ok {
			v, err := strconv.ParseInt(string(s), 10, 64)
			ts, ok1 = v, err == nil
		}
	}
	n, ok2 := wsclient.Int(payload, "n")
	return ts, n, ok1 && ok2
}

// EventsQuery is the subscription every workload makes: the full Event.
const EventsQuery = `subscription($topics: [String!]!, $after: ID) { events(topics: $topics, afterId: $after) { id topic type data time } }`

// PublishQuery is the mutation every publisher sends.
const PublishQuery = `mutation($topic: String!, $data: JSON!) { publish(topic: $topic, data: $data) { id } }`

// publishBody is a publish request's body for topic and data.
func publishBody(topic string, data []byte) []byte {
	return typedPublishBody(topic, "", data)
}

// typedPublishBody is publishBody with an event type; empty leaves
// Rewind's default.
func typedPublishBody(topic, typ string, data []byte) []byte {
	b := make([]byte, 0, 240)
	if typ == "" {
		b = append(b, `{"query":"mutation($topic: String!, $data: JSON!) { publish(topic: $topic, data: $data) { id } }","variables":{"topic":`...)
	} else {
		b = append(b, `{"query":"mutation($topic: String!, $type: String!, $data: JSON!) { publish(topic: $topic, type: $type, data: $data) { id } }","variables":{"type":`...)
		b = strconv.AppendQuote(b, typ)
		b = append(b, `,"topic":`...)
	}
	b = strconv.AppendQuote(b, topic)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, `}}`...)
}
