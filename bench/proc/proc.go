// Package proc starts a server under test as a child process, finds the
// address it listens on, waits for its health check, and stops it. Every
// server, Rewind and peers alike, logs `msg=listening addr=HOST:PORT` on
// stderr and answers GET /healthz with 200 once it can serve.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rewind-dev/rewind/bench/metrics"
)

// Spec says how to start a server.
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
	cmd  *exec.Cmd

	done    chan struct{}
	waitErr error
	logWG   sync.WaitGroup
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// Start runs spec and returns once the server answers its health check, or
// fails within timeout.
func Start(ctx context.Context, spec Spec, timeout time.Duration) (*Server, error) {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	// Its own process group, so that a stop reaches anything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logw := spec.Log
	if logw == nil {
		logw = io.Discard
	}
	cmd.Stdout = logw
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	s := &Server{Name: spec.Name, cmd: cmd, done: make(chan struct{})}
	addrc := make(chan string, 1)
	s.logWG.Add(1)
	go func() {
		defer s.logWG.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logw, line)
			if !found {
				if m := listening.FindStringSubmatch(line); m != nil {
					found = true
					addrc <- m[1]
				}
			}
		}
		_, _ = io.Copy(logw, stderr)
	}()
	go func() {
		s.logWG.Wait()
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case addr := <-addrc:
		if strings.HasPrefix(addr, ":") || strings.HasPrefix(addr, "[::]") || strings.HasPrefix(addr, "0.0.0.0") {
			s.Stop()
			return nil, fmt.Errorf("%s listens on %s, not on loopback", spec.Name, addr)
		}
		s.URL = "http://" + addr
	case <-s.done:
		return nil, fmt.Errorf("%s exited before listening: %v", spec.Name, s.waitErr)
	case <-tctx.Done():
		s.Stop()
		return nil, fmt.Errorf("%s did not log its address within %s", spec.Name, timeout)
	}
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
		case <-s.done:
			return fmt.Errorf("%s exited while starting: %v", s.Name, s.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PID is the child's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Usage reads the server's RSS and CPU time.
func (s *Server) Usage() (metrics.Usage, error) { return metrics.ReadUsage(s.PID()) }

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Alive reports whether the process still runs.
func (s *Server) Alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop asks the server to stop (SIGTERM), kills its process group after
// 10 s, and waits for it. It returns the exit error if the server had
// already failed on its own.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s had exited: %v", s.Name, s.waitErr)
	default:
	}
	_ = syscall.Kill(-s.PID(), syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.PID(), syscall.SIGKILL)
		<-s.done
	}
	var ee *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
		return s.waitErr
	}
	return nil
}
