package gqlws

import (
	"runtime/debug"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeInternal is the extensions.code of the error an operation ends with
// when the server panicked running it.
const CodeInternal = "INTERNAL_SERVER_ERROR"

// internalError is what a client is told of a panic: nothing of the
// panic's value, which may hold anything.
func internalError() gqlerror.List {
	return gqlerror.List{{Message: "internal server error", Extensions: map[string]any{"code": CodeInternal}}}
}

// panicked logs a recovered panic, once, with the stack of the goroutine
// that panicked: call it from the deferred function that recovered.
func (t *Transport) panicked(where string, v any, attrs ...any) {
	t.cfg.Logger.Error("websocket: panic "+where, append([]any{"panic", v, "stack", string(debug.Stack())}, attrs...)...)
}

// guarded wraps a callback the connection's timers or the server's
// shutdown run on goroutines of their own: a panic in one is logged and
// closes the socket 1011, the connection's state being past vouching for,
// instead of ending the process.
func (c *conn) guarded(where string, f func()) func() {
	return func() {
		defer func() {
			if v := recover(); v != nil {
				c.t.panicked(where, v, "subprotocol", c.ws.Subprotocol())
				c.closeWith(CloseInternalError, "Internal server error")
				c.kill() // closeWith itself may be what panicked
			}
		}()
		f()
	}
}
