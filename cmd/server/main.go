// Command server runs Rewind: a GraphQL API whose subscriptions replay
// stored events after a cursor and then follow live ones. With no
// --nats-url it embeds a JetStream server storing in --data-dir. It turns
// flags and the environment into a server.Config and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rewind-dev/rewind/internal/telemetry"
	"github.com/rewind-dev/rewind/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
	}
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	log, err := newLogger(os.Stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	scfg, err := cfg.serverConfig(log)
	if err != nil {
		return err
	}
	// Tracing is configured the standard way, by the OTEL_* environment:
	// on when an OTLP endpoint is set.
	tracing, err := telemetry.FromEnv(ctx, "rewind", buildVersion(), os.Getenv)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	if tracing != nil {
		log.Info("tracing on", "export", tracing.Summary)
		scfg.Tracing, scfg.Propagators = tracing.Provider(), tracing.Propagators()
		defer func() {
			// After the server has drained: the last spans are exported.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tracing.Shutdown(sctx); err != nil {
				log.Warn("tracing: spans left unexported at shutdown", "err", err)
			}
		}()
	}
	srv, err := server.New(scfg)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// buildVersion is the module version the binary was built from, or
// "devel".
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
