// Package testenv gives tests real components: a nats-server with JetStream
// on loopback with its files in a temporary folder, clients and stores on
// it, all released when the test ends.
package testenv

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rewind-dev/rewind/eventstore"
)

// NATS is a JetStream server on 127.0.0.1 owned by one test.
type NATS struct {
	t    testing.TB
	Dir  string
	Port int
	srv  *server.Server

	inspect jetstream.JetStream // one client for Consumers, reused across calls
	opts    func(*server.Options)
}

// StartNATS starts a JetStream server on a free loopback port.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	return StartNATSWith(t, nil)
}

// StartNATSWith starts a JetStream server whose options opts adjusts
// (authentication, TLS).
func StartNATSWith(t testing.TB, opts func(*server.Options)) *NATS {
	t.Helper()
	n := &NATS{t: t, Dir: t.TempDir(), Port: server.RANDOM_PORT, opts: opts}
	n.Start()
	n.Port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.Stop)
	return n
}

// Start (re)starts the server on its folder and port.
func (n *NATS) Start() {
	n.t.Helper()
	opts := &server.Options{
		Host: "127.0.0.1", Port: n.Port, JetStream: true, StoreDir: n.Dir,
		NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
	}
	if n.opts != nil {
		n.opts(opts)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		n.t.Fatalf("nats server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats server not ready after 10s")
	}
	n.srv = srv
}

// Stop shuts the server down; Start brings it back with its data.
func (n *NATS) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// URL is the server's client URL.
func (n *NATS) URL() string { return n.srv.ClientURL() }

// Server is the running server, for inspection (consumer counts).
func (n *NATS) Server() *server.Server { return n.srv }

// Connect opens a client that reconnects forever, closed with the test.
func (n *NATS) Connect() *nats.Conn {
	n.t.Helper()
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		n.t.Fatalf("connect: %v", err)
	}
	n.t.Cleanup(nc.Close)
	return nc
}

// Store opens an event store on a new connection to n.
func (n *NATS) Store(cfg eventstore.Config) *eventstore.Store {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := eventstore.Open(ctx, n.Connect(), cfg)
	if err != nil {
		n.t.Fatalf("open store: %v", err)
	}
	return s
}

// Consumers returns how many consumers the stream has now.
func (n *NATS) Consumers(stream string) int {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.inspect == nil {
		js, err := jetstream.New(n.Connect())
		if err != nil {
			n.t.Fatalf("jetstream: %v", err)
		}
		n.inspect = js
	}
	s, err := n.inspect.Stream(ctx, stream)
	if err != nil {
		n.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		n.t.Fatalf("stream info: %v", err)
	}
	return info.State.Consumers
}

// Eventually fails the test unless cond becomes true within d.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}
