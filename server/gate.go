package server

import (
	"encoding/json"
	"net/http"
	"sync/atomic"

	"github.com/rewind-dev/rewind/codes"
)

// gate is the HTTP handler while the server starts: the listener opens
// before NATS and the event store, so that health checks get an answer
// (503, "starting", with the reason it is still waiting) rather than a
// refused connection, and clients a GraphQL error they can retry on. open
// swaps in the API once the store is open.
type gate struct {
	api     atomic.Pointer[http.Handler]
	waiting atomic.Pointer[string] // why the start is waiting, if known
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.api.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	switch r.URL.Path {
	case "/healthz", "/readyz":
		body := map[string]string{"status": "starting"}
		if why := g.waiting.Load(); why != nil {
			body["error"] = *why
		}
		_ = json.NewEncoder(w).Encode(body)
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
			"message":    "the server is starting: the event store is not open yet; retry shortly",
			"extensions": map[string]string{"code": codes.Unavailable},
		}}})
	}
}

// wait records why the start is still waiting.
func (g *gate) wait(err error) {
	msg := err.Error()
	g.waiting.Store(&msg)
}

// open serves h from now on.
func (g *gate) open(h http.Handler) { g.api.Store(&h) }
