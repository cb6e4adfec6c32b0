package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/internal/child"
)

// NATSCluster is a JetStream cluster of nats-server processes on
// 127.0.0.1, each with a configuration file and a data folder of its own,
// as the tests' proctest.StartNATSCluster runs them, but owned by a
// context rather than a test.
type NATSCluster struct {
	Nodes []*NATSNode
}

// NATSNode is one nats-server of a cluster.
type NATSNode struct {
	Name        string
	Port        int
	MonitorPort int
	proc        *child.Proc
}

// NATSClusterSpec says how to start a cluster.
type NATSClusterSpec struct {
	Bin   string // the nats-server executable
	Dir   string // each node's configuration and data go in a folder of it
	Nodes int    // 1: a standalone server
	// Sync is JetStream's sync_interval: "always" (fsync every write) or a
	// duration such as 2m, nats-server's default.
	Sync string
	// Log, if set, receives every node's output.
	Log io.Writer
}

var natsReady = regexp.MustCompile(`Server is ready`)

// StartNATSCluster starts spec.Nodes clustered JetStream servers and
// returns once each answers its monitoring /healthz with 200 (JetStream
// up, the cluster's meta leader known), or stops them all and fails.
func StartNATSCluster(ctx context.Context, spec NATSClusterSpec) (*NATSCluster, error) {
	type ports struct{ client, cluster, monitor int }
	all := make([]ports, spec.Nodes)
	for i := range all {
		var err error
		if all[i].client, err = freePort(); err == nil {
			if all[i].cluster, err = freePort(); err == nil {
				all[i].monitor, err = freePort()
			}
		}
		if err != nil {
			return nil, err
		}
	}
	c := &NATSCluster{}
	for i, p := range all {
		name := fmt.Sprintf("n%d", i+1)
		dir := filepath.Join(spec.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", name, p.client, p.monitor)
		fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  sync_interval: %s\n}\n", filepath.Join(dir, "data"), spec.Sync)
		if spec.Nodes > 1 {
			var routes []string
			for j, o := range all {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", o.cluster))
				}
			}
			fmt.Fprintf(&b, "cluster {\n  name: rewind-bench\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", p.cluster, strings.Join(routes, ", "))
		}
		conf := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			c.Stop()
			return nil, err
		}
		pr, err := child.Start(child.Spec{Name: "nats " + name, Path: spec.Bin, Args: []string{"-c", conf}, Output: spec.Log, Group: true})
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, &NATSNode{Name: name, Port: p.client, MonitorPort: p.monitor, proc: pr})
	}
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		if _, err := n.proc.Await(tctx, natsReady); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for _, n := range c.Nodes {
		if err := n.waitHealthy(tctx); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (n *NATSNode) waitHealthy(ctx context.Context) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", n.MonitorPort)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		code := 0
		if err == nil {
			code = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if code == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats %s: /healthz not 200 in time (status %d, %v)", n.Name, code, err)
		case <-n.proc.Exited:
			return fmt.Errorf("nats %s exited while starting: %v\n%s", n.Name, n.proc.Err(), n.proc.Log)
		case <-time.After(100 * time.Millisecond): // polling an HTTP endpoint
		}
	}
}

// Traffic is the bytes a node has sent and received over its open client
// connections (Rewind's) and over its routes to the other nodes, from its
// monitoring endpoints.
type Traffic struct {
	ClientOut int64 `json:"client_out"`
	ClientIn  int64 `json:"client_in"`
	RouteOut  int64 `json:"route_out"`
	RouteIn   int64 `json:"route_in"`
}

// Sub is t less an earlier reading.
func (t Traffic) Sub(before Traffic) Traffic {
	return Traffic{ClientOut: t.ClientOut - before.ClientOut, ClientIn: t.ClientIn - before.ClientIn,
		RouteOut: t.RouteOut - before.RouteOut, RouteIn: t.RouteIn - before.RouteIn}
}

// Traffic reads the node's /connz and /routez.
func (n *NATSNode) Traffic(ctx context.Context) (Traffic, error) {
	type counts struct {
		In  int64 `json:"in_bytes"`
		Out int64 `json:"out_bytes"`
	}
	var connz struct {
		Conns []counts `json:"connections"`
	}
	var routez struct {
		Routes []counts `json:"routes"`
	}
	var t Traffic
	if err := n.monitor(ctx, "/connz?limit=100000", &connz); err != nil {
		return t, err
	}
	if err := n.monitor(ctx, "/routez", &routez); err != nil {
		return t, err
	}
	for _, c := range connz.Conns {
		t.ClientOut += c.Out
		t.ClientIn += c.In
	}
	for _, r := range routez.Routes {
		t.RouteOut += r.Out
		t.RouteIn += r.In
	}
	return t, nil
}

// monitor GETs a monitoring endpoint's JSON into v.
func (n *NATSNode) monitor(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", n.MonitorPort, path), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("nats %s %s: %w", n.Name, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("nats %s %s: HTTP %s", n.Name, path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("nats %s %s: %w", n.Name, path, err)
	}
	return nil
}

// URL is the node's client URL.
func (n *NATSNode) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(n.Port) }

// PID is the node's process id.
func (n *NATSNode) PID() int { return n.proc.Cmd.Process.Pid }

// Usage reads the node's RSS and CPU time.
func (n *NATSNode) Usage() (metrics.Usage, error) { return metrics.ReadUsage(n.PID()) }

// Alive reports whether the node's process still runs.
func (n *NATSNode) Alive() bool { return n.proc.Running() }

// URLs is the comma-separated client URL list of every node, as Rewind's
// NATS_URL takes it.
func (c *NATSCluster) URLs() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.URL())
	}
	return strings.Join(urls, ",")
}

// Stop stops every node (SIGTERM, then SIGKILL after 10 s) and waits for
// them.
func (c *NATSCluster) Stop() {
	// All at once: a cluster losing its nodes one by one spends the
	// wait electing leaders.
	for _, n := range c.Nodes {
		_ = n.proc.Signal(syscall.SIGTERM)
	}
	for _, n := range c.Nodes {
		n.proc.Stop(10 * time.Second)
	}
}

// StreamLeader names the node leading stream, waiting up to 30 s for an
// election.
func (c *NATSCluster) StreamLeader(ctx context.Context, stream string) (string, error) {
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		return "", err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return "", fmt.Errorf("stream %s: %w", stream, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return "", fmt.Errorf("stream %s info: %w", stream, err)
		}
		if info.Cluster == nil {
			return "", fmt.Errorf("stream %s has no cluster information: not on a cluster", stream)
		}
		if info.Cluster.Leader != "" {
			return info.Cluster.Leader, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("stream %s has no leader after 30s", stream)
		case <-time.After(100 * time.Millisecond): // polling an election
		}
	}
}

// DeleteStream deletes stream, so that the next run starts from an empty
// one (Rewind's streams all store the same subjects: two cannot coexist).
func (c *NATSCluster) DeleteStream(ctx context.Context, stream string) error {
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete stream %s: %w", stream, err)
	}
	return nil
}
