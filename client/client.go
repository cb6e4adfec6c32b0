// Package client is a Go client for Rewind. Subscribe follows events over
// graphql-transport-ws and survives disconnects: it remembers the id of the
// last event it delivered, reconnects with backoff and jitter, and resumes
// after that id, so the caller sees every event once, in stream order,
// however often the connection or the server fails.
//
// It is a module of its own, github.com/rewind-dev/rewind/client, that
// needs only gorilla/websocket: importing it brings nothing of the server
// (no nats-server) into a program's build.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// URL is the server's GraphQL endpoint, such as
	// http://localhost:8080/graphql (ws:// and wss:// work too).
	URL string
	// Header is sent with every request and WebSocket upgrade, e.g.
	// Authorization.
	Header http.Header
	// InitPayload is the connection_init payload, e.g.
	// {"authorization": "Bearer <JWT>"}.
	InitPayload map[string]any
	// MinBackoff and MaxBackoff bound the wait before a reconnection. It
	// doubles after each failed attempt and is jittered (a random point in
	// its upper half). Defaults 100ms and 10s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// PingInterval is how often the client pings the server; a connection
	// on which nothing arrives for two intervals is taken as dead.
	// Default 15s.
	PingInterval time.Duration
	// DialTimeout bounds connecting and the connection_init handshake.
	// Default 10s.
	DialTimeout time.Duration
	// OnRetry, if set, is called before each wait to reconnect with the
	// failure and the wait. It must not block.
	OnRetry func(err error, wait time.Duration)
	// HTTPClient sends publishes and queries. Default http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives reconnections at info level. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 15 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Client talks to one Rewind server (or a load balancer in front of
// several). It is safe for concurrent use.
type Client struct {
	cfg        Config
	httpURL    string
	publishURL string // POST /publish, beside the GraphQL endpoint
	wsURL      string
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("client: URL: %w", err)
	}
	hu, wu := *u, *u
	switch u.Scheme {
	case "http", "ws":
		hu.Scheme, wu.Scheme = "http", "ws"
	case "https", "wss":
		hu.Scheme, wu.Scheme = "https", "wss"
	default:
		return nil, fmt.Errorf("client: URL %q: want http, https, ws or wss", cfg.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: URL %q has no host", cfg.URL)
	}
	pu := hu
	pu.Path, pu.RawPath, pu.RawQuery = path.Join(path.Dir(hu.Path), "publish"), "", ""
	return &Client{cfg: cfg, httpURL: hu.String(), publishURL: pu.String(), wsURL: wu.String()}, nil
}

// Event is one stored event.
type Event struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	Time  time.Time       `json:"time"`
}

// Zero is the cursor before the first event: Request{After: Zero} starts
// at the beginning of the stream.
const Zero = "00000000000000000000000000"

// Error is an error the server answered with; Code is its
// extensions.code (CURSOR_NOT_FOUND, BAD_USER_INPUT, ...).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// CloseError is a WebSocket close that retrying cannot fix (see the close
// code table in Rewind's README).
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("the server closed the connection with %d (%s)", e.Code, e.Reason)
}

// gqlError is an error in a GraphQL response.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

func firstError(errs []gqlError) *Error {
	if len(errs) == 0 {
		return nil
	}
	return &Error{Code: errs[0].Extensions.Code, Message: errs[0].Message}
}

// fatalCodes are the error codes whose request cannot succeed by retrying.
var fatalCodes = map[string]bool{
	"BAD_USER_INPUT": true, "CURSOR_NOT_FOUND": true, "CURSOR_EXPIRED": true,
	"GRAPHQL_PARSE_FAILED": true, "GRAPHQL_VALIDATION_FAILED": true,
	"UNAUTHENTICATED": true, "FORBIDDEN": true, "PAYLOAD_TOO_LARGE": true,
	// A publish whose idempotency key's event was stored and has since
	// been removed by retention: it is stored, and retrying stores nothing.
	"ALREADY_STORED": true,
}

// Fatal reports whether err is one that retrying cannot fix: a refused
// request, a fatal close code, or a refused handshake.
func Fatal(err error) bool {
	var e *Error
	var ce *CloseError
	var he *handshakeError
	switch {
	case errors.As(err, &e):
		return fatalCodes[e.Code]
	case errors.As(err, &ce):
		return true
	case errors.As(err, &he):
		return he.fatal()
	}
	return false
}

// handshakeError is a WebSocket upgrade the server answered with an HTTP
// status.
type handshakeError struct {
	status int
	body   string
}

func (e *handshakeError) Error() string {
	return fmt.Sprintf("websocket upgrade refused: HTTP %d %s", e.status, strings.TrimSpace(e.body))
}

// fatal: 4xx answers other than 408 and 429 will not change by retrying.
func (e *handshakeError) fatal() bool {
	return e.status >= 400 && e.status < 500 && e.status != http.StatusRequestTimeout && e.status != http.StatusTooManyRequests
}

