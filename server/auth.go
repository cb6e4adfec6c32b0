package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/codes"
)

// authenticator puts the request's principal in its context.
type authenticator struct {
	verifier auth.Verifier // nil: authentication off
}

// middleware verifies the Authorization header. A token that does not
// verify is refused with 401. A request without one is refused too, except
// a WebSocket upgrade (its token may come in connection_init) and, when
// page is set, a browser's GET of GraphiQL (a static page; the operations
// it sends carry their own token).
func (a authenticator) middleware(page bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.verifier == nil {
			next.ServeHTTP(w, r.WithContext(auth.With(r.Context(), auth.Anyone())))
			return
		}
		header := r.Header.Get("Authorization")
		if header == "" {
			if websocket.IsWebSocketUpgrade(r) || (page && isGraphiQL(r)) {
				next.ServeHTTP(w, r)
				return
			}
			unauthenticated(w, "send a token: Authorization: Bearer <JWT>")
			return
		}
		p, err := a.verifier.Verify(header)
		if err != nil {
			unauthenticated(w, err.Error())
			return
		}
		if websocket.IsWebSocketUpgrade(r) {
			// The socket closes itself at expiry, with 4403.
			next.ServeHTTP(w, r.WithContext(auth.With(r.Context(), p)))
			return
		}
		ctx, cancel := untilExpiry(r.Context(), p)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(auth.With(ctx, p)))
	})
}

func unauthenticated(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="rewind"`)
	writeError(w, http.StatusUnauthorized, codes.Unauthenticated, msg)
}

// untilExpiry ends a request (an SSE stream, say) when its credentials do.
func untilExpiry(ctx context.Context, p *auth.Principal) (context.Context, context.CancelFunc) {
	if p.Expires.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, p.Expires)
}

// initWebSocket authenticates a WebSocket at connection_init: with the
// upgrade request's token if it had one, else with the payload's
// "authorization" ("Bearer <JWT>"). The socket closes 4403 at expiry.
func (a authenticator) initWebSocket(ctx context.Context, payload map[string]any) (context.Context, time.Time, error) {
	if p, err := auth.From(ctx); err == nil {
		return ctx, p.Expires, nil
	}
	token, _ := payload["authorization"].(string)
	if token == "" {
		token, _ = payload["Authorization"].(string)
	}
	if token == "" {
		return nil, time.Time{}, errors.New("send a token: connection_init payload {\"authorization\": \"Bearer <JWT>\"}")
	}
	p, err := a.verifier.Verify(token)
	if err != nil {
		return nil, time.Time{}, err
	}
	return auth.With(ctx, p), p.Expires, nil
}
