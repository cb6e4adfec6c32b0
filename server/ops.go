package server

import (
	"context"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/replay"
)

// readyz answers 200 while this instance can take new work: it is not
// shutting down, JetStream answers and the live tail runs (has not failed
// in the last seconds without delivering since: see Hub.TailErr). A load balancer
// stops sending clients here when it turns 503, while /healthz (can
// events be appended and read at all) stays the liveness check.
func readyz(store *eventstore.Store, hub *replay.Hub, draining <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-draining:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
			return
		default:
		}
		select {
		case <-hub.Ready():
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
			return
		}
		if err := hub.TailErr(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// extensions are the executor extensions m adds, if any.
func extensions(m *metrics.Metrics) []graphql.HandlerExtension {
	if m == nil {
		return nil
	}
	return []graphql.HandlerExtension{m.GraphQL()}
}
