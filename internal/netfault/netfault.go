// Package netfault runs test processes in Linux network namespaces of
// their own, joined by a bridge that the test process reaches too, and
// injects network faults between them with nftables: partitions (both ways
// or one way), packet loss, and a TCP connection whose packets silently
// vanish (half-open). Every fault is healed by its Heal and, at the
// latest, when the test ends; the namespaces are deleted when the test
// ends and, left over from a run that crashed, when the next one starts.
//
// It needs root, ip (iproute2) and nft (nftables). Where they are missing
// or the kernel refuses, New skips the test, and fails it when CI=true.
package netfault

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/proctest"
)

// Net is one test's namespaces: a bridge, the hosts on it, and the test
// process's own namespace joined to it by a veth pair at .254 of the
// subnet.
type Net struct {
	t      testing.TB
	prefix string
	subnet string // the first three octets, "10.213.N"
	bridge string // the namespace holding the bridge

	mu     sync.Mutex
	hosts  []*Host
	faults int
}

// Host is one namespace on the bridge, with one address.
type Host struct {
	Name string
	NS   string // the namespace's name
	IP   string
	net  *Net
}

// New creates the bridge for a test. prefix (at most 8 letters, distinct
// per test package, since packages run in parallel) names everything it
// creates and chooses the subnet; whatever a crashed run with the same
// prefix left is removed first.
func New(t testing.TB, prefix string) *Net {
	t.Helper()
	if len(prefix) > 8 {
		t.Fatalf("netfault prefix %q is longer than 8 letters: interface names would not fit", prefix)
	}
	if reason := unsupported(); reason != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("network fault tests cannot run here (and CI=true): %s", reason)
		}
		t.Skipf("network fault tests need root, ip and nft in a kernel with network namespaces: %s", reason)
	}
	n := &Net{
		t:      t,
		prefix: prefix,
		subnet: fmt.Sprintf("10.213.%d", 16+crc32.ChecksumIEEE([]byte(prefix))%200),
		bridge: prefix + "-br",
	}
	n.removeLeftovers()
	t.Cleanup(n.removeLeftovers)
	n.run("ip", "netns", "add", n.bridge)
	n.run("ip", "-n", n.bridge, "link", "add", "br0", "type", "bridge")
	n.run("ip", "-n", n.bridge, "link", "set", "br0", "up")
	root := n.prefix + "-r"
	n.run("ip", "link", "add", root, "type", "veth", "peer", "name", "root", "netns", n.bridge)
	n.run("ip", "-n", n.bridge, "link", "set", "root", "master", "br0", "up")
	n.run("ip", "addr", "add", n.subnet+".254/24", "dev", root)
	n.run("ip", "link", "set", root, "up")
	return n
}

// unsupported says why this machine cannot run the tests, or "".
func unsupported() string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	for _, tool := range []string{"ip", "nft", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s not found (Debian: apt-get install iproute2 nftables)", tool)
		}
	}
	probe := fmt.Sprintf("nfprobe%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return fmt.Sprintf("ip netns add: %v: %s", err, bytes.TrimSpace(out))
	}
	defer exec.Command("ip", "netns", "delete", probe).Run()
	rules := "table inet probe {\n chain output {\n type filter hook output priority 0;\n numgen random mod 100 < 20 drop\n }\n}\n"
	if out, err := inNS(probe, rules); err != nil {
		return fmt.Sprintf("nft in a namespace: %v: %s", err, out)
	}
	return ""
}

// removeLeftovers deletes every namespace whose name has the prefix; with
// them go their interfaces, the root's veth and its route.
func (n *Net) removeLeftovers() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		n.t.Errorf("ip netns list: %v", err)
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, n.prefix+"-") {
			if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
				n.t.Errorf("ip netns delete %s: %v: %s", name, err, out)
			}
		}
	}
	// A root veth whose bridge namespace is gone is gone with it; one
	// left by a crash between its creation and its move is removed here.
	_ = exec.Command("ip", "link", "delete", n.prefix+"-r").Run()
}

// Host adds a namespace named prefix-name on the bridge, with the next
// address of the subnet. Call it from the test that made the Net.
func (n *Net) Host(name string) *Host {
	n.t.Helper()
	n.mu.Lock()
	i := len(n.hosts) + 1
	h := &Host{Name: name, NS: n.prefix + "-" + name, IP: fmt.Sprintf("%s.%d", n.subnet, i), net: n}
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	port := "h" + strconv.Itoa(i)
	n.run("ip", "netns", "add", h.NS)
	n.run("ip", "-n", n.bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	n.run("ip", "-n", n.bridge, "link", "set", port, "master", "br0", "up")
	n.run("ip", "-n", h.NS, "addr", "add", h.IP+"/24", "dev", "eth0")
	n.run("ip", "-n", h.NS, "link", "set", "eth0", "up")
	n.run("ip", "-n", h.NS, "link", "set", "lo", "up")
	return h
}

// Place runs a process in the host's namespace, listening on its address.
func (h *Host) Place() proctest.Place {
	return proctest.Place{Host: h.IP, Exec: []string{"ip", "netns", "exec", h.NS}}
}

// Established reports whether the host has an established TCP connection
// from its localPort to remotePort: whether its side still believes in it.
func (h *Host) Established(t testing.TB, localPort, remotePort int) bool {
	t.Helper()
	filter := fmt.Sprintf("( sport = :%d and dport = :%d )", localPort, remotePort)
	out, err := exec.Command("ip", "netns", "exec", h.NS, "ss", "-tnH", "state", "established", filter).CombinedOutput()
	if err != nil {
		t.Fatalf("ss in %s: %v: %s", h.Name, err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)) != ""
}

// Fault is a set of nftables rules in one or more namespaces, healed at
// the latest when the test that injected it ends.
type Fault struct {
	t      testing.TB
	what   string
	table  string
	hosts  []*Host
	mu     sync.Mutex
	healed bool
}

// Heal removes the fault's rules; more calls do nothing.
func (f *Fault) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healed {
		return
	}
	f.healed = true
	for _, h := range f.hosts {
		if out, err := inNS(h.NS, "delete table inet "+f.table); err != nil {
			f.t.Errorf("heal %s on %s: %v: %s", f.what, h.Name, err, out)
		}
	}
}

