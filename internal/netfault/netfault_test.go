package netfault_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/netfault"
	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// The test binary doubles as the processes the tests place in
// namespaces: an echo server (NETFAULT_ECHO=addr) and a one-shot client
// (NETFAULT_DIAL=addr) that exits 0 when an echo came back within 300 ms.
func TestMain(m *testing.M) {
	if addr := os.Getenv("NETFAULT_ECHO"); addr != "" {
		echo(addr)
		return
	}
	if addr := os.Getenv("NETFAULT_DIAL"); addr != "" {
		if err := dial(addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

func echo(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "echo listening")
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

const echoPort = 7000

// startEcho runs an echo server in h.
func startEcho(t *testing.T, h *netfault.Host) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, args := "ip", []string{"netns", "exec", h.NS, self}
	proctest.Start(t, "echo "+h.Name, bin, args, []string{"NETFAULT_ECHO=" + h.IP + ":" + strconv.Itoa(echoPort)}, regexp.MustCompile("echo listening"))
}

// reaches reports whether a client in from gets an echo from to.
func reaches(t *testing.T, from, to *netfault.Host) bool {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command("ip", "netns", "exec", from.NS, self)
	cmd.Env = append(os.Environ(), "NETFAULT_DIAL="+to.IP+":"+strconv.Itoa(echoPort))
	return cmd.Run() == nil
}

// TestFaults checks each fault against real connections: what it cuts
// is cut, what it spares is not, and Heal restores everything.
func TestFaults(t *testing.T) {
	n := netfault.New(t, "rwnft")
	a, b, c := n.Host("a"), n.Host("b"), n.Host("c")
	for _, h := range []*netfault.Host{a, b, c} {
		startEcho(t, h)
	}
	all := func(want bool, pairs ...[2]*netfault.Host) {
		t.Helper()
		for _, p := range pairs {
			if got := reaches(t, p[0], p[1]); got != want {
				t.Errorf("%s -> %s reaches: %v, want %v", p[0].Name, p[1].Name, got, want)
			}
		}
	}
	all(true, [2]*netfault.Host{a, b}, [2]*netfault.Host{b, c}, [2]*netfault.Host{c, a})

	f := n.Partition(t, a, b)
	all(false, [2]*netfault.Host{a, b}, [2]*netfault.Host{b, a})
	all(true, [2]*netfault.Host{a, c}, [2]*netfault.Host{c, b})
	f.Heal()
	all(true, [2]*netfault.Host{a, b}, [2]*netfault.Host{b, a})

	// One way: a's packets to b vanish, so no TCP handshake completes in
	// either direction; a's packets to c and b's to anyone still go.
	f = n.Block(t, a, b)
	all(false, [2]*netfault.Host{a, b}, [2]*netfault.Host{b, a})
	all(true, [2]*netfault.Host{b, c}, [2]*netfault.Host{a, c})
	f.Heal()
	all(true, [2]*netfault.Host{a, b}, [2]*netfault.Host{b, a})

	f = n.Loss(t, 100, c)
	all(false, [2]*netfault.Host{c, a}, [2]*netfault.Host{a, c})
	all(true, [2]*netfault.Host{a, b})
	f.Heal()
	all(true, [2]*netfault.Host{c, a}, [2]*netfault.Host{a, c})

	// Half-open: one connection from this process to a goes silent; a
	// new connection from another port still works.
	conn, err := net.Dial("tcp", a.IP+":"+strconv.Itoa(echoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr).Port
	testenv.Eventually(t, 5*time.Second, "a to see the connection", func() bool { return a.Established(t, echoPort, local) })
	f = n.HalfOpen(t, a, echoPort, local)
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 1)); err == nil {
		t.Error("an echo came back over the half-open connection")
	}
	if !a.Established(t, echoPort, local) {
		t.Error("a gave up the half-open connection at once; it should see only silence")
	}
	other, err := net.DialTimeout("tcp", a.IP+":"+strconv.Itoa(echoPort), time.Second)
	if err != nil {
		t.Errorf("a new connection to a while one is half-open: %v", err)
	} else {
		other.Close()
	}
	f.Heal()
}

// TestRelay: a relay forwards at once, then with its delay each way, then
// at once again.
func TestRelay(t *testing.T) {
	n := netfault.New(t, "rwnfr")
	a := n.Host("a")
	startEcho(t, a)
	r := n.Relay(t, a.IP+":"+strconv.Itoa(echoPort))
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip := func() time.Duration {
		t.Helper()
		start := time.Now()
		_ = conn.SetDeadline(start.Add(5 * time.Second))
		if _, err := conn.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	if d := roundTrip(); d > 100*time.Millisecond {
		t.Errorf("round trip without delay: %v", d)
	}
	r.SetDelay(150 * time.Millisecond)
	if d := roundTrip(); d < 300*time.Millisecond {
		t.Errorf("round trip with 150ms each way: %v, want at least 300ms", d)
	}
	r.SetDelay(0)
	if d := roundTrip(); d > 100*time.Millisecond {
		t.Errorf("round trip after the delay is lifted: %v", d)
	}
}
