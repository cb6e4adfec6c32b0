//go:build linux

package gqlws

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// poller reports which connections' sockets have something to read, so
// that an idle connection needs no goroutine blocked in a read: the
// runtime's netpoller tells a socket readable only to a goroutine waiting
// in Read. Each socket is in an epoll instance of the poller's own,
// one-shot: once reported it stays quiet until the turn that reads it
// asks again (conn.rearm), so one connection is never read by two
// goroutines. The runtime's netpoller in turn waits on the epoll instance
// (it is readable when a socket in it is ready), so the poller's one
// goroutine holds no thread while nothing happens. It runs while it
// watches a connection: the transport starts it with the first and stops
// it after the last (pollReads, unpoll).
type poller struct {
	file *os.File // the epoll instance
	fd   int
	done chan struct{} // closed when the goroutine has returned

	log *slog.Logger

	mu     sync.Mutex
	conns  map[uint64]*conn // by key, the epoll data of their sockets
	next   uint64
	closed bool
	failed error // why the goroutine stopped, if not closed
}

// pollEvents are what a socket is watched for: readable, or closed by the
// client (reported whatever is asked: hang-up, error).
const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func newPoller(log *slog.Logger) (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("epoll: set non-blocking: %w", err)
	}
	// Non-blocking, the file goes to the runtime's netpoller; a file it
	// cannot wait on takes no deadline.
	file := os.NewFile(uintptr(fd), "epoll")
	if err := file.SetReadDeadline(time.Time{}); err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("epoll: the runtime cannot wait on it: %w", err)
	}
	raw, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{file: file, fd: fd, log: log, done: make(chan struct{}), conns: map[uint64]*conn{}}
	go p.run(raw)
	return p, nil
}

// run hands every readable socket's connection a turn until the poller
// is closed.
func (p *poller) run(raw syscall.RawConn) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	var failed error
	err := raw.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil {
				failed = fmt.Errorf("epoll_wait: %w", err)
				return true
			}
			for _, ev := range events[:n] {
				key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
				p.mu.Lock()
				c := p.conns[key]
				p.mu.Unlock()
				if c != nil {
					c.ready()
				}
			}
			if n < len(events) {
				return false // every report taken: wait until the next
			}
		}
	})
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if failed == nil {
		failed = err
	}
	p.failed = failed
	conns := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	// Nothing would read these connections any more: they close, and
	// their clients, reconnecting, get a new poller.
	p.log.Error("websocket: readiness polling failed; closing its connections", "err", failed, "connections", len(conns))
	for _, c := range conns {
		c.kill()
	}
}

// pollReads has the transport's poller watch c's socket, starting the
// poller if it is the first; false means that c needs a goroutine to read
// it: its socket is not one the system can poll (TLS: bytes may wait
// decrypted in the TLS layer), or polling failed (the reason is logged).
func (t *Transport) pollReads(c *conn) bool {
	sc, ok := c.cork.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	t.pollMu.Lock()
	p, stale := t.polling, (*poller)(nil)
	if p != nil && p.stopped() {
		// Failed with no connection left to stop it.
		stale, p, t.polling = p, nil, nil
	}
	if p == nil {
		if p, err = newPoller(t.cfg.Logger); err != nil {
			t.pollMu.Unlock()
			t.cfg.Logger.Warn("websocket: no readiness polling, each connection holds a reading goroutine", "err", err)
			stale.close()
			return false
		}
		t.polling = p
	}
	p.mu.Lock()
	key := p.next
	p.next++
	// Known before its socket is watched, and watched for nothing yet:
	// the first readiness is asked for by c.rearm, once c is ready for a
	// turn.
	p.conns[key] = c
	ev := syscall.EpollEvent{Events: syscall.EPOLLONESHOT, Fd: int32(uint32(key)), Pad: int32(uint32(key >> 32))}
	var ctlErr error
	if err := raw.Control(func(fd uintptr) { ctlErr = syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil {
		ctlErr = err
	}
	if ctlErr != nil {
		delete(p.conns, key)
	}
	empty := len(p.conns) == 0
	p.mu.Unlock()
	if ctlErr != nil && empty {
		t.stopPollerLocked(p)
	}
	t.pollMu.Unlock()
	stale.close()
	if ctlErr != nil {
		t.cfg.Logger.Debug("websocket poll", "err", ctlErr)
		if empty {
			p.close()
		}
		return false
	}
	c.poller, c.key = p, key
	return true
}

// rearm asks the poller to report the socket's next readiness, once.
func (c *conn) rearm() error {
	p := c.poller
	raw, err := c.cork.Conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.failed != nil {
		return fmt.Errorf("poller stopped: %v", p.failed)
	}
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(uint32(c.key)), Pad: int32(uint32(c.key >> 32))}
	var ctlErr error
	// Control holds the socket open: its descriptor cannot be closed and
	// reused by another socket under the call.
	if err := raw.Control(func(fd uintptr) { ctlErr = syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_MOD, int(fd), &ev) }); err != nil {
		return err
	}
	if ctlErr != nil {
		return fmt.Errorf("epoll_ctl: %w", ctlErr)
	}
	return nil
}

// unpoll forgets c, whose socket is closed (which took it out of the epoll
// instance), and stops the poller after its last connection.
func (c *conn) unpoll() {
	p := c.poller
	if p == nil {
		return
	}
	c.poller = nil
	t := c.t
	t.pollMu.Lock()
	p.mu.Lock()
	delete(p.conns, c.key)
	last := len(p.conns) == 0
	p.mu.Unlock()
	if last {
		t.stopPollerLocked(p)
	}
	t.pollMu.Unlock()
	if last {
		p.close()
	}
}

// close ends p's goroutine and waits for it; nil does nothing. Closing the
// epoll file ends the goroutine's wait.
func (p *poller) close() {
	if p == nil {
		return
	}
	_ = p.file.Close()
	<-p.done
}

// stopped reports whether p's goroutine failed.
func (p *poller) stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed != nil
}

// stopPollerLocked marks p closed and makes the next connection start a
// new poller; the caller closes p's file once it has let go of
// t.pollMu, the goroutine perhaps waiting for p.mu meanwhile.
func (t *Transport) stopPollerLocked(p *poller) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	if t.polling == p {
		t.polling = nil
	}
}
