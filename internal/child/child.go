// Package child runs a program as a child process for tests and the
// benchmark harness: its output is kept (and copied where asked), a line
// of it can be awaited, and its end is observed. Test helpers
// (internal/proctest) and rewind-bench both start servers through it.
package child

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Spec says how to start a program.
type Spec struct {
	Name string   // for errors and reports
	Path string   // executable
	Args []string // arguments
	Env  []string // added to this process's environment, later entries winning
	Dir  string   // working directory; empty: this process's
	// Output, if set, receives a copy of the program's stdout and stderr.
	Output io.Writer
	// Group starts the program in a process group of its own, which Stop
	// signals whole, and which dies with this process.
	Group bool
}

// Proc is a running program.
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	Log    *Log          // stdout and stderr
	Exited chan struct{} // closed once the program has ended
	group  bool

	state   *os.ProcessState // set before Exited closes
	waitErr error
}

// Start starts spec's program.
func Start(spec Spec) (*Proc, error) {
	p := &Proc{Name: spec.Name, Log: &Log{changed: make(chan struct{})}, Exited: make(chan struct{}), group: spec.Group}
	p.Cmd = exec.Command(spec.Path, spec.Args...)
	p.Cmd.Dir = spec.Dir
	p.Cmd.Env = append(os.Environ(), spec.Env...)
	var out io.Writer = p.Log
	if spec.Output != nil {
		out = io.MultiWriter(p.Log, spec.Output)
	}
	p.Cmd.Stdout, p.Cmd.Stderr = out, out
	if spec.Group {
		p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	go func() {
		p.waitErr = p.Cmd.Wait()
		p.state = p.Cmd.ProcessState
		close(p.Exited)
	}()
	return p, nil
}

// Await waits for the first match of re in the program's output and
// returns its submatches; it fails if the program ends first or ctx does.
func (p *Proc) Await(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	for {
		out, changed := p.Log.snapshot()
		if m := re.FindStringSubmatch(out); m != nil {
			return m, nil
		}
		select {
		case <-changed:
		case <-p.Exited:
			if m := re.FindStringSubmatch(p.Log.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s exited (%v) before printing %s:\n%s", p.Name, p.state, re, p.Log)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s did not print %s in time:\n%s", p.Name, re, p.Log)
		}
	}
}

// State is how the program ended; nil while it runs.
func (p *Proc) State() *os.ProcessState {
	select {
	case <-p.Exited:
		return p.state
	default:
		return nil
	}
}

// Err is the program's exit error once it has ended.
func (p *Proc) Err() error {
	<-p.Exited
	return p.waitErr
}

// Running reports whether the program has not ended.
func (p *Proc) Running() bool { return p.State() == nil }

// Signal sends sig to the program, or to its whole group.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.group {
		return syscall.Kill(-p.Cmd.Process.Pid, sig)
	}
	return p.Cmd.Process.Signal(sig)
}

// Stop sends SIGTERM, then SIGKILL if the program still runs after d, and
// waits for its end.
func (p *Proc) Stop(d time.Duration) {
	if !p.Running() {
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(d):
		_ = p.Signal(syscall.SIGKILL)
		<-p.Exited
	}
}

// Log collects a program's output and tells waiters when it grows.
type Log struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (b *Log) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

func (b *Log) snapshot() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.changed
}

func (b *Log) String() string {
	s, _ := b.snapshot()
	return s
}
