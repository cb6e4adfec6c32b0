// Package apitest serves Rewind's API on loopback for tests, built by
// server.New as cmd/server builds it, on a live hub.
package apitest

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/server"
)

// Server is the API served by an httptest server.
type Server struct {
	*httptest.Server
	Hub *replay.Hub
	// Shutdown does what the server does on SIGTERM: it ends the base
	// context every request lives in, which ends WebSockets (1001) and SSE
	// streams.
	Shutdown context.CancelFunc
}

// Start serves store through server.New(cfg), with a hub configured by
// hcfg, until the test ends, and returns once the hub tails the stream.
func Start(t testing.TB, store *eventstore.Store, cfg server.Config, hcfg replay.Config) *Server {
	t.Helper()
	cfg.EventStore, cfg.Hub = store, hcfg
	s, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Open(ctx); err != nil {
		cancel()
		t.Fatalf("open: %v", err)
	}
	hub := s.Hub()
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		<-done
		s.Close()
	})
	<-hub.Ready()
	return &Server{Server: srv, Hub: hub, Shutdown: cancel}
}
