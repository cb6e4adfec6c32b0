// Command gqlgen-app is an order service with its own GraphQL schema that
// uses Rewind as a library: an embedded JetStream in a data folder stores
// the order events, package durable replays and follows them, and Rewind's
// WebSocket transport serves the subscriptions. One binary, nothing else to
// run.
//
//	go run . -addr 127.0.0.1:8080 -data ./data
//
// It prints "listening on http://ADDR/graphql" once it serves.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/rewind-dev/rewind/durable"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/examples/gqlgen-app/graph"
	"github.com/rewind-dev/rewind/graph/document"
	"github.com/rewind-dev/rewind/natsembed"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP listen address (port 0: any free port)")
	data := flag.String("data", "data", "folder of the embedded JetStream's files")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *data, log); err != nil {
		log.Error("gqlgen-app", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, dataDir string, log *slog.Logger) error {
	ns, err := natsembed.Start(natsembed.Config{DataDir: dataDir})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	nc, err := ns.Connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	store, err := eventstore.Open(ctx, nc, eventstore.Config{Logger: log})
	if err != nil {
		return err
	}

	// The hub outlives the listener: it stops after the last subscription
	// has been ended by the HTTP server's shutdown.
	hubCtx, stopHub := context.WithCancel(context.Background())
	hub := replay.NewHub(store, replay.Config{}, log)
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(hubCtx) }()
	defer func() { stopHub(); <-hubDone }()

	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{
		Events: durable.Source{Store: store, Hub: hub},
	}}))
	srv.AddTransport(gqlws.New(gqlws.Config{Logger: log})) // instead of gqlgen's transport.Websocket
	srv.AddTransport(transport.POST{})
	srv.SetErrorPresenter(durable.ErrorPresenter(nil))
	// Refuse documents whose validation would cost out of proportion to
	// their size, before gqlgen validates them.
	srv.Use(document.Extension(document.Limits{}, nil))

	mux := http.NewServeMux()
	mux.Handle("/graphql", srv)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	fmt.Printf("listening on http://%s/graphql\n", l.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
