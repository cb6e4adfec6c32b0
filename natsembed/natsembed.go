// Package natsembed runs a nats-server with JetStream inside the process,
// its files in one folder, so that a program using Rewind (Rewind's own
// server, your gqlgen server, a test) needs nothing else installed: one
// binary holds the broker and the store. The folder is locked while a
// server uses it. Deployments that need more than one process connect to a
// NATS cluster instead and do not use this package.
//
// It is a public package: programs outside Rewind may import it.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config configures an embedded server.
type Config struct {
	// DataDir holds JetStream's files. Required.
	DataDir string
	// Listen, as host:port, also serves NATS clients over TCP (the admin
	// CLI, another process). Empty: in-process connections only. Port 0
	// picks a free port.
	Listen string
	// MaxPayload is NATS's max_payload in bytes. Default DefaultMaxPayload.
	MaxPayload int32
	// SyncAlways makes JetStream fsync every write instead of every two
	// minutes: slower, and safe against power loss, not just process death.
	SyncAlways bool
	// SyncInterval, without SyncAlways, is how often JetStream fsyncs.
	// Default: nats-server's (two minutes).
	SyncInterval time.Duration
}

// DefaultMaxPayload is the embedded server's max_payload, the largest
// message it carries: 8 MiB, NATS's recommended ceiling.
const DefaultMaxPayload = 8 << 20

// ErrLocked: another embedded server (another process, such as a running
// Rewind server) uses the data dir. Start returns it as a *LockedError.
var ErrLocked = errors.New("data dir is in use by another process")

// LockedError says which process holds the data dir, when it is known.
type LockedError struct {
	Dir string
	PID int // 0: unknown
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("embedded nats: %s: %v", e.Dir, ErrLocked)
	}
	return fmt.Sprintf("embedded nats: %s: %v (pid %d)", e.Dir, ErrLocked, e.PID)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// ErrListen: Config.Listen cannot be listened on (in use, not an address
// of this host, a privileged port). It wraps the *net.OpError.
var ErrListen = errors.New("cannot listen")

// lockFile, in the data dir, is held by the process whose embedded server
// uses the folder.
const lockFile = "rewind.lock"

// Server is a running embedded nats-server.
type Server struct {
	ns     *server.Server
	listen bool
	unlock func()
}

// Start starts the server and waits until it accepts connections. It
// returns ErrLocked while another embedded server uses the data dir, and
// ErrListen when Config.Listen is taken; both at once, not after a wait.
func Start(cfg Config) (_ *Server, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded nats: data dir is required")
	}
	unlock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	opts := &server.Options{
		ServerName:   "rewind-embedded",
		JetStream:    true,
		StoreDir:     cfg.DataDir,
		MaxPayload:   cfg.MaxPayload,
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
		NoSigs:       true,
		NoLog:        true,
		DontListen:   cfg.Listen == "",
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen address %q: %w", cfg.Listen, err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("embedded nats port %q: %w", port, err)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		} else if err := checkListen(cfg.Listen); err != nil {
			return nil, err
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	// nats-server reports a failed start (a port taken since checkListen,
	// JetStream refusing its folder) only to its logger, and
	// ReadyForConnections would wait out its whole timeout.
	fatal := make(chan string, 1)
	ns.SetLogger(startLogger{fatal}, false, false)
	ns.Start()
	for deadline := time.Now().Add(30 * time.Second); ; {
		// Start reports a fatal error before the server turns ready, and a
		// server can turn ready without JetStream: check after each wait.
		ready := ns.ReadyForConnections(50 * time.Millisecond)
		select {
		case msg := <-fatal:
			ns.Shutdown()
			if strings.Contains(msg, "listening") {
				return nil, fmt.Errorf("embedded nats: %w on %s: %s", ErrListen, cfg.Listen, msg)
			}
			return nil, fmt.Errorf("embedded nats: %s", msg)
		default:
		}
		if ready {
			return &Server{ns: ns, listen: cfg.Listen != "", unlock: unlock}, nil
		}
		if time.Now().After(deadline) {
			ns.Shutdown()
			return nil, errors.New("embedded nats: not ready after 30s")
		}
	}
}

// checkListen fails with ErrListen when addr cannot be listened on now.
func checkListen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("embedded nats: %w: %w", ErrListen, err)
	}
	return l.Close()
}

// startLogger passes the server's first fatal error to Start and drops
// the rest: the embedded server logs nothing of its own.
type startLogger struct{ fatal chan<- string }

func (l startLogger) Fatalf(format string, v ...any) {
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}
func (startLogger) Noticef(string, ...any) {}
func (startLogger) Warnf(string, ...any)   {}
func (startLogger) Errorf(string, ...any)  {}
func (startLogger) Debugf(string, ...any)  {}
func (startLogger) Tracef(string, ...any)  {}

// Connect opens a client connection to the server: in-process, with no
// network in between.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.ns), nats.Name("rewind")}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// ClientURL is the TCP address of the server when Config.Listen was set.
func (s *Server) ClientURL() string {
	if !s.listen {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits for it to end.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.unlock()
}
