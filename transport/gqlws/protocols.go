package gqlws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

type outMsg struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Payload any    `json:"payload,omitempty"`
}

func tooManyError(max int) gqlerror.List {
	return gqlerror.List{{
		Message:    fmt.Sprintf("this connection already runs %d operations, the limit; complete one first", max),
		Extensions: map[string]any{"code": "TOO_MANY_SUBSCRIPTIONS"},
	}}
}

// firstInit records a connection_init and reports whether it is the first.
func (c *conn) firstInit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := !c.inited
	c.inited = true
	return first
}

// acknowledge runs the connection_init hook and, unless it refuses, makes
// the connection ready for operations; it reports the refusal, if any.
func (c *conn) acknowledge(ctx context.Context, payload json.RawMessage) error {
	opsCtx, expires, err := c.init(ctx, payload)
	if err != nil {
		return err
	}
	if opsCtx == ctx || opsCtx.Done() == ctx.Done() {
		// Ending with ctx alone, operations need not be its children:
		// the connection cancels each as it ends (cancelOps), and ctx
		// keeps no map of them, one per connection.
		opsCtx = context.WithoutCancel(opsCtx)
	}
	c.opsCtx = opsCtx
	c.mu.Lock()
	c.acked = true
	if !expires.IsZero() {
		c.expiry = time.AfterFunc(time.Until(expires), c.guarded("credentials expiry", func() {
			c.closeWith(CloseForbidden, "Forbidden: credentials expired; reconnect with new ones")
		}))
	}
	c.mu.Unlock()
	return nil
}

// transportProto is graphql-transport-ws.
type transportProto struct{}

type transportEvents struct{ c *conn }

func (transportEvents) dataType() string { return "next" }

func (e transportEvents) next(opCtx context.Context, id string, r *graphql.Response) bool {
	return e.c.writeResult(opCtx, e.dataType(), id, r)
}

func (e transportEvents) errors(opCtx context.Context, id string, errs gqlerror.List) bool {
	return e.c.writeLast(opCtx, outMsg{Type: "error", ID: id, Payload: errs})
}

func (e transportEvents) complete(opCtx context.Context, id string) bool {
	return e.c.writeLast(opCtx, outMsg{Type: "complete", ID: id})
}

func (p transportProto) handle(ctx context.Context, c *conn, m message) bool {
	switch m.Type {
	case "connection_init":
		if !c.firstInit() {
			c.closeWith(CloseTooManyInits, "Too many initialisation requests")
			return false
		}
		err := c.acknowledge(ctx, m.Payload)
		var invalid invalidError
		switch {
		case errors.As(err, &invalid):
			c.closeWith(CloseBadRequest, err.Error())
			return false
		case err != nil:
			c.closeWith(CloseForbidden, "Forbidden: "+err.Error())
			return false
		}
		return c.write(outMsg{Type: "connection_ack"})
	case "ping":
		var payload any
		if len(m.Payload) > 0 {
			payload = m.Payload
		}
		return c.write(outMsg{Type: "pong", Payload: payload})
	case "pong":
		return true
	case "subscribe":
		if !c.isAcked() {
			c.closeWith(CloseUnauthorized, "Unauthorized")
			return false
		}
		id := idOf(m)
		if id == "" || len(m.Payload) == 0 {
			c.closeWith(CloseBadRequest, "Invalid message received: subscribe needs an id and a payload")
			return false
		}
		switch c.start(c.opsCtx, id, m.Payload, false, transportEvents{c}) {
		case duplicate:
			c.closeWith(CloseDuplicateID, fmtDup(id))
			return false
		case tooMany:
			return transportEvents{c}.errors(context.Background(), id, tooManyError(c.t.cfg.MaxSubscriptions))
		}
		return true
	case "complete":
		if idOf(m) == "" {
			c.closeWith(CloseBadRequest, "Invalid message received: complete needs an id")
			return false
		}
		c.stop(idOf(m))
		return true
	case "\x00invalid":
		c.closeWith(CloseBadRequest, "Invalid message received: not a JSON object with a type")
		return false
	default:
		c.closeWith(CloseBadRequest, fmt.Sprintf("Invalid message received: unexpected type %q", m.Type))
		return false
	}
}

