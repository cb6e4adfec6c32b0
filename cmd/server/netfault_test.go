package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/rewind-dev/rewind/internal/netfault"
	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/scenario"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// Fault windows: the targets, 10 s for partitions and 20 s for
// degraded links.
const (
	partitionFor = 10 * time.Second
	degradedFor  = 20 * time.Second
)

// TestNetworkFaults runs the three NATS nodes and the two Rewind instances
// each in a network namespace of its own, on one bridge, and injects
// network faults between them under load: 300 events/s through both
// instances, publishes retried with their idempotency key until
// acknowledged, and 10 clients that resume with their last id on the other
// instance whenever their connection fails. After each fault is healed,
// every acknowledged event must be stored once, and every client must have
// received exactly the stored events, in stream order. Each scenario logs
// its pauses on one line that starts with "netfault".
func TestNetworkFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("network fault scenarios start five processes in namespaces; run without -short")
	}
	n := netfault.New(t, "rwnf")
	natsHosts := []*netfault.Host{n.Host("n1"), n.Host("n2"), n.Host("n3")}
	ra, rb, rc := n.Host("ra"), n.Host("rb"), n.Host("rc")
	nats := proctest.StartNATSClusterAt(t, natsHosts[0].Place(), natsHosts[1].Place(), natsHosts[2].Place())
	for i := range nats.Nodes {
		// Ready is not clustered: a stream created before every node
		// has joined finds no peers to place its replicas on.
		nats.WaitCurrent(i, 60*time.Second)
	}
	env := []string{"NATS_URL=" + nats.URLs(), "REPLICAS=3"}
	a := proctest.StartRewindAt(t, ra.Place(), "rewind-a", env...)
	b := proctest.StartRewindAt(t, rb.Place(), "rewind-b", env...)
	instances := scenario.NewFleet(a, b)

	// underOn runs a fault, which returns once healed, under load on
	// instances, and checks the promise afterwards.
	underOn := func(t *testing.T, instances *scenario.Fleet, topic string, fault func(t *testing.T, s *scenario.Scenario)) {
		s := scenario.New(t, topic, instances)
		for i := range 10 {
			s.Follow(i)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := s.LoadAsync(ctx, []int{0, 1}, 300)
		s.WaitReceived(100)
		fault(t, s)
		s.WaitReceived(s.Published() + 100) // both sides serve again
		cancel()
		<-done
		t.Logf("netfault %s: %s", topic, s.Verify())
	}
	under := func(t *testing.T, topic string, fault func(t *testing.T, s *scenario.Scenario)) {
		underOn(t, instances, topic, fault)
	}

	t.Run("stream leader partitioned from the other nodes, then healed", func(t *testing.T) {
		under(t, "leader", func(t *testing.T, s *scenario.Scenario) {
			i := nats.StreamLeader("REWIND")
			n.Partition(t, natsHosts[i], others(natsHosts, i)...).HealAfter(t.Context(), partitionFor)
		})
	})

	t.Run("minority and majority: instance A and its NATS node split from the rest", func(t *testing.T) {
		under(t, "split", func(t *testing.T, s *scenario.Scenario) {
			// The worst case: the stream's leader is on the minority side,
			// where it still answers but can store nothing.
			i := connectedNode(t, nats, ra)
			moveStreamLeader(t, nats, i)
			majority := append(others(natsHosts, i), rb)
			node := n.Partition(t, natsHosts[i], majority...)
			inst := n.Partition(t, ra, majority...)
			start := time.Now()
			waitReadyz(t, a, http.StatusServiceUnavailable, 30*time.Second)
			t.Logf("netfault split: /readyz on A (minority) answered 503 %v after the split", time.Since(start).Round(time.Millisecond))
			node.HealAfter(t.Context(), partitionFor-time.Since(start))
			inst.Heal()
			start = time.Now()
			waitReadyz(t, a, http.StatusOK, 60*time.Second)
			t.Logf("netfault split: /readyz on A answered 200 %v after the heal", time.Since(start).Round(time.Millisecond))
		})
	})

	t.Run("one-way partition: the stream leader's packets to the others are lost", func(t *testing.T) {
		under(t, "oneway", func(t *testing.T, s *scenario.Scenario) {
			i := nats.StreamLeader("REWIND")
			n.Block(t, natsHosts[i], others(natsHosts, i)...).HealAfter(t.Context(), partitionFor)
		})
	})

	t.Run("20% packet loss everywhere", func(t *testing.T) {
		under(t, "loss", func(t *testing.T, s *scenario.Scenario) {
			n.Loss(t, 20, append(natsHosts, ra, rb)...).HealAfter(t.Context(), degradedFor)
		})
	})

	t.Run("instance A cut from NATS but not from its clients", func(t *testing.T) {
		under(t, "cut", func(t *testing.T, s *scenario.Scenario) {
			f := n.Partition(t, ra, natsHosts...)
			start := time.Now()
			waitReadyz(t, a, http.StatusServiceUnavailable, 10*time.Second)
			t.Logf("netfault cut: /readyz on A answered 503 %v after the cut", time.Since(start).Round(time.Millisecond))
			f.HealAfter(t.Context(), partitionFor-time.Since(start))
			start = time.Now()
			waitReadyz(t, a, http.StatusOK, 60*time.Second)
			t.Logf("netfault cut: /readyz on A answered 200 %v after the heal", time.Since(start).Round(time.Millisecond))
		})
	})

	t.Run("instance A cut from its own NATS node only", func(t *testing.T) {
		under(t, "cutnode", func(t *testing.T, s *scenario.Scenario) {
			i := connectedNode(t, nats, ra)
			f := n.Partition(t, ra, natsHosts[i])
			defer f.Heal()
			start := time.Now()
			waitReadyz(t, a, http.StatusServiceUnavailable, 10*time.Second)
			t.Logf("netfault cutnode: /readyz on A answered 503 %v after the cut", time.Since(start).Round(time.Millisecond))
			// The other two nodes are reachable: A must find that its
			// connection is dead and move to one of them while the cut
			// lasts.
			waitReadyz(t, a, http.StatusOK, 30*time.Second)
			t.Logf("netfault cutnode: /readyz on A answered 200 again %v after the cut, connected to another node", time.Since(start).Round(time.Millisecond))
			if j := connectedNode(t, nats, ra); j == i {
				t.Fatalf("A is ready but still on node %s, which it cannot reach", nats.Nodes[i].Name)
			}
		})
	})

	t.Run("200 ms added each way between instance C and every NATS node", func(t *testing.T) {
		// This kernel has no netem: C reaches NATS through relays in the
		// test process that delay every byte.
		var relays []*netfault.Relay
		var urls []string
		for _, node := range nats.Nodes {
			r := n.Relay(t, fmt.Sprintf("%s:%d", node.Place.Host, node.Port))
			relays = append(relays, r)
			urls = append(urls, "nats://"+r.Addr())
		}
		c := proctest.StartRewindAt(t, rc.Place(), "rewind-c", "NATS_URL="+strings.Join(urls, ","), "REPLICAS=3")
		underOn(t, scenario.NewFleet(c, b), "latency", func(t *testing.T, s *scenario.Scenario) {
			for _, r := range relays {
				r.SetDelay(200 * time.Millisecond)
			}
			hold(t, degradedFor)
			for _, r := range relays {
				r.SetDelay(0)
			}
		})
	})

	t.Run("a half-open client is cut off by the server's keep-alive", func(t *testing.T) {
		// A client on a quiet topic: nothing but the server's pings goes
		// its way, so only they can find that it is gone.
		c := wstest.Dial(t, a.URL(), wstest.TransportWS, nil)
		c.Init()
		c.Subscribe("1", wstest.EventsQuery, map[string]any{"topics": []string{"quiet"}})
		// The client reads, so it answers pings, until its packets stop.
		go func() {
			for {
				if _, err := c.TryRead(time.Hour); err != nil {
					return
				}
			}
		}()
		_, port, _ := net.SplitHostPort(a.Addr)
		serverPort, _ := strconv.Atoi(port)
		clientPort := c.Conn.LocalAddr().(*net.TCPAddr).Port
		if !ra.Established(t, serverPort, clientPort) {
			t.Fatalf("A has no connection from client port %d", clientPort)
		}
		f := n.HalfOpen(t, ra, serverPort, clientPort)
		defer f.Heal()
		start := time.Now()
		bound := 2*gqlws.DefaultKeepAlive + gqlws.DefaultWriteTimeout
		deadline := start.Add(bound + 5*time.Second)
		for ra.Established(t, serverPort, clientPort) {
			if time.Now().After(deadline) {
				t.Fatalf("A still holds the half-open connection %v after its packets stopped (documented bound: two keep-alives of %v and the write timeout %v)",
					time.Since(start).Round(time.Second), gqlws.DefaultKeepAlive, gqlws.DefaultWriteTimeout)
			}
			time.Sleep(100 * time.Millisecond) // polling the kernel's socket table
		}
		t.Logf("netfault halfopen: A closed the half-open connection %v after its packets stopped (bound %v)", time.Since(start).Round(time.Millisecond), bound)
	})
}

