// Package rewindjs_test tests @rewind/client (this folder's npm package)
// against real Rewind server processes: its Node tests with node --test,
// and Apollo Client and urql pages built from it in headless Chromium.
package rewindjs_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/proctest"
)

// prepare installs the package's pinned npm packages (npm ci, once per
// checkout) and builds dist/ with tsc. Node and npm are required: without
// them the test fails, it does not skip.
func prepare(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	prepareOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
			prepareErr = npm(dir, "ci", "--no-audit", "--no-fund")
		}
		if prepareErr == nil {
			prepareErr = npm(dir, "run", "build")
		}
	})
	if prepareErr != nil {
		t.Fatalf("prepare @rewind/client (Node 20 and npm are needed): %v", prepareErr)
	}
	return dir
}

var (
	prepareOnce sync.Once
	prepareErr  error
)

func npm(dir string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return &cmdError{cmd: "npm " + strings.Join(args, " "), err: err, out: string(out)}
	}
	return nil
}

type cmdError struct {
	cmd, out string
	err      error
}

func (e *cmdError) Error() string { return e.cmd + ": " + e.err.Error() + "\n" + e.out }

// restartable is a Rewind process on a fixed address with a data folder
// that outlives it, so that clients reconnect to the same URL and find
// every event stored before a SIGKILL.
type restartable struct {
	t    *testing.T
	url  string // the same after every restart
	env  []string
	n    int
	proc *proctest.Rewind
}

func startRestartable(t *testing.T, env ...string) *restartable {
	t.Helper()
	addr := proctest.FreeAddr(t).String()
	r := &restartable{t: t, url: "http://" + addr + "/graphql", env: append([]string{"DATA_DIR=" + t.TempDir(), "ADDR=" + addr}, env...)}
	r.start()
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	r.n++
	r.proc = proctest.StartRewind(r.t, fmt.Sprintf("rewind-%d", r.n), r.env...)
}

// kill9AndRestart kills the server with SIGKILL and starts it again on
// the same address with the same data.
func (r *restartable) kill9AndRestart() {
	r.t.Helper()
	r.proc.Kill9(r.t)
	r.start()
}

// URL is the server's GraphQL endpoint; safe to call while it restarts.
func (r *restartable) URL() string { return r.url }

// controlled serves POST /kill9-restart for a test program (node --test)
// that needs the server restarted under it. Restarts run on the test's
// goroutine, inside run, since they may fail the test.
type controlled struct {
	srv  *restartable
	reqs chan chan struct{}
	http *http.Server
	URL  string
}

func control(t *testing.T, srv *restartable) *controlled {
	t.Helper()
	c := &controlled{srv: srv, reqs: make(chan chan struct{})}
	l := proctest.FreeAddr(t).String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /kill9-restart", func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		select {
		case c.reqs <- done:
		case <-r.Context().Done():
			return
		}
		select {
		case <-done:
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	})
	c.http = &http.Server{Addr: l, Handler: mux}
	ln, err := netListen(l)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.http.Serve(ln) }()
	t.Cleanup(func() { _ = c.http.Close() })
	c.URL = "http://" + l
	return c
}

// run runs cmd to its end, serving restart requests meanwhile.
func (c *controlled) run(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case done := <-c.reqs:
			c.srv.kill9AndRestart()
			close(done)
		case err := <-exited:
			return err
		}
	}
}
