package graph

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/internal/connlimit"
	"github.com/rewind-dev/rewind/internal/gqlws"
	"github.com/rewind-dev/rewind/internal/sse"
	"github.com/rewind-dev/rewind/web/graphiql"
)

// HandlerConfig configures the /graphql endpoint.
type HandlerConfig struct {
	// AllowedOrigins for WebSocket upgrades from browsers; empty allows the
	// server's own host and localhost (see gqlws.OriginChecker).
	AllowedOrigins []string
	// MaxMessageBytes bounds one WebSocket message from a client.
	MaxMessageBytes int64
	// KeepAlive is the interval of keep-alive messages on WebSockets.
	// Default 15s.
	KeepAlive time.Duration
	// InitTimeout closes WebSockets that send no connection_init. Default 3s.
	InitTimeout time.Duration
	// MaxSubscriptions bounds the operations on one WebSocket. Default 200.
	MaxSubscriptions int
	// WriteTimeout disconnects a WebSocket client that stops reading.
	// Default 10s.
	WriteTimeout time.Duration
	// MaxConnections and MaxConnectionsPerAddress bound WebSockets and SSE
	// streams together, one count for both (see connlimit.Config).
	MaxConnections           int
	MaxConnectionsPerAddress int
	// InitFunc authenticates WebSockets at connection_init (see
	// gqlws.Config).
	InitFunc func(ctx context.Context, payload map[string]any) (context.Context, time.Time, error)
	// MaxDepth and MaxComplexity bound an operation's selection depth and
	// gqlgen's complexity (one per field). Defaults 12 and 1,000.
	MaxDepth      int
	MaxComplexity int
	// DisableIntrospection refuses __schema and __type queries.
	DisableIntrospection bool
	// Extensions are added to the executor (metrics, say).
	Extensions []graphql.HandlerExtension
}

// NewHandler serves GraphQL over POST, GET, WebSocket (graphql-transport-ws
// and the legacy graphql-ws) and Server-Sent Events (graphql-sse, distinct
// connections) on one endpoint, and GraphiQL to browsers (its assets are
// served by graphiql.Assets, mounted beside the endpoint).
func NewHandler(res *Resolver, cfg HandlerConfig, log *slog.Logger) http.Handler {
	srv := handler.New(NewExecutableSchema(Config{Resolvers: res}))
	ws := gqlws.New(gqlws.Config{
		AllowedOrigins:   cfg.AllowedOrigins,
		InitTimeout:      cfg.InitTimeout,
		KeepAlive:        cfg.KeepAlive,
		MaxSubscriptions: cfg.MaxSubscriptions,
		MaxMessageBytes:  cfg.MaxMessageBytes,
		WriteTimeout:     cfg.WriteTimeout,
		Logger:           log,
		InitFunc:         cfg.InitFunc,
		// SSE streams count against the same limiter (ws.Connections).
		Connections: connlimit.New(connlimit.Config{Max: cfg.MaxConnections, PerAddress: cfg.MaxConnectionsPerAddress}),
	})
	srv.AddTransport(ws)
	srv.AddTransport(sse.New(sse.Config{KeepAlive: cfg.KeepAlive, WriteTimeout: cfg.WriteTimeout, Logger: log, Connections: ws.Connections()}))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if cfg.DisableIntrospection {
		srv.Use(noIntrospection{})
	} else {
		srv.Use(extension.Introspection{})
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 12
	}
	if cfg.MaxComplexity <= 0 {
		cfg.MaxComplexity = 1000
	}
	srv.Use(depthLimit(cfg.MaxDepth))
	srv.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(mutationGate{res})
	for _, e := range cfg.Extensions {
		srv.Use(e)
	}
	srv.SetErrorPresenter(res.present)

	page := graphiql.Page("/graphql")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsGraphiQL(r) {
			page.ServeHTTP(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	})
}

// IsGraphiQL reports whether r is a browser asking for the GraphiQL page
// rather than an operation: a plain GET that accepts HTML.
func IsGraphiQL(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.RawQuery == "" && r.Header.Get("Upgrade") == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}
