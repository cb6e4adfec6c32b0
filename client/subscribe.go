package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Request says which events a subscription receives.
type Request struct {
	// Topics are topic patterns (NATS wildcards * and >); at least one.
	Topics []string
	// Types keeps only events of these types; empty means all.
	Types []string
	// After is the id of the last event already processed: the
	// subscription starts with the next one. Zero starts at the beginning
	// of the stream; empty starts with events published from now on.
	After string
	// Where keeps only events whose data passes this filter: JSON of the
	// server's Filter input, e.g. {"path":"status","eq":"paid"}. Nil keeps
	// all. A resume after a reconnection uses the same filter, so the
	// events delivered are still each matching event once.
	Where json.RawMessage
}

const subscription = `subscription Follow($topics: [String!]!, $after: ID, $types: [String!]) {
  events(topics: $topics, afterId: $after, types: $types) { id topic type data time }
}`

// filteredSubscription is subscription with where, sent only when a
// filter is given, so that servers without where still take the other.
const filteredSubscription = `subscription Follow($topics: [String!]!, $after: ID, $types: [String!], $where: Filter) {
  events(topics: $topics, afterId: $after, types: $types, where: $where) { id topic type data time }
}`

// Subscribe returns the request's events in stream order, each once. After
// any failure it reconnects and resumes after the last event it delivered;
// the sequence ends when ctx ends or the caller stops, with no error, or
// with an error that retrying cannot fix (see Fatal): a refused request
// (an unknown cursor, a bad topic, no permission) or a fatal close code.
//
// With Request.After empty the subscription starts live, and until its
// first event has been delivered a reconnection starts live again: events
// published while it was disconnected then are not replayed. Pass Zero, or
// an id, to be sure of every event.
func (c *Client) Subscribe(ctx context.Context, req Request) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		last := req.After
		for attempt := 0; ; {
			delivered, stop, err := c.follow(ctx, req, &last, yield)
			if stop || ctx.Err() != nil {
				return
			}
			if Fatal(err) {
				yield(Event{}, err)
				return
			}
			if delivered {
				attempt = 0
			}
			wait := c.backoff(attempt)
			attempt++
			c.cfg.Logger.Info("rewind subscription interrupted; resuming", "err", err, "after", last, "in", wait)
			if c.cfg.OnRetry != nil {
				c.cfg.OnRetry(err, wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// message is one graphql-transport-ws message.
type message struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// conn is one WebSocket connection with its reader.
type conn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	msgs    chan message
	readErr chan error
	done    chan struct{}
	timeout time.Duration
}

func (c *conn) write(m message) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.ws.WriteJSON(m)
}

// read delivers messages until the socket fails or done closes; it answers
// pings itself.
func (c *conn) read(deadline time.Duration) {
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(deadline))
		var m message
		if err := c.ws.ReadJSON(&m); err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				err = fmt.Errorf("invalid message from the server: %w", err)
			}
			select {
			case c.readErr <- err:
			case <-c.done:
			}
			return
		}
		if m.Type == "ping" {
			_ = c.write(message{Type: "pong", Payload: m.Payload})
			continue
		}
		select {
		case c.msgs <- m:
		case <-c.done:
			return
		}
	}
}

// follow runs one connection until it fails. It reports whether it
// delivered an event, whether the caller or ctx stopped it, and why it
// ended otherwise.
func (c *Client) follow(ctx context.Context, req Request, last *string, yield func(Event, error) bool) (delivered, stop bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: c.cfg.DialTimeout, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(dctx, c.wsURL, c.cfg.Header)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			return false, false, &handshakeError{status: resp.StatusCode, body: string(body[:n])}
		}
		return false, false, fmt.Errorf("connect: %w", err)
	}
	cn := &conn{ws: ws, msgs: make(chan message), readErr: make(chan error, 1), done: make(chan struct{}), timeout: c.cfg.DialTimeout}
	var wg sync.WaitGroup
	wg.Go(func() { cn.read(2 * c.cfg.PingInterval) })
	defer func() {
		close(cn.done)
		_ = ws.Close()
		wg.Wait()
	}()
	// A close the caller asked for is a normal one; any other end is not
	// ours to explain to the server.
	closeNormally := func() {
		cn.writeMu.Lock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		cn.writeMu.Unlock()
	}

	init, _ := json.Marshal(c.cfg.InitPayload)
	if c.cfg.InitPayload == nil {
		init = json.RawMessage(`{}`)
	}
	if err := cn.write(message{Type: "connection_init", Payload: init}); err != nil {
		return false, false, fmt.Errorf("connection_init: %w", err)
	}
	select {
	case m := <-cn.msgs:
		if m.Type != "connection_ack" {
			return false, false, fmt.Errorf("got %q before connection_ack", m.Type)
		}
	case err := <-cn.readErr:
		return false, false, closeErr(err)
	case <-dctx.Done():
		if ctx.Err() != nil {
			closeNormally()
			return false, true, nil
		}
		return false, false, errors.New("no connection_ack within the dial timeout")
	}

	vars := map[string]any{"topics": req.Topics}
	if len(req.Types) > 0 {
		vars["types"] = req.Types
	}
	if *last != "" {
		vars["after"] = *last
	}
	query := subscription
	if req.Where != nil {
		query, vars["where"] = filteredSubscription, req.Where
	}
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err := cn.write(message{Type: "subscribe", ID: "1", Payload: payload}); err != nil {
		return false, false, fmt.Errorf("subscribe: %w", err)
	}

	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			closeNormally()
			return delivered, true, nil
		case <-ping.C:
			if err := cn.write(message{Type: "ping"}); err != nil {
				return delivered, false, fmt.Errorf("ping: %w", err)
			}
		case err := <-cn.readErr:
			return delivered, false, closeErr(err)
		case m := <-cn.msgs:
			switch m.Type {
			case "next":
				var r struct {
					Data struct {
						Events *Event `json:"events"`
					} `json:"data"`
					Errors []gqlError `json:"errors"`
				}
				if err := json.Unmarshal(m.Payload, &r); err != nil {
					return delivered, false, fmt.Errorf("invalid result: %w", err)
				}
				if e := firstError(r.Errors); e != nil {
					return delivered, false, e
				}
				if r.Data.Events == nil {
					return delivered, false, errors.New("a result without an event")
				}
				ev := *r.Data.Events
				if !yield(ev, nil) {
					_ = cn.write(message{Type: "complete", ID: "1"})
					closeNormally()
					return true, true, nil
				}
				*last, delivered = ev.ID, true
			case "error":
				var errs []gqlError
				_ = json.Unmarshal(m.Payload, &errs)
				if e := firstError(errs); e != nil {
					return delivered, false, e
				}
				return delivered, false, fmt.Errorf("error message: %s", m.Payload)
			case "complete":
				return delivered, false, errors.New("the server completed the subscription")
			case "pong":
			}
		}
	}
}

// fatalClose are the close codes after which reconnecting cannot help.
var fatalClose = map[int]bool{
	websocket.CloseProtocolError: true, websocket.CloseUnsupportedData: true,
	websocket.CloseInvalidFramePayloadData: true, websocket.ClosePolicyViolation: true,
	websocket.CloseMessageTooBig: true, websocket.CloseMandatoryExtension: true,
	4400: true, 4401: true, 4403: true, 4406: true, 4409: true, 4429: true,
}

// closeErr turns a fatal close into a *CloseError; other read errors stay
// as they are, to be retried.
func closeErr(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) && fatalClose[ce.Code] {
		return &CloseError{Code: ce.Code, Reason: ce.Text}
	}
	return fmt.Errorf("connection lost: %w", err)
}
