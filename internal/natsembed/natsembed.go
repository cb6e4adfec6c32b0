// Package natsembed runs a nats-server with JetStream inside the process, so
// that Rewind needs nothing else installed. Production deployments connect
// to a NATS cluster instead and do not use this package.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
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
	// MaxPayload is NATS's max_payload in bytes. Default 8 MiB.
	MaxPayload int32
	// SyncAlways makes JetStream fsync every write instead of every two
	// minutes: slower, and safe against power loss, not just process death.
	SyncAlways bool
	// SyncInterval, without SyncAlways, is how often JetStream fsyncs.
	// Default: nats-server's (two minutes).
	SyncInterval time.Duration
}

// ErrLocked: another embedded server (another process, such as a running
// Rewind server) uses the data dir.
var ErrLocked = errors.New("data dir is in use by another process")

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
// returns ErrLocked while another embedded server uses the data dir.
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
		cfg.MaxPayload = 8 << 20
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
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 30s")
	}
	return &Server{ns: ns, listen: cfg.Listen != "", unlock: unlock}, nil
}

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