// backoff returns the wait before reconnection attempt n (0 is the first
// retry): doubling from MinBackoff up to MaxBackoff, at a random point in
// the upper half so that clients cut off together do not return together.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.MaxBackoff
	if n < 30 {
		d = min(c.cfg.MinBackoff<<n, c.cfg.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// PublishOption adjusts one Publish.
type PublishOption func(vars map[string]any)

// WithType sets the event's type (default "message").
func WithType(t string) PublishOption { return func(v map[string]any) { v["type"] = t } }

// WithIdempotencyKey makes a retried publish store nothing new within the
// server's duplicate window.
func WithIdempotencyKey(key string) PublishOption {
	return func(v map[string]any) { v["key"] = key }
}

// Publish appends an event with data (any JSON value; json.RawMessage is
// sent as it is) to topic and returns it as stored.
func (c *Client) Publish(ctx context.Context, topic string, data any, opts ...PublishOption) (Event, error) {
	vars := map[string]any{"topic": topic, "data": data, "type": "message"}
	for _, o := range opts {
		o(vars)
	}
	var out struct {
		Publish Event `json:"publish"`
	}
	err := c.Do(ctx, `mutation Publish($topic: String!, $type: String, $data: JSON!, $key: String) {
  publish(topic: $topic, type: $type, data: $data, idempotencyKey: $key) { id topic type data time }
}`, vars, &out)
	return out.Publish, err
}

// Message is one event of a PublishBatch.
type Message struct {
	Topic string `json:"topic"`
	// Type is the event's type; empty: "message".
	Type string `json:"type,omitempty"`
	// Data is any JSON value but null; json.RawMessage is sent as it is.
	Data any `json:"data"`
	// IdempotencyKey makes the event, sent again within the server's
	// duplicate window, store nothing new and answer the original.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// Stored is what PublishBatch did with one message: its event's id and
// stream sequence, or Err (an *Error) when storing refused it alone.
type Stored struct {
	ID  string
	Seq uint64
	Err error
}

// BatchError is a batch the server refused whole, storing nothing: Index
// is the message that refused it (-1 when the batch itself was refused,
// e.g. too large).
type BatchError struct {
	Index int
	Err   *Error
}

func (e *BatchError) Error() string {
	if e.Index < 0 {
		return "batch: " + e.Err.Error()
	}
	return fmt.Sprintf("batch: message %d: %s", e.Index, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// PublishBatch appends msgs in one request to the server's POST /publish
// (beside the GraphQL endpoint of Config.URL), which stores them as
// atomic batches with one fsync each, far faster than a Publish each. The
// server checks every message before it stores any: one it refuses (a bad
// topic, no grant, data that does not fit its declared type) fails the
// call with a *BatchError naming it, and nothing is stored. Otherwise
// there is one Stored per message, at its index; a message that storing
// alone refused has Err set and the others are stored, so send the failed
// ones again (with keys, to be safe). At most 1,000 messages and 8 MiB.
func (c *Client) PublishBatch(ctx context.Context, msgs []Message) ([]Stored, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body) // one object a line
	for i, m := range msgs {
		if m.Type == "" {
			m.Type = "message"
		}
		if err := enc.Encode(m); err != nil {
			return nil, fmt.Errorf("client: message %d: %w", i, err)
		}
	}
	status, raw, err := c.post(ctx, c.publishURL, "application/x-ndjson", &body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Events []struct {
			ID    string    `json:"id"`
			Seq   uint64    `json:"seq"`
			Error *gqlError `json:"error"`
		} `json:"events"`
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code  string `json:"code"`
				Index *int   `json:"index"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("HTTP %d: %s", status, bytes.TrimSpace(raw))
	}
	if len(r.Errors) > 0 {
		e := r.Errors[0]
		be := &BatchError{Index: -1, Err: &Error{Code: e.Extensions.Code, Message: e.Message}}
		if e.Extensions.Index != nil {
			be.Index = *e.Extensions.Index
		}
		return nil, be
	}
	if status != http.StatusOK || len(r.Events) != len(msgs) {
		return nil, fmt.Errorf("HTTP %d: %s", status, bytes.TrimSpace(raw))
	}
	out := make([]Stored, len(msgs))
	for i, ev := range r.Events {
		out[i] = Stored{ID: ev.ID, Seq: ev.Seq}
		if ev.Error != nil {
			out[i].Err = &Error{Code: ev.Error.Extensions.Code, Message: ev.Error.Message}
		}
	}
	return out, nil
}

// Do runs a query or mutation over HTTP and decodes its data into out.
// An error in the response is returned as an *Error.
func (c *Client) Do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	status, raw, err := c.post(ctx, c.httpURL, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("HTTP %d: %s", status, bytes.TrimSpace(raw))
	}
	if e := firstError(r.Errors); e != nil {
		return e
	}
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", status, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Data, out)
}

// post sends body to target with Config.Header and returns the answer's
// status and body (at most 64 MiB).
func (c *Client) post(ctx context.Context, target, contentType string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, body)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range c.cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, raw, err
}
