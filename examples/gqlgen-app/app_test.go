package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/client"
	"github.com/rewind-dev/rewind/internal/proctest"
)

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// app is the example binary running on a data folder that outlives it.
type app struct {
	bin, dir string
	proc     *proctest.Proc
	url      atomic.Pointer[string] // the GraphQL endpoint of the running process
}

func (a *app) start(t *testing.T) {
	t.Helper()
	p, url := proctest.Start(t, "gqlgen-app", a.bin, []string{"-addr", "127.0.0.1:0", "-data", a.dir}, nil, listening)
	a.proc = p
	a.url.Store(&url)
}

// mutate runs a mutation with Rewind's Go client (its Do sends any
// document) and returns the field's value: the stored event's id.
func (a *app) mutate(t *testing.T, field, doc string, vars map[string]any) string {
	t.Helper()
	c, err := client.New(client.Config{URL: *a.url.Load()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out map[string]string
	if err := c.Do(ctx, doc, vars, &out); err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	return out[field]
}

// tryPlace places an order and reports only whether that failed.
func (a *app) tryPlace(order string) error {
	c, err := client.New(client.Config{URL: *a.url.Load()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Do(ctx, `mutation($o: ID!) { placeOrder(orderId: $o, total: 1) }`, map[string]any{"o": order}, nil)
}

func (a *app) place(t *testing.T, order string, total float64) string {
	return a.mutate(t, "placeOrder", `mutation($o: ID!, $t: Float!) { placeOrder(orderId: $o, total: $t) }`, map[string]any{"o": order, "t": total})
}

func (a *app) ship(t *testing.T, order, carrier string) string {
	return a.mutate(t, "shipOrder", `mutation($o: ID!, $c: String!) { shipOrder(orderId: $o, carrier: $c) }`, map[string]any{"o": order, "c": carrier})
}

const orderEvents = `subscription($after: ID) {
  orderEvents(afterId: $after) {
    id live
    change { __typename ... on OrderPlaced { orderId total } ... on OrderShipped { orderId carrier } }
  }
}`

type orderEvent struct {
	ID     string `json:"id"`
	Live   bool   `json:"live"`
	Change struct {
		Typename string  `json:"__typename"`
		OrderID  string  `json:"orderId"`
		Total    float64 `json:"total"`
		Carrier  string  `json:"carrier"`
	} `json:"change"`
}

// subscription is one graphql-transport-ws operation on its own socket, as
// any graphql-ws client opens it.
type subscription struct{ ws *websocket.Conn }

func subscribe(ctx context.Context, url, after string) (*subscription, error) {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.DialContext(ctx, "ws"+url[len("http"):], nil)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { ws.Close() })
	s := &subscription{ws: ws}
	if err := ws.WriteJSON(map[string]any{"type": "connection_init"}); err != nil {
		return nil, err
	}
	if m, err := s.read(); err != nil || m.Type != "connection_ack" {
		return nil, fmt.Errorf("connection_init: %v %v", m, err)
	}
	vars := map[string]any{}
	if after != "" {
		vars["after"] = after
	}
	err = ws.WriteJSON(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": orderEvents, "variables": vars}})
	return s, err
}

type wsMessage struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func (s *subscription) read() (wsMessage, error) {
	for {
		var m wsMessage
		if err := s.ws.ReadJSON(&m); err != nil {
			return m, err
		}
		if m.Type == "ping" {
			if err := s.ws.WriteJSON(map[string]any{"type": "pong"}); err != nil {
				return m, err
			}
			continue
		}
		return m, nil
	}
}

// next returns the next event, or the error the operation ended with.
func (s *subscription) next() (orderEvent, error) {
	m, err := s.read()
	if err != nil {
		return orderEvent{}, err
	}
	if m.Type != "next" {
		return orderEvent{}, fmt.Errorf("%s: %s", m.Type, m.Payload)
	}
	var p struct {
		Data struct {
			OrderEvents orderEvent `json:"orderEvents"`
		} `json:"data"`
		Errors json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.Errors != nil {
		return orderEvent{}, fmt.Errorf("next %s: %v", m.Payload, err)
	}
	return p.Data.OrderEvents, nil
}

// follower resumes by cursor whenever its connection fails, and checks on
// each connection that live flips once, from false to true.
type follower struct {
	mu    sync.Mutex
	got   []orderEvent
	conns int
	flips int // connections on which live went from false to true
	more  chan struct{}
}

func (f *follower) run(ctx context.Context, t *testing.T, a *app) {
	for ctx.Err() == nil {
		f.mu.Lock()
		after := "00000000000000000000000000"
		if n := len(f.got); n > 0 {
			after = f.got[n-1].ID
		}
		f.mu.Unlock()
		s, err := subscribe(ctx, *a.url.Load(), after)
		if err != nil {
			select { // the app is down or restarting: try again shortly
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		f.mu.Lock()
		f.conns++
		f.mu.Unlock()
		seen, live := false, false
		for {
			ev, err := s.next()
			if err != nil {
				break
			}
			if live && !ev.Live {
				t.Errorf("connection %d: event %s not live after a live one", f.conns, ev.ID)
			}
			if !live && ev.Live && seen {
				f.mu.Lock()
				f.flips++
				f.mu.Unlock()
			}
			seen, live = true, ev.Live
			f.mu.Lock()
			f.got = append(f.got, ev)
			f.mu.Unlock()
			select {
			case f.more <- struct{}{}:
			default:
			}
		}
		s.ws.Close()
	}
}

// waitFor waits until the follower holds n events.
func (f *follower) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		f.mu.Lock()
		have := len(f.got)
		f.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-f.more:
		case <-deadline:
			t.Fatalf("the follower has %d events after 30s, want %d", have, n)
		}
	}
}

// TestResumeAcrossKills: orders placed and shipped through the app's
// mutations reach a subscriber exactly once and in order, although the app
// process is killed with SIGKILL and restarted twice on its data folder
// and the subscriber resumes by cursor each time; replayed events come
// with live false, then live is true.
func TestResumeAcrossKills(t *testing.T) {
	a := &app{bin: proctest.Build(t, "."), dir: t.TempDir()}
	a.start(t)

	var want []string
	publish := func(i int) {
		order := fmt.Sprintf("o%d", i)
		want = append(want, a.place(t, order, float64(i)))
		want = append(want, a.ship(t, order, "DHL"))
	}
	for i := range 3 { // stored before anyone subscribes: replayed
		publish(i)
	}

	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() { defer close(done); f.run(ctx, t, a) }()
	defer func() { cancel(); <-done }()
	f.waitFor(t, len(want))
	publish(3) // live
	f.waitFor(t, len(want))

	for round := range 2 {
		a.proc.Kill9(t)
		if a.tryPlace(fmt.Sprintf("down%d", round)) == nil {
			t.Fatal("an order was placed while the app was down")
		}
		a.start(t)
		publish(10 + round) // replayed or live: the follower may be back already
		f.waitFor(t, len(want))
		publish(20 + round) // live on the resumed connection
		f.waitFor(t, len(want))
	}
	cancel()
	<-done

	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) != len(want) {
		t.Fatalf("got %d events, want %d", len(f.got), len(want))
	}
	kinds := map[string]int{}
	for i, ev := range f.got {
		if ev.ID != want[i] {
			t.Fatalf("event %d is %s, want %s: not exactly once in order", i, ev.ID, want[i])
		}
		kinds[ev.Change.Typename]++
	}
	if kinds["OrderPlaced"] == 0 || kinds["OrderShipped"] == 0 {
		t.Fatalf("union members delivered: %v, want both", kinds)
	}
	if f.conns < 3 {
		t.Fatalf("%d connections, want at least 3 (one per process)", f.conns)
	}
	if f.flips < 1 {
		t.Fatalf("live never flipped from false to true")
	}
	t.Logf("%d events over %d connections; live flipped on %d", len(f.got), f.conns, f.flips)
}

// TestErrorCodes: a cursor the stream does not hold ends the operation
// with an error carrying extensions.code, as on Rewind's own API, and a
// document over the document limits is refused with its code.
func TestErrorCodes(t *testing.T) {
	a := &app{bin: proctest.Build(t, "."), dir: t.TempDir()}
	a.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := subscribe(ctx, *a.url.Load(), "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.read()
	if err != nil {
		t.Fatal(err)
	}
	var errs []struct {
		Extensions struct{ Code string } `json:"extensions"`
	}
	if m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) != 1 || errs[0].Extensions.Code != "CURSOR_NOT_FOUND" {
		t.Fatalf("got %s %s, want an error with CURSOR_NOT_FOUND", m.Type, m.Payload)
	}
	c, err := client.New(client.Config{URL: *a.url.Load()})
	if err != nil {
		t.Fatal(err)
	}
	var refused *client.Error
	err = c.Do(ctx, "{"+strings.Repeat(" hello", 300)+" }", nil, nil)
	if !errors.As(err, &refused) || refused.Code != "DOCUMENT_LIMIT_EXCEEDED" {
		t.Fatalf("300 repeats of a field: %v, want DOCUMENT_LIMIT_EXCEEDED", err)
	}
}
