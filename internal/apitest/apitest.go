// Package apitest serves Rewind's API on loopback for tests, the way
// cmd/server does, on a live hub.
package apitest

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/rewind-dev/rewind/api"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
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

// Start serves api.New(cfg, store, hub) with a hub configured by hcfg
// until the test ends, and returns once the hub tails the stream.
func Start(t testing.TB, store *eventstore.Store, cfg api.Config, hcfg replay.Config) *Server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	hub := replay.NewHub(store, hcfg, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	srv := httptest.NewUnstartedServer(api.New(cfg, store, hub, log))
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		<-done
	})
	<-hub.Ready()
	return &Server{Server: srv, Hub: hub, Shutdown: cancel}
}