// hold lets a fault last d (or until the test ends).
func hold(t *testing.T, d time.Duration) {
	select {
	case <-t.Context().Done():
	case <-time.After(d):
	}
}

func others(hosts []*netfault.Host, i int) []*netfault.Host {
	var out []*netfault.Host
	for j, h := range hosts {
		if j != i {
			out = append(out, h)
		}
	}
	return out
}

// connectedNode returns the index of the NATS node the Rewind instance at
// h is connected to, from the nodes' /connz.
func connectedNode(t *testing.T, c *proctest.NATSCluster, h *netfault.Host) int {
	t.Helper()
	for i, node := range c.Nodes {
		resp, err := http.Get(fmt.Sprintf("http://%s:%d/connz", node.Place.Host, node.MonitorPort))
		if err != nil {
			t.Fatal(err)
		}
		var connz struct {
			Connections []struct {
				IP   string `json:"ip"`
				Name string `json:"name"`
			} `json:"connections"`
		}
		err = json.NewDecoder(resp.Body).Decode(&connz)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("connz of %s: %v", node.Name, err)
		}
		for _, conn := range connz.Connections {
			if conn.IP == h.IP && conn.Name == "rewind" {
				return i
			}
		}
	}
	t.Fatalf("no NATS node has a connection from %s (%s)", h.Name, h.IP)
	return -1
}

// moveStreamLeader makes node i lead the REWIND stream. Right after a
// fault JetStream may refuse for a while: the request is repeated.
func moveStreamLeader(t *testing.T, c *proctest.NATSCluster, i int) {
	t.Helper()
	nc, err := natsgo.Connect(c.Nodes[i].URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, c.Nodes[i].Name)
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for c.StreamLeader("REWIND") != i {
		if time.Now().After(deadline) {
			t.Fatalf("stream leader not moved to %s in 60s: %s", c.Nodes[i].Name, last)
		}
		if resp, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN.REWIND", []byte(req), 10*time.Second); err != nil {
			last = err.Error()
		} else {
			last = string(resp.Data)
		}
		time.Sleep(500 * time.Millisecond) // an election, or JetStream recovering
	}
}

// waitReadyz waits until the instance's /readyz answers code.
func waitReadyz(t *testing.T, r *proctest.Rewind, code int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			last = resp.StatusCode
			resp.Body.Close()
		}
		cancel()
		if last == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz answered %d, not %d, %v on (%v); its log:\n%s", r.Name, last, code, d, err, r.Log)
		}
		time.Sleep(100 * time.Millisecond) // polling an HTTP endpoint
	}
}
