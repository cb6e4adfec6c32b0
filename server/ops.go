package server

import (
	"context"
	"errors"
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
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, err := readiness(ctx, store, hub, draining)
		if status != "ready" {
			body := map[string]string{"status": status}
			if err != nil {
				body["error"] = err.Error()
			}
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// readiness is /readyz's answer: "ready", or "shutting down", "starting"
// or "unavailable" (with why).
func readiness(ctx context.Context, store *eventstore.Store, hub *replay.Hub, draining <-chan struct{}) (string, error) {
	select {
	case <-draining:
		return "shutting down", nil
	default:
	}
	select {
	case <-hub.Ready():
	default:
		return "starting", nil
	}
	if err := hub.TailErr(); err != nil {
		return "unavailable", err
	}
	if err := store.Ping(ctx); err != nil {
		return "unavailable", err
	}
	return "ready", nil
}

// probe answers a metrics scrape's questions about JetStream and
// readiness, with one stream request when JetStream answers.
func probe(store *eventstore.Store, hub *replay.Hub, draining <-chan struct{}) metrics.Probe {
	return func(ctx context.Context) (uint64, error, error) {
		st, err := store.State(ctx)
		if err != nil {
			return 0, err, err
		}
		status, err := readiness(ctx, store, hub, draining)
		if status != "ready" {
			if err == nil {
				err = errors.New(status)
			}
			return st.LastSeq, nil, err
		}
		return st.LastSeq, nil, nil
	}
}

// extensions are the executor extensions m adds, if any.
func extensions(m *metrics.Metrics) []graphql.HandlerExtension {
	if m == nil {
		return nil
	}
	return []graphql.HandlerExtension{m.GraphQL()}
}
