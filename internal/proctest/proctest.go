// Package proctest runs real processes for tests: it builds Go commands
// (with the race detector when the test has it), starts them with their
// stderr captured, waits for a line that says they are ready, and kills
// them with SIGKILL on demand and when the test ends.
package proctest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/child"
)

var (
	buildMu  sync.Mutex
	builtDir string
	built    = map[string]string{}
)

// Build compiles the Go package pkg (an import path, or a directory) once
// per test binary, with -race when the test has it, and returns the
// executable's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	return build(t, pkg, RaceEnabled())
}

func build(t testing.TB, pkg string, race bool) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	if builtDir == "" {
		dir, err := os.MkdirTemp("", "rewind-proctest-")
		if err != nil {
			t.Fatal(err)
		}
		builtDir = dir
	}
	bin := filepath.Join(builtDir, fmt.Sprintf("bin%d-%s", len(built), filepath.Base(pkg)))
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s %s: %v\n%s", strings.Join(args, " "), pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// RaceEnabled reports whether this test binary was built with -race.
func RaceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// Proc is one running process (see package child), with methods that
// fail the test.
type Proc struct{ *child.Proc }

// Start runs bin with args and env (added to this process's environment,
// later entries winning) and returns once its output matches ready, whose
// first group, if any, is returned. The process is killed when the test
// ends; a data race it reports fails the test.
func Start(t testing.TB, name, bin string, args, env []string, ready *regexp.Regexp) (*Proc, string) {
	t.Helper()
	c, err := child.Start(child.Spec{Name: name, Path: bin, Args: args, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{c}
	t.Cleanup(func() {
		p.Kill9IfRunning()
		if strings.Contains(p.Log.String(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", name, p.Log)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := p.Await(ctx, ready)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) > 1 {
		return p, m[1]
	}
	return p, ""
}

// Kill9 sends SIGKILL, so nothing shuts down cleanly, and waits for the exit.
func (p *Proc) Kill9(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.Name, err)
	}
	select {
	case <-p.Exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10s after SIGKILL:\n%s", p.Name, p.Log)
	}
	ws, ok := p.State().Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s ended with %v, want killed by SIGKILL:\n%s", p.Name, p.State(), p.Log)
	}
}

// Kill9IfRunning kills the process if it has not ended.
func (p *Proc) Kill9IfRunning() {
	select {
	case <-p.Exited:
	default:
		_ = p.Cmd.Process.Kill()
		<-p.Exited
	}
}

// Stop sends SIGTERM and waits up to d for a clean exit.
func (p *Proc) Stop(t testing.TB, d time.Duration) {
	t.Helper()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(d):
		t.Fatalf("%s still running %v after SIGTERM:\n%s", p.Name, d, p.Log)
	}
}

// Place is where a process runs: its listening address and a command that
// runs it there (say, ip netns exec NS). The zero Place is 127.0.0.1 in
// this process's own network.
type Place struct {
	// Host is the address the process listens on. Default 127.0.0.1.
	Host string
	// Exec, if set, is the command and arguments that run the process's
	// command line in its place; it must exec that command, so that the
	// process started is the one killed.
	Exec []string
}

func (p Place) host() string {
	if p.Host == "" {
		return "127.0.0.1"
	}
	return p.Host
}

func (p Place) command(bin string, args []string) (string, []string) {
	if len(p.Exec) == 0 {
		return bin, args
	}
	return p.Exec[0], append(append(slices.Clone(p.Exec[1:]), bin), args...)
}

// Rewind is a running Rewind server process.
type Rewind struct {
	*Proc
	Addr string // host:port of its HTTP listener
}

// URL is the server's GraphQL endpoint.
func (r *Rewind) URL() string { return "http://" + r.Addr + "/graphql" }

var listening = regexp.MustCompile(`msg=listening addr=(\S+)[^\n]*\n`)

// StartRewind builds and runs cmd/server on 127.0.0.1 with env added (e.g.
// DATA_DIR, NATS_URL), and returns once /healthz answers 200.
func StartRewind(t testing.TB, name string, env ...string) *Rewind {
	t.Helper()
	return StartRewindAt(t, Place{}, name, env...)
}

// StartRewindAt runs cmd/server at place, listening on its host, as
// StartRewind does.
func StartRewindAt(t testing.TB, place Place, name string, env ...string) *Rewind {
	t.Helper()
	bin, args := place.command(Build(t, "github.com/rewind-dev/rewind/cmd/server"), nil)
	// Defaults first, env after: later entries win, and an ambient
	// NATS_URL or LOG_LEVEL cannot change what is tested.
	base := []string{"ADDR=" + net.JoinHostPort(place.host(), "0"), "NATS_URL=", "NATS_LISTEN=", "ALLOWED_ORIGINS=", "MAX_PAYLOAD=", "LOG_LEVEL=info"}
	p, addr := Start(t, name, bin, args, append(base, env...), listening)
	r := &Rewind{Proc: p, Addr: addr}
	r.WaitHealthy(t, 60*time.Second)
	return r
}

// WaitHealthy waits until /healthz answers 200.
func (r *Rewind) WaitHealthy(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		code, err := get("http://" + r.Addr + "/healthz")
		if err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /healthz not 200 within %v (status %d, %v):\n%s", r.Name, d, code, err, r.Log)
		}
		select {
		case <-tick.C:
		case <-r.Exited:
			t.Fatalf("%s exited before it was healthy (%v):\n%s", r.Name, r.State(), r.Log)
		}
	}
}

func get(url string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// NPMInstall installs the pinned npm packages of the folder dir (its
// package-lock.json) when its node_modules is missing. Node and npm are
// required: without them the test fails, it does not skip.
func NPMInstall(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return
	}
	out, err := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--prefix", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("npm ci in %s (Node 20 and npm are needed): %v\n%s", dir, err, out)
	}
}