// HealAfter heals the fault once d has passed, or ctx has ended, and
// returns when it has.
func (f *Fault) HealAfter(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	f.Heal()
}

// rules are a fault's rules in one host: nft statements for its output
// and input hooks.
type rules struct {
	host          *Host
	output, input []string
}

func (n *Net) inject(t testing.TB, what string, rs ...rules) *Fault {
	t.Helper()
	n.mu.Lock()
	n.faults++
	f := &Fault{t: t, what: what, table: fmt.Sprintf("fault%d", n.faults)}
	n.mu.Unlock()
	t.Cleanup(f.Heal)
	for _, r := range rs {
		var b strings.Builder
		fmt.Fprintf(&b, "table inet %s {\n", f.table)
		fmt.Fprintf(&b, " chain output {\n  type filter hook output priority 0;\n  %s\n }\n", strings.Join(r.output, "\n  "))
		fmt.Fprintf(&b, " chain input {\n  type filter hook input priority 0;\n  %s\n }\n}\n", strings.Join(r.input, "\n  "))
		if out, err := inNS(r.host.NS, b.String()); err != nil {
			t.Fatalf("inject %s on %s: %v: %s\n%s", what, r.host.Name, err, out, b.String())
		}
		f.hosts = append(f.hosts, r.host)
	}
	return f
}

// Partition cuts a off from every peer, both ways: every packet between
// them is dropped, silently, as by a failed switch.
func (n *Net) Partition(t testing.TB, a *Host, peers ...*Host) *Fault {
	t.Helper()
	set := addrSet(peers)
	return n.inject(t, fmt.Sprintf("partition of %s from %s", a.Name, names(peers)), rules{
		host:   a,
		output: []string{"ip daddr " + set + " drop"},
		input:  []string{"ip saddr " + set + " drop"},
	})
}

// Block drops every packet from from to each of to, and none the other
// way: an asymmetric partition.
func (n *Net) Block(t testing.TB, from *Host, to ...*Host) *Fault {
	t.Helper()
	return n.inject(t, fmt.Sprintf("one-way partition %s -> %s", from.Name, names(to)), rules{
		host:   from,
		output: []string{"ip daddr " + addrSet(to) + " drop"},
	})
}

// Loss drops the given percentage of the packets each host sends, at
// random.
func (n *Net) Loss(t testing.TB, percent int, hosts ...*Host) *Fault {
	t.Helper()
	rule := fmt.Sprintf("numgen random mod 100 < %d drop", percent)
	if percent >= 100 {
		rule = "drop" // numgen's values stop at 99
	}
	var rs []rules
	for _, h := range hosts {
		rs = append(rs, rules{host: h, output: []string{rule}})
	}
	return n.inject(t, fmt.Sprintf("%d%% loss on %s", percent, names(hosts)), rs...)
}

// HalfOpen drops every packet of one TCP connection at h, both ways,
// without a FIN or RST: to each end the other has gone silent, as behind
// a proxy or NAT that lost the connection.
func (n *Net) HalfOpen(t testing.TB, h *Host, localPort, remotePort int) *Fault {
	t.Helper()
	return n.inject(t, fmt.Sprintf("half-open connection %s:%d <-> :%d", h.Name, localPort, remotePort), rules{
		host:   h,
		output: []string{fmt.Sprintf("tcp sport %d tcp dport %d drop", localPort, remotePort)},
		input:  []string{fmt.Sprintf("tcp dport %d tcp sport %d drop", localPort, remotePort)},
	})
}

func addrSet(hosts []*Host) string {
	var ips []string
	for _, h := range hosts {
		ips = append(ips, h.IP)
	}
	return "{ " + strings.Join(ips, ", ") + " }"
}

func names(hosts []*Host) string {
	var s []string
	for _, h := range hosts {
		s = append(s, h.Name)
	}
	return strings.Join(s, ",")
}

// inNS loads an nft script in a namespace.
func inNS(ns, script string) (string, error) {
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	return string(bytes.TrimSpace(out)), err
}

func (n *Net) run(name string, args ...string) string {
	n.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}
