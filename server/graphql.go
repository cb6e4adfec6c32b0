package server

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/graph/document"
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
func graphQL(a *api, cfg Config, ep endpoint, log *slog.Logger) http.Handler {
	srv := handler.New(a.schema)
	wcfg := cfg.WebSocket
	wcfg.MaxMessageBytes, wcfg.Logger, wcfg.InitFunc = ep.maxMessageBytes, log, ep.initFunc
	if wcfg.OperationHeaders == nil {
		// Rewind's resolvers read no header (authentication happens at the
		// upgrade): an idle connection keeps none.
		wcfg.OperationHeaders = []string{}
	}
	// SSE streams count against the same limiter (ws.Connections).
	wcfg.Connections = connlimit.New(cfg.Connections)
	ws := gqlws.New(wcfg)
	scfg := cfg.SSE
	scfg.KeepAlive = cmp.Or(scfg.KeepAlive, wcfg.KeepAlive)
	scfg.WriteTimeout = cmp.Or(scfg.WriteTimeout, wcfg.WriteTimeout)
	scfg.Logger, scfg.Connections = log, ws.Connections()
	srv.AddTransport(ws)
	srv.AddTransport(sse.New(scfg))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(oneShot{transport.GET{}})
	srv.AddTransport(oneShot{transport.POST{}})
	queries := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(queries)
	limits := cfg.Limits
	limits.MaxPayload = ep.maxPayload
	for _, e := range graph.LimitExtensions(limits) {
		srv.Use(e)
	}
	// The document limits check the query automatic persisted queries
	// fill in, so they come after them, before gqlgen parses it.
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(document.Extension(limits.Document, queries))
	srv.Use(graph.MutationGate(a.res))
	for _, e := range ep.extensions {
		srv.Use(e)
	}
	srv.SetErrorPresenter(a.res.Presenter())
	srv.SetRecoverFunc(graph.RecoverFunc(log))

	page := graphiql.Page("/graphql", graphiql.Examples{Topics: declaredTopics(cfg.Events), Tabs: a.examples})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer recoverHTTP(w, r, log)
		if isGraphiQL(r) {
			page.ServeHTTP(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	})
}

// declaredTopics is every topic pattern the typed events are declared on,
// each once, for GraphiQL's example tabs; none without a schema.
func declaredTopics(s *eventschema.Schema) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, e := range s.Events {
		for _, t := range e.Topics {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
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
const internalErrorBody = `{"errors":[{"message":"internal error","extensions":{"code":"` + codes.Internal + `"}}]}`

// isGraphiQL reports whether r is a browser asking for the GraphiQL page
// rather than an operation: a plain GET that accepts HTML.
func isGraphiQL(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.RawQuery == "" && r.Header.Get("Upgrade") == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// oneShot is gqlgen's POST or GET transport, which answers once: a
// subscription sent there would get its first result and end. It is
// refused instead, with HTTP 400 and SUBSCRIPTION_NEEDS_STREAM, in words
// that name the transports that stream (SSE and WebSocket).
type oneShot struct{ graphql.Transport }

func (t oneShot) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	sw := &refusalWriter{ResponseWriter: w}
	t.Transport.Do(sw, r, noSubscriptions{GraphExecutor: exec, w: sw})
}

// subscriptionNeedsStream is what a subscription over a plain POST or GET
// gets (a new error each time: the executor may annotate it).
func subscriptionNeedsStream() *gqlerror.Error {
	return &gqlerror.Error{
		Message: "a subscription needs a stream, and a plain POST or GET answers once: send it with the header " +
			"'Accept: text/event-stream' (GraphQL over SSE, e.g. curl -N -H 'accept: text/event-stream'), " +
			"or over a WebSocket (graphql-transport-ws or graphql-ws)",
		Extensions: map[string]any{"code": codes.SubscriptionNeedsStream},
	}
}

// noSubscriptions refuses subscriptions once the operation is known (the
// document parsed and validated), telling the writer to answer 400.
type noSubscriptions struct {
	graphql.GraphExecutor
	w *refusalWriter
}

func (e noSubscriptions) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	rc, errs := e.GraphExecutor.CreateOperationContext(ctx, params)
	if errs == nil && rc != nil && rc.Operation != nil && rc.Operation.Operation == ast.Subscription {
		e.w.refused = true
		return rc, gqlerror.List{subscriptionNeedsStream()}
	}
	return rc, errs
}

// refusalWriter answers 400 rather than the status gqlgen gives errors of
// its own kinds (200 or 422) once noSubscriptions refused the operation.
type refusalWriter struct {
	http.ResponseWriter
	refused bool
}

func (w *refusalWriter) WriteHeader(code int) {
	if w.refused {
		code = http.StatusBadRequest
	}
	w.ResponseWriter.WriteHeader(code)
}