func (transportProto) initTimeout(c *conn) {
	c.closeWith(CloseInitTimeout, "Connection initialisation timeout")
}

func (transportProto) keepAlive(c *conn) { c.write(outMsg{Type: "ping"}) }

// legacyProto is subscriptions-transport-ws's graphql-ws.
type legacyProto struct{}

type legacyEvents struct{ c *conn }

func (legacyEvents) dataType() string { return "data" }

func (e legacyEvents) next(opCtx context.Context, id string, r *graphql.Response) bool {
	return e.c.writeResult(opCtx, e.dataType(), id, r)
}

// errors sends GQL_ERROR, whose payload the protocol defines as one error.
func (e legacyEvents) errors(opCtx context.Context, id string, errs gqlerror.List) bool {
	var first *gqlerror.Error
	if len(errs) > 0 {
		first = errs[0]
	} else {
		first = &gqlerror.Error{Message: "operation failed"}
	}
	return e.c.writeLast(opCtx, outMsg{Type: "error", ID: id, Payload: first})
}

func (e legacyEvents) complete(opCtx context.Context, id string) bool {
	return e.c.writeLast(opCtx, outMsg{Type: "complete", ID: id})
}

func (legacyProto) connectionError(c *conn, msg string) bool {
	return c.write(outMsg{Type: "connection_error", Payload: map[string]string{"message": msg}})
}

func (p legacyProto) handle(ctx context.Context, c *conn, m message) bool {
	switch m.Type {
	case "connection_init":
		if !c.firstInit() {
			return p.connectionError(c, "the connection is already initialised")
		}
		if err := c.acknowledge(ctx, m.Payload); err != nil {
			// The protocol answers a refused init with connection_error,
			// then disconnects.
			p.connectionError(c, err.Error())
			c.closeWith(CloseForbidden, "Forbidden")
			return false
		}
		return c.write(outMsg{Type: "connection_ack"}) && c.write(outMsg{Type: "ka"})
	case "start":
		id := idOf(m)
		if id == "" || len(m.Payload) == 0 {
			return p.connectionError(c, "start needs an id and a payload")
		}
		if !c.isAcked() {
			return legacyEvents{c}.errors(context.Background(), id, gqlerror.List{{Message: "send connection_init first", Extensions: map[string]any{"code": "UNAUTHENTICATED"}}})
		}
		// A reused id replaces its operation, as the reference server does.
		if c.start(c.opsCtx, id, m.Payload, true, legacyEvents{c}) == tooMany {
			return legacyEvents{c}.errors(context.Background(), id, tooManyError(c.t.cfg.MaxSubscriptions))
		}
		return true
	case "stop":
		if c.stop(idOf(m)) {
			return legacyEvents{c}.complete(context.Background(), idOf(m))
		}
		return true
	case "connection_terminate":
		c.closeWith(CloseNormal, "terminated")
		return false
	case "\x00invalid":
		// Parsing errors do not disconnect on this protocol.
		return p.connectionError(c, "invalid message: not a JSON object with a type")
	default:
		return p.connectionError(c, fmt.Sprintf("invalid message type %q", m.Type))
	}
}

func (legacyProto) initTimeout(c *conn) {
	c.closeWith(CloseInitTimeout, "Connection initialisation timeout")
}

// keepAlive sends ka and, since ka has no answer, a WebSocket ping, whose
// pong (clients send it by themselves) shows the connection alive. On
// graphql-transport-ws the client's pong message does that: a WebSocket
// ping there too would make a gorilla client that reads it just before a
// close fail on writing its pong, instead of reading the close's code.
func (legacyProto) keepAlive(c *conn) {
	if c.write(outMsg{Type: "ka"}) {
		_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.t.cfg.WriteTimeout))
	}
}

// proto is one subprotocol's handling of client messages.
type proto interface {
	// handle processes m; false means the connection is over.
	handle(ctx context.Context, c *conn, m message) bool
	initTimeout(c *conn)
	keepAlive(c *conn)
}

func fmtDup(id string) string { return fmt.Sprintf("Subscriber for %s already exists", id) }
