package clienttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/client"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/apitest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// server is an in-process Rewind behind a TCP proxy whose connections a
// test can cut.
type server struct {
	srv   *httptest.Server
	proxy *proxy
	url   string // through the proxy
}

// proxy relays TCP connections to a server; cut drops them all, as a
// network failure or a dead load balancer would (the client sees 1006).
type proxy struct {
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) (*proxy, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &proxy{}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p, l.Addr().String()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func startServer(t *testing.T) *server {
	t.Helper()
	srv := apitest.Start(t, testenv.StartNATS(t).Store(eventstore.Config{}), api.Config{}, replay.Config{})
	p, addr := startProxy(t, srv.Listener.Addr().String())
	return &server{srv: srv.Server, proxy: p, url: "http://" + addr + "/graphql"}
}

func newClient(t *testing.T, url string, retries *int) *client.Client {
	t.Helper()
	var mu sync.Mutex
	c, err := client.New(client.Config{
		URL: url, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		// Publishes on fresh connections: tests cut every open one.
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		OnRetry: func(error, time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if retries != nil {
				*retries++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// collector runs a subscription in the background.
type collector struct {
	mu   sync.Mutex
	evs  []client.Event
	err  error
	done chan struct{}
}

func collect(ctx context.Context, c *client.Client, req client.Request) *collector {
	col := &collector{done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for ev, err := range c.Subscribe(ctx, req) {
			col.mu.Lock()
			if err != nil {
				col.err = err
			} else {
				col.evs = append(col.evs, ev)
			}
			col.mu.Unlock()
		}
	}()
	return col
}

func (col *collector) ids() []string {
	col.mu.Lock()
	defer col.mu.Unlock()
	out := make([]string, len(col.evs))
	for i, ev := range col.evs {
		out[i] = ev.ID
	}
	return out
}

func (col *collector) wait(t *testing.T, n int) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d events", n), func() bool { return len(col.ids()) >= n })
}

func publish(t *testing.T, c *client.Client, topic string, n int) client.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ev, err := c.Publish(ctx, topic, map[string]int{"n": n}, client.WithType("created"))
	if err != nil {
		t.Fatalf("publish %d: %v", n, err)
	}
	return ev
}

// TestSubscribeResumes: the stream goes on, exactly once and in order,
// across connections cut under it (1006). TestSubscribeAcrossRestarts
// does the same with a server process killed and shut down.
func TestSubscribeResumes(t *testing.T) {
	s := startServer(t)
	retries := 0
	c := newClient(t, s.url, &retries)
	var want []string
	for i := range 3 {
		want = append(want, publish(t, c, "orders.eu", i).ID)
	}
	publish(t, c, "other", 0)
	col := collect(t.Context(), c, client.Request{Topics: []string{"orders.*"}, After: client.Zero})
	col.wait(t, 3)
	for round := range 3 {
		s.proxy.cut()
		for i := range 5 {
			want = append(want, publish(t, c, "orders.eu", 100*round+i).ID)
		}
		col.wait(t, len(want))
	}
	if got := col.ids(); !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if retries < 3 {
		t.Fatalf("%d reconnections, want at least 3", retries)
	}
	col.mu.Lock()
	first := col.evs[0]
	col.mu.Unlock()
	if first.Topic != "orders.eu" || first.Type != "created" || string(first.Data) != `{"n":0}` || first.Time.IsZero() {
		t.Fatalf("first event %+v", first)
	}
}

// TestSubscribeFatal: a request that cannot succeed ends the sequence with
// the server's code, at once, and stopping the loop releases everything.
func TestSubscribeFatal(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s.url, nil)
	cases := []struct {
		req  client.Request
		code string
	}{
		{client.Request{Topics: []string{"a"}, After: "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "CURSOR_NOT_FOUND"},
		{client.Request{Topics: []string{"a..b"}}, "BAD_USER_INPUT"},
	}
	for _, tc := range cases {
		var got error
		for _, err := range c.Subscribe(t.Context(), tc.req) {
			got = err
		}
		var e *client.Error
		if !errors.As(got, &e) || e.Code != tc.code || !client.Fatal(got) {
			t.Errorf("%+v: got %v, want code %s", tc.req, got, tc.code)
		}
	}

	publish(t, c, "b", 1)
	publish(t, c, "b", 2)
	n := 0
	for _, err := range c.Subscribe(t.Context(), client.Request{Topics: []string{"b"}, After: client.Zero}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 1 {
			break
		}
	}
	if n != 1 {
		t.Fatalf("delivered %d events after break", n)
	}
}

// TestSubscribeWaitsForServer: a client started before its server keeps
// trying, and one whose server refuses the upgrade for good gives up.
func TestSubscribeWaitsForServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	retries := 0
	c := newClient(t, "http://"+addr+"/graphql", &retries)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	for _, err := range c.Subscribe(ctx, client.Request{Topics: []string{"a"}}) {
		t.Fatalf("got %v from a server that is not there", err)
	}
	if retries < 2 {
		t.Fatalf("%d retries in 500ms, want several", retries)
	}

	s := startServer(t)
	c = newClient(t, s.srv.URL+"/nope", nil)
	for _, err := range c.Subscribe(t.Context(), client.Request{Topics: []string{"a"}}) {
		if !client.Fatal(err) {
			t.Fatalf("got %v for a 404, want a fatal error", err)
		}
	}
}
