package gqlws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
)

// write sends one message that belongs to no operation; a client that
// cannot take it within the write timeout is disconnected.
func (c *conn) write(m any) bool { return c.writeFor(context.Background(), m) }

// writeFor sends one message of the operation whose context is opCtx,
// unless the operation is over (the client stopped it, or it ended). The
// check is made holding the write lock, and stop takes that lock after it
// cancels: once the reader has handled the client's complete, nothing more
// goes out for that id.
func (c *conn) writeFor(opCtx context.Context, m any) bool {
	b, err := json.Marshal(m)
	if err != nil {
		c.t.cfg.Logger.Error("websocket: encode message", "err", err)
		return false
	}
	return c.writeRaw(opCtx, b)
}

// writeRaw sends one text frame that is already JSON, as writeFor does.
func (c *conn) writeRaw(opCtx context.Context, b []byte) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if opCtx.Err() != nil {
		return false
	}
	return c.writeLocked(b)
}

// writeLast sends the last message of the operation whose context is
// opCtx (its error or complete), as writeFor does. The operation is
// forgotten first, holding the write lock: the client may reuse its id as
// soon as it reads the message, and nothing of an operation that reuses
// the id can go out before it.
func (c *conn) writeLast(opCtx context.Context, m any) bool {
	b, err := json.Marshal(m)
	if err != nil {
		c.t.cfg.Logger.Error("websocket: encode message", "err", err)
		return false
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if opCtx.Err() != nil {
		return false
	}
	if op, ok := opCtx.Value(operationKey{}).(*operation); ok {
		op.forget()
	}
	return c.writeLocked(b)
}

// writeLocked sends one text frame; c.writeMu is held.
func (c *conn) writeLocked(b []byte) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout))
	if err := c.writeFrame(b); err != nil {
		c.t.cfg.Logger.Debug("websocket write", "err", err)
		c.kill() // ends the connection, and with it every operation
		return false
	}
	return true
}

// writeFrame writes one text frame; c.writeMu is held. Should the write
// panic instead of returning, part of a frame may be out already and
// nothing can be framed after it: the socket is closed at once, and the
// panic goes on to the goroutine's recovery.
func (c *conn) writeFrame(b []byte) error {
	returned := false
	defer func() {
		if !returned {
			c.kill()
		}
	}()
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	returned = true
	return err
}

// writeResult sends a result message of type typ for the operation whose
// context is opCtx. The common case, data and nothing else, is framed by
// hand around the already-encoded data: encoding the response as a whole
// would scan and copy it again, once per subscriber of every event.
func (c *conn) writeResult(opCtx context.Context, typ, id string, r *graphql.Response) bool {
	if b, ok := resultFrame(typ, id, r); ok {
		return c.writeRaw(opCtx, b)
	}
	return c.writeFor(opCtx, outMsg{Type: typ, ID: id, Payload: r})
}

// resultFrame frames a result that has data and nothing else; ok is false
// for any other result.
func resultFrame(typ, id string, r *graphql.Response) ([]byte, bool) {
	if id == "" || len(r.Errors) > 0 || len(r.Extensions) > 0 || r.Label != "" || r.Path != nil || r.HasNext != nil || len(r.Data) == 0 {
		return nil, false
	}
	return appendDataFrame(make([]byte, 0, len(r.Data)+len(id)+48), typ, id, r.Data), true
}

// putFrame returns a frame buffer to the pool, unless an unusually large
// result grew it.
func (t *Transport) putFrame(b *[]byte) {
	if cap(*b) <= maxPooledCork {
		*b = (*b)[:0]
		t.frames.Put(b)
	}
}

// appendDataFrame appends a result message of type typ carrying data.
func appendDataFrame(b []byte, typ, id string, data []byte) []byte {
	return appendResultFrame(b, typ, id, data, nil)
}

// appendResultFrame appends a result message of type typ carrying data
// and, unless nil, errors (a JSON list).
func appendResultFrame(b []byte, typ, id string, data, errors []byte) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"payload":{"data":`...)
	b = append(b, data...)
	if errors != nil {
		b = append(b, `,"errors":`...)
		b = append(b, errors...)
	}
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string. Operation ids are short
// and plain; anything else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
