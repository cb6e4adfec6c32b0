package server

// The HTTP surface: the GraphQL endpoint, POST /publish (batches), the
// seed's POST /publish-message, and health checks. It holds no logic of its own beyond
// HTTP: everything else is in graph, replay and eventstore.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/web/graphiql"
)

// newHandler returns the handler for every route; m, if set, instruments
// them and is served at /metrics.
func newHandler(cfg Config, store *eventstore.Store, hub *replay.Hub, m *metrics.Metrics, log *slog.Logger) (http.Handler, error) {
	a, err := newAPI(cfg, store, hub, log)
	if err != nil {
		return nil, err
	}
	res := a.res
	authn := authenticator{verifier: cfg.Auth}
	// A request may carry a payload at the limit, escaped inside a query.
	maxBody := 2*int64(store.Config().MaxPayload) + 64<<10
	gql := graphQL(a, cfg, endpoint{maxMessageBytes: maxBody, maxPayload: store.Config().MaxPayload, initFunc: authn.initWebSocket, extensions: extensions(m)}, log)

	mux := http.NewServeMux()
	mux.Handle("/graphql", traced(cfg, "/graphql", labelled(limitBody(maxBody, requireUTF8(limitReads(cfg.ClientReads, authn.middleware(true, gql)))))))
	mux.Handle("POST /publish", traced(cfg, "/publish", limitBody(max(batchBodyBytes, maxBody), requireUTF8(authn.middleware(false, publishBatch(res))))))
	mux.Handle("POST /publish-message", traced(cfg, "/publish-message", limitBody(maxBody, requireUTF8(authn.middleware(false, publishMessage(res))))))
	mux.Handle("GET /debug/subscriptions", authn.middleware(false, debugSubscriptions(hub)))
	mux.Handle("GET /graphiql/", http.StripPrefix("/graphiql/", graphiql.Assets()))
	mux.Handle("GET /healthz", healthz(store, hub))
	mux.Handle("GET /readyz", readyz(store, hub, cfg.Draining))
	mux.Handle("GET /{$}", http.RedirectHandler("/graphql", http.StatusFound))
	if m == nil {
		return mux, nil
	}
	mux.Handle("GET /metrics", m.Handler())
	return m.HTTP(mux), nil
}

// limitBody refuses bodies over n bytes with 413 and a GraphQL-shaped error.
func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			writeError(w, http.StatusRequestEntityTooLarge, codes.PayloadTooLarge,
				fmt.Sprintf("request body of %d bytes is over the limit of %d", r.ContentLength, n))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}

// publishMessage is the seed's endpoint: POST /publish-message?message=TEXT
// appends a message and answers with it.
func publishMessage(res *graph.Resolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text := r.URL.Query().Get("message")
		if text == "" {
			writeError(w, http.StatusBadRequest, codes.BadUserInput, "query parameter message is required")
			return
		}
		msg, err := res.AppendMessage(r.Context(), text)
		if err != nil {
			code := codes.Of(err)
			writeError(w, statusOf(code), code, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, msg)
	})
}

// statusOf is the HTTP status of a publish refused with code.
func statusOf(code string) int {
	switch code {
	case codes.BadUserInput:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.Forbidden:
		return http.StatusForbidden
	case codes.RateLimited:
		return http.StatusTooManyRequests
	case codes.PayloadTooLarge, codes.BatchTooLarge:
		return http.StatusRequestEntityTooLarge
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// healthz answers 200 when events can be appended and read: JetStream
// answers for the stream and the live tail is positioned.
func healthz(store *eventstore.Store, hub *replay.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		select {
		case <-hub.Ready():
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]string{"code": code}}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
