package server

// What an operator sees of requests and subscriptions: spans that
// continue the caller's trace, subscriptions labelled with their
// transport, and GET /debug/subscriptions.

import (
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/replay"
)

// traced makes every request to next a server span named route, a child
// of the caller's W3C traceparent when it sends one, so that the append
// or the subscription it makes is that span's child. A WebSocket's or an
// SSE stream's span lasts as long as the stream. Without Config.Tracing
// next is returned as it is.
func traced(cfg Config, route string, next http.Handler) http.Handler {
	if cfg.Tracing == nil {
		return next
	}
	return otelhttp.NewHandler(next, route,
		otelhttp.WithTracerProvider(cfg.Tracing),
		otelhttp.WithPropagators(cfg.Propagators),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + route }))
}

// labelled labels the subscriptions a WebSocket or an SSE stream starts
// with its protocol, as GET /debug/subscriptions lists them.
func labelled(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := metrics.ProtocolOf(r); p != "" {
			r = r.WithContext(replay.WithLabel(r.Context(), p))
		}
		next.ServeHTTP(w, r)
	})
}

// Listing bounds of GET /debug/subscriptions.
const (
	defaultListing = 100
	maxListing     = 1000
)

// subscriptionJSON is one subscription as GET /debug/subscriptions shows it.
type subscriptionJSON struct {
	ID        uint64    `json:"id"`
	Topics    []string  `json:"topics"`
	Types     []string  `json:"types,omitempty"`
	Via       string    `json:"via,omitempty"`
	Owner     string    `json:"owner,omitempty"`
	Started   time.Time `json:"started"`
	Phase     string    `json:"phase"`
	Delivered uint64    `json:"delivered"`
	Position  uint64    `json:"position"`
	Pending   int       `json:"pending"`
	Behind    uint64    `json:"behind"`
	// Event, when the listing asks about one (seq), is where the
	// subscription is relative to it: "past" (delivered, or left out by
	// its filter) or "behind".
	Event string `json:"event,omitempty"`
}

// debugSubscriptions serves GET /debug/subscriptions to admin grants:
// this instance's running subscriptions, oldest first, in pages
// (?after=ID&limit=N, at most 1,000 a page; "next" is the after of the
// next page). With ?topic=T only those whose topics match T (and, with
// &type=X, whose types take X) are listed, and with &seq=S each says
// whether it is past the event at S or behind it: the support question
// "did this subscription get that event?".
func debugSubscriptions(hub *replay.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := auth.From(r.Context())
		if err != nil || !p.Admin {
			writeError(w, http.StatusForbidden, codes.Forbidden, "GET /debug/subscriptions needs an admin grant")
			return
		}
		q := r.URL.Query()
		after, err1 := uintParam(q.Get("after"))
		limit, err2 := uintParam(q.Get("limit"))
		seq, err3 := uintParam(q.Get("seq"))
		topic, typ := q.Get("topic"), q.Get("type")
		if err := firstErr(err1, err2, err3); err != nil {
			writeError(w, http.StatusBadRequest, codes.BadUserInput, "after, limit and seq are non-negative integers")
			return
		}
		if topic != "" {
			if err := eventstore.ValidateTopic(topic); err != nil {
				writeError(w, http.StatusBadRequest, codes.BadUserInput, err.Error())
				return
			}
		}
		if limit == 0 {
			limit = defaultListing
		}
		limit = min(limit, maxListing)
		out := []subscriptionJSON{}
		var next uint64
		for st := range hub.Subscriptions() {
			if st.ID <= after || topic != "" && !takes(st, topic, typ) {
				continue
			}
			if uint64(len(out)) == limit {
				next = out[len(out)-1].ID
				break
			}
			sj := subscriptionJSON{ID: st.ID, Topics: st.Topics, Types: st.Types, Via: st.Label, Owner: st.Owner, Started: st.Started.UTC(),
				Phase: st.Phase, Delivered: st.Delivered, Position: st.Position, Pending: st.Pending, Behind: st.Behind}
			if seq > 0 {
				sj.Event = "behind"
				if st.Position >= seq {
					sj.Event = "past"
				}
			}
			out = append(out, sj)
		}
		body := map[string]any{"head": hub.Head(), "subscriptions": out}
		if next > 0 {
			body["next"] = next
		}
		writeJSON(w, http.StatusOK, body)
	})
}

// takes reports whether st's subscription takes events of topic (and of
// typ, unless it is "").
func takes(st replay.SubscriptionState, topic, typ string) bool {
	q := eventstore.Query{Topics: st.Topics}
	if typ != "" {
		q.Types = st.Types
	}
	return q.Matches(eventstore.Event{Topic: topic, Type: typ})
}

func uintParam(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
