package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
)

// DefaultClientReads is how many storage reads one client (an HTTP
// request, a WebSocket connection, an SSE stream) runs at once.
const DefaultClientReads = 4

// limitReads gives every request its own share of the store's reads
// (eventstore.WithReadLimit). A WebSocket's operations live in its upgrade
// request's context, so one connection's subscriptions share one share.
func limitReads(n int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(eventstore.WithReadLimit(r.Context(), n)))
	})
}

// requireUTF8 refuses a request whose body or query string is not UTF-8:
// decoding JSON would silently turn the bad bytes into U+FFFD, and the
// client's data would be stored other than it sent it. The body was
// bounded by limitBody before it is read whole here.
func requireUTF8(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for key, values := range r.URL.Query() {
			for _, v := range append(values, key) {
				if !utf8.ValidString(v) {
					writeError(w, http.StatusBadRequest, codes.BadUserInput, "the query string is not valid UTF-8")
					return
				}
			}
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, codes.PayloadTooLarge,
				fmt.Sprintf("request body is over the limit of %d bytes", tooLarge.Limit))
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, codes.BadUserInput, "could not read the request body")
			return
		case !utf8.Valid(body):
			writeError(w, http.StatusBadRequest, codes.BadUserInput,
				fmt.Sprintf("the request body is not valid UTF-8 at byte %d", eventstore.InvalidUTF8(body)))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
