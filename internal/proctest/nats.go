package proctest

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is a JetStream cluster of nats-server processes, on
// 127.0.0.1 or where each node's Place says, built from the nats-server
// module this repository depends on.
type NATSCluster struct {
	t     testing.TB
	bin   string
	Nodes []*NATSNode
}

// NATSNode is one server of a cluster; it keeps its ports and folder
// across restarts.
type NATSNode struct {
	Name        string
	Place       Place
	Port        int
	ClusterPort int
	MonitorPort int
	Dir         string
	Proc        *Proc
}

var natsReady = regexp.MustCompile(`Server is ready`)

// StartNATSCluster starts n clustered JetStream servers (one: a standalone
// server).
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	return StartNATSClusterAt(t, make([]Place, n)...)
}

// StartNATSClusterAt starts one clustered JetStream server at each place
// (one: a standalone server).
func StartNATSClusterAt(t testing.TB, places ...Place) *NATSCluster {
	t.Helper()
	c := &NATSCluster{t: t, bin: build(t, "github.com/nats-io/nats-server/v2", false)}
	for i, p := range places {
		c.Nodes = append(c.Nodes, &NATSNode{
			Name: fmt.Sprintf("n%d", i+1), Place: p, Port: freePort(t), ClusterPort: freePort(t), MonitorPort: freePort(t), Dir: t.TempDir(),
		})
	}
	for i := range c.Nodes {
		c.Start(i)
	}
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	return FreeAddr(t).Port
}

// FreeAddr returns a loopback address no one listens on now, for a process
// that must come back on the same address after a restart.
func FreeAddr(t testing.TB) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr)
}

// Start (re)starts node i with its data.
func (c *NATSCluster) Start(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	var routes []string
	for _, o := range c.Nodes {
		if o != n {
			routes = append(routes, fmt.Sprintf("nats://%s:%d", o.Place.host(), o.ClusterPort))
		}
	}
	host := n.Place.host()
	args := []string{"-a", host, "-p", fmt.Sprint(n.Port), "-m", fmt.Sprint(n.MonitorPort), "-n", n.Name, "-js", "-sd", n.Dir}
	if len(c.Nodes) > 1 {
		args = append(args, "--cluster_name", "rewind", "--cluster", fmt.Sprintf("nats://%s:%d", host, n.ClusterPort),
			"--routes", strings.Join(routes, ","))
	}
	bin, args := n.Place.command(c.bin, args)
	n.Proc, _ = Start(c.t, "nats "+n.Name, bin, args, nil, natsReady)
}

// WaitCurrent waits until node i reports itself healthy, JetStream and
// its stream replicas caught up: what an operator waits for between the
// steps of a rolling restart.
func (c *NATSCluster) WaitCurrent(i int, d time.Duration) {
	c.t.Helper()
	url := fmt.Sprintf("http://%s:%d/healthz", c.Nodes[i].Place.host(), c.Nodes[i].MonitorPort)
	deadline := time.Now().Add(d)
	for {
		code, err := get(url)
		if err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats %s not healthy within %v (status %d, %v)", c.Nodes[i].Name, d, code, err)
		}
		time.Sleep(50 * time.Millisecond) // polling an HTTP endpoint
	}
}

// URLs is the comma-separated client URL list of every node.
func (c *NATSCluster) URLs() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.URL())
	}
	return strings.Join(urls, ",")
}

// URL is the node's client URL.
func (n *NATSNode) URL() string { return fmt.Sprintf("nats://%s:%d", n.Place.host(), n.Port) }

// StreamLeader returns the index of the node leading stream, waiting up
// to 30 s for one to be elected.
func (c *NATSCluster) StreamLeader(stream string) int {
	c.t.Helper()
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		c.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			c.t.Fatalf("stream %s: %v", stream, err)
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			c.t.Fatalf("stream %s info: %v", stream, err)
		}
		for i, n := range c.Nodes {
			if n.Name == info.Cluster.Leader {
				return i
			}
		}
		if info.Cluster.Leader != "" {
			c.t.Fatalf("stream %s leader %q is not a node", stream, info.Cluster.Leader)
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("stream %s has no leader after 30s", stream)
		case <-time.After(100 * time.Millisecond): // polling an election
		}
	}
}
