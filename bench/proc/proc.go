// Package proc starts a server under test as a child process, finds the
// address it listens on, waits for its health check, and stops it. Every
// server, Rewind and peers alike, logs `msg=listening addr=HOST:PORT` on
// stderr and answers GET /healthz with 200 once it can serve.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/rewind-dev/rewind/bench/metrics"
	"github.com/rewind-dev/rewind/internal/child"
)

// Spec says how to start a server (see child.Spec).
type Spec struct {
	Name string   // for reports and log files
	Path string   // executable
	Args []string // arguments
	Env  []string // added to the harness's environment
	Dir  string   // working directory; empty: the harness's
	// Log receives the server's stderr and stdout; nil discards them.
	Log io.Writer
}

// Server is a running child process.
type Server struct {
	Name string
	URL  string // http://host:port
	proc *child.Proc
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// Start runs spec and returns once the server answers its health check, or
// fails within timeout.
func Start(ctx context.Context, spec Spec, timeout time.Duration) (*Server, error) {
	// Its own process group, so that a stop reaches anything it started.
	p, err := child.Start(child.Spec{Name: spec.Name, Path: spec.Path, Args: spec.Args, Env: spec.Env, Dir: spec.Dir, Output: spec.Log, Group: true})
	if err != nil {
		return nil, err
	}
	s := &Server{Name: spec.Name, proc: p}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := p.Await(tctx, listening)
	if err != nil {
		s.Stop()
		return nil, err
	}
	if addr := m[1]; strings.HasPrefix(addr, ":") || strings.HasPrefix(addr, "[::]") || strings.HasPrefix(addr, "0.0.0.0") {
		s.Stop()
		return nil, fmt.Errorf("%s listens on %s, not on loopback", spec.Name, addr)
	}
	s.URL = "http://" + m[1]
	if err := s.waitHealthy(tctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitHealthy(ctx context.Context) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/healthz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: /healthz not 200 in time (last error %v)", s.Name, err)
		case <-s.proc.Exited:
			return fmt.Errorf("%s exited while starting: %v", s.Name, s.proc.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PID is the child's process id.
func (s *Server) PID() int { return s.proc.Cmd.Process.Pid }

// Usage reads the server's RSS and CPU time.
func (s *Server) Usage() (metrics.Usage, error) { return metrics.ReadUsage(s.PID()) }

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.proc.Exited }

// Alive reports whether the process still runs.
func (s *Server) Alive() bool { return s.proc.Running() }

// Stop asks the server to stop (SIGTERM), kills its process group after
// 10 s, and waits for it. It returns the exit error if the server had
// already failed on its own.
func (s *Server) Stop() error {
	if !s.proc.Running() {
		return fmt.Errorf("%s had exited: %v", s.Name, s.proc.Err())
	}
	s.proc.Stop(10 * time.Second)
	var ee *exec.ExitError
	if err := s.proc.Err(); err != nil && !errors.As(err, &ee) {
		return err
	}
	return nil
}
