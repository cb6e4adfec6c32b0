package graph

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/transport/connlimit"
	"github.com/rewind-dev/rewind/transport/gqlws"
	"github.com/rewind-dev/rewind/transport/sse"
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
	// MaxDepth bounds an operation's selection nesting. Default
	// DefaultMaxDepth (12).
	MaxDepth int
	// MaxComplexity bounds an operation's cost: a list field costs its page
	// size times its selection, a subscription its start point's storage
	// reads (see costs). Default DefaultMaxCost (200,000).
	MaxComplexity int
	// MaxStorageReads bounds how many fields of one operation read storage
	// (Query.event, events and topics; subscriptions with afterId, last or
	// since). Default DefaultMaxStorageReads (10).
	MaxStorageReads int
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
	cfg = cfg.withDefaults()
	srv := handler.New(NewExecutableSchema(Config{Resolvers: res, Complexity: costs()}))
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
	// First of the operation's extensions: it refuses the argument literals
	// that would make the others, and the executor, panic.
	srv.Use(&limits{maxDepth: cfg.MaxDepth, maxCost: cfg.MaxComplexity, maxReads: cfg.MaxStorageReads})
	if cfg.DisableIntrospection {
		srv.Use(noIntrospection{})
	} else {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(mutationGate{res})
	for _, e := range cfg.Extensions {
		srv.Use(e)
	}
	srv.SetErrorPresenter(res.present)
	srv.SetRecoverFunc(recoverPanic(log))

	page := graphiql.Page("/graphql")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer recoverHTTP(w, r, log)
		if IsGraphiQL(r) {
			page.ServeHTTP(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	})
}

func (c HandlerConfig) withDefaults() HandlerConfig {
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxComplexity <= 0 {
		c.MaxComplexity = DefaultMaxCost
	}
	if c.MaxStorageReads <= 0 {
		c.MaxStorageReads = DefaultMaxStorageReads
	}
	return c
}

// recoverPanic is gqlgen's recover function: it logs the panic with its
// stack, once, and gives the client errPanicked, which the error presenter
// shows as "internal error" with INTERNAL_SERVER_ERROR. gqlgen calls it for
// panics in resolvers and, over POST and GET, anywhere in the request
// (parsing, extensions), where it answers 500.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql: panic", "panic", p, "stack", string(debug.Stack()))
		return errPanicked
	}
}

// recoverHTTP answers a panic that escaped gqlgen's own recovery (the
// GraphiQL page, or a transport's code outside it) the way gqlgen answers
// the ones it catches, rather than letting net/http drop the connection.
// http.ErrAbortHandler is net/http's way to abort a response on purpose.
func recoverHTTP(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	log.ErrorContext(r.Context(), "http: panic", "panic", p, "stack", string(debug.Stack()))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, internalErrorBody)
}

// internalErrorBody is the answer to a panic outside any operation.
const internalErrorBody = `{"errors":[{"message":"internal error","extensions":{"code":"` + CodeInternal + `"}}]}`

// IsGraphiQL reports whether r is a browser asking for the GraphiQL page
// rather than an operation: a plain GET that accepts HTML.
func IsGraphiQL(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.RawQuery == "" && r.Header.Get("Upgrade") == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}
