package server

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

	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/transport/connlimit"
	"github.com/rewind-dev/rewind/transport/gqlws"
	"github.com/rewind-dev/rewind/transport/sse"
	"github.com/rewind-dev/rewind/web/graphiql"
)

// endpoint is what the /graphql endpoint needs beyond Config.
type endpoint struct {
	// maxMessageBytes bounds one WebSocket message (default gqlws's).
	maxMessageBytes int64
	// maxPayload is the store's largest event data.
	maxPayload int
	// initFunc authenticates WebSockets at connection_init (see
	// gqlws.Config).
	initFunc func(ctx context.Context, payload map[string]any) (context.Context, time.Time, error)
	// extensions are added to the executor after graph's (metrics, say).
	extensions []graphql.HandlerExtension
}

// graphQL serves GraphQL over POST, GET, WebSocket (graphql-transport-ws
// and the legacy graphql-ws) and Server-Sent Events (graphql-sse, distinct
// connections) on one endpoint, and GraphiQL to browsers (its assets are
// served by graphiql.Assets, mounted beside the endpoint).
// Zero values of cfg take the defaults of the component each setting goes to.
func graphQL(res *graph.Resolver, cfg Config, ep endpoint, log *slog.Logger) http.Handler {
	srv := handler.New(graph.NewSchema(res))
	ws := gqlws.New(gqlws.Config{
		AllowedOrigins:   cfg.AllowedOrigins,
		InitTimeout:      cfg.InitTimeout,
		KeepAlive:        cfg.KeepAlive,
		MaxSubscriptions: cfg.MaxSubscriptions,
		MaxMessageBytes:  ep.maxMessageBytes,
		WriteTimeout:     cfg.WriteTimeout,
		Logger:           log,
		InitFunc:         ep.initFunc,
		// SSE streams count against the same limiter (ws.Connections).
		Connections: connlimit.New(connlimit.Config{Max: cfg.MaxConnections, PerAddress: cfg.MaxConnectionsPerAddress}),
	})
	srv.AddTransport(ws)
	srv.AddTransport(sse.New(sse.Config{KeepAlive: cfg.KeepAlive, WriteTimeout: cfg.WriteTimeout, Logger: log, Connections: ws.Connections()}))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	queries := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(queries)
	limits := graph.Limits{
		MaxDepth: cfg.MaxDepth, MaxComplexity: cfg.MaxComplexity, MaxStorageReads: cfg.MaxStorageReads,
		MaxTokens: cfg.MaxTokens, MaxFields: cfg.MaxFields, MaxOverlaps: cfg.MaxOverlaps,
		MaxResponseBytes: cfg.MaxResponseBytes, MaxPayload: ep.maxPayload,
		DisableIntrospection: cfg.DisableIntrospection,
	}
	for _, e := range graph.LimitExtensions(limits) {
		srv.Use(e)
	}
	// The document limits check the query automatic persisted queries
	// fill in, so they come after them, before gqlgen parses it.
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(graph.DocumentLimits(limits, queries))
	srv.Use(graph.MutationGate(res))
	for _, e := range ep.extensions {
		srv.Use(e)
	}
	srv.SetErrorPresenter(res.Presenter())
	srv.SetRecoverFunc(graph.RecoverFunc(log))

	page := graphiql.Page("/graphql", res.ExampleOperations()...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer recoverHTTP(w, r, log)
		if isGraphiQL(r) {
			page.ServeHTTP(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	})
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
const internalErrorBody = `{"errors":[{"message":"internal error","extensions":{"code":"` + graph.CodeInternal + `"}}]}`

// isGraphiQL reports whether r is a browser asking for the GraphiQL page
// rather than an operation: a plain GET that accepts HTML.
func isGraphiQL(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.RawQuery == "" && r.Header.Get("Upgrade") == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}
