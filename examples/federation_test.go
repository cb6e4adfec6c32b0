package examples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// The federation example (examples/federation) with real processes: Rewind
// (--federation, the example's schema with the Order stub), the orders
// subgraph and Hive Gateway from npm, the supergraph composed by The
// Guild's composition library, and subscribe.mjs, a graphql-ws client
// keeping its cursor, subscribing through the gateway.

// fedStack is one running federation example.
type fedStack struct {
	dir        string // examples/federation, absolute
	rewindURL  string // what the supergraph points at (a Rewind or the failover proxy)
	rewinds    []*proctest.Rewind
	ordersURL  string
	supergraph string
	gwAddr     string
	gw         *proctest.Proc
	token      string // compose.mjs's REWIND_TOKEN
	upstream   string // REWIND_SUBSCRIPTIONS of gateway.config.mjs
}

// fedOpts says what stack to start.
type fedOpts struct {
	rewinds int      // Rewind instances (1, or more on one JetStream)
	proxy   bool     // the gateway reaches Rewind through failoverProxy
	env     []string // added to Rewind's environment
	token   string   // for compose.mjs, when Rewind authenticates
	// upstream is how the gateway subscribes to Rewind: "" (SSE) or "ws".
	upstream string
}

func startFedStack(t *testing.T, o fedOpts) *fedStack {
	t.Helper()
	rewinds, proxy := max(o.rewinds, 1), o.proxy
	proctest.NPMInstall(t, "federation")
	dir, err := filepath.Abs("federation")
	if err != nil {
		t.Fatal(err)
	}
	s := &fedStack{dir: dir, supergraph: filepath.Join(t.TempDir(), "supergraph.graphql")}
	s.token, s.upstream = o.token, o.upstream
	env := append([]string{"FEDERATION=true", "SCHEMA=" + filepath.Join(dir, "schema")}, o.env...)
	if rewinds == 1 {
		env = append(env, "DATA_DIR="+t.TempDir())
	} else {
		n := testenv.StartNATS(t) // both instances on one JetStream
		env = append(env, "NATS_URL="+n.URL())
	}
	for i := range rewinds {
		s.rewinds = append(s.rewinds, proctest.StartRewind(t, fmt.Sprintf("rewind-%d", i), env...))
	}
	s.rewindURL = s.rewinds[0].URL()
	if proxy {
		s.rewindURL = "http://" + failoverProxy(t, s.rewinds) + "/graphql"
	}
	s.ordersURL = s.startOrders(t, "orders", "1")
	s.compose(t, s.ordersURL)
	s.gwAddr = proctest.FreeAddr(t).String()
	s.startGateway(t)
	return s
}

var ordersReady = regexp.MustCompile(`orders subgraph listening on (\S+)`)

// startOrders starts the orders subgraph at a version (2 adds a field,
// for a changed supergraph) and returns its URL.
func (s *fedStack) startOrders(t *testing.T, name, version string) string {
	t.Helper()
	_, url := proctest.Start(t, name, "node", []string{filepath.Join(s.dir, "orders.mjs")}, []string{"PORT=0", "ORDERS_VERSION=" + version}, ordersReady)
	return url
}

// compose writes the supergraph of Rewind and the orders subgraph at
// ordersURL with compose.mjs.
func (s *fedStack) compose(t *testing.T, ordersURL string) {
	t.Helper()
	cmd := exec.Command("node", filepath.Join(s.dir, "compose.mjs"), s.rewindURL, ordersURL, s.supergraph)
	cmd.Env = append(os.Environ(), "REWIND_TOKEN="+s.token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("compose: %v\n%s", err, out)
	}
}

var gatewayReady = regexp.MustCompile(`Listening on`)

func (s *fedStack) startGateway(t *testing.T) {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.gwAddr)
	bin := filepath.Join(s.dir, "node_modules", "@graphql-hive", "gateway", "dist", "bin.js")
	gw, _ := proctest.Start(t, "gateway", "node", []string{bin, "supergraph", s.supergraph,
		"--config-path", filepath.Join(s.dir, "gateway.config.mjs"), "--host", host, "--port", port}, []string{"GATEWAY_LOG=" + os.Getenv("GATEWAY_LOG"), "REWIND_SUBSCRIPTIONS=" + s.upstream}, gatewayReady)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", gw.Log)
		}
	})
	s.gw = gw
}

func (s *fedStack) gatewayURL() string { return "http://" + s.gwAddr + "/graphql" }

// publish appends an order event through Rewind (not the gateway: the
// publisher is a backend) and returns its id once acknowledged.
func publishOrder(t *testing.T, url string, n int) string {
	t.Helper()
	id, err := tryPublishOrder(url, "", "orders.eu", n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func tryPublishOrder(url, token, topic string, n int) (string, error) {
	q := `mutation($t: String!, $id: ID!) { publishOrderPlaced(topic: $t, data: {order: {id: $id}, total: 1}) { id } }`
	field := "publishOrderPlaced"
	if n%3 == 2 {
		q = `mutation($t: String!, $id: ID!) { publishOrderShipped(topic: $t, data: {order: {id: $id}, carrier: "dhl"}) { id } }`
		field = "publishOrderShipped"
	}
	var r struct {
		Data   map[string]struct{ ID string }
		Errors []json.RawMessage
	}
	if err := postJSON(url, token, q, map[string]any{"t": topic, "id": strconv.Itoa(n)}, &r); err != nil {
		return "", fmt.Errorf("publish %d: %w", n, err)
	}
	if len(r.Errors) > 0 || r.Data[field].ID == "" {
		return "", fmt.Errorf("publish %d: %s", n, r.Errors)
	}
	return r.Data[field].ID, nil
}

func postJSON(url, token, q string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// fedEvent is one line subscribe.mjs prints for an event.
type fedEvent struct {
	ID    string
	Live  bool
	Type  string
	Order struct{ ID, Status, Customer string }
	at    time.Time
}

// fedClient runs subscribe.mjs and collects its events.
type fedClient struct {
	mu   sync.Mutex
	evs  []fedEvent
	out  bytes.Buffer
	news chan struct{}
}

func runFedClient(t *testing.T, s *fedStack, count int, env ...string) *fedClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	c := &fedClient{news: make(chan struct{}, 1)}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(s.dir, "subscribe.mjs"), s.gatewayURL(), strconv.Itoa(count))
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &syncWriter2{c: c}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev fedEvent
			_ = json.Unmarshal(sc.Bytes(), &ev)
			ev.at = time.Now()
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			if ev.ID != "" {
				c.evs = append(c.evs, ev)
			}
			c.mu.Unlock()
			select {
			case c.news <- struct{}{}:
			default:
			}
		}
		_ = cmd.Wait()
	}()
	return c
}

type syncWriter2 struct{ c *fedClient }

func (w *syncWriter2) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.out.Write(p)
}

func (c *fedClient) events() []fedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// waitFor waits until the client has n events.
func (c *fedClient) waitFor(t *testing.T, n int, d time.Duration) []fedEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		if evs := c.events(); len(evs) >= n {
			return evs
		}
		select {
		case <-c.news:
		case <-timeout:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("the client printed %d of %d events:\n%s", len(c.evs), n, c.out.String())
		}
	}
}

// checkExactlyOnce asserts the client has exactly the published events,
// in order, each with its order joined in by the orders subgraph.
func checkExactlyOnce(t *testing.T, got []fedEvent, published []string) {
	t.Helper()
	ids := make([]string, len(got))
	for i, ev := range got {
		ids[i] = ev.ID
	}
	if !slices.Equal(ids, published) {
		var orders []string // the publisher's numbering, easier to read
		for _, ev := range got {
			orders = append(orders, ev.Order.ID)
		}
		t.Fatalf("the client has %d events, published %d; first difference at %d; orders received: %v", len(ids), len(published), firstDiff(ids, published), orders)
	}
	for i, ev := range got {
		wantType, status := "OrderPlaced", "open"
		if i%3 == 2 {
			wantType = "OrderShipped"
		}
		if i%2 == 0 {
			status = "paid"
		}
		if ev.Type != wantType || ev.Order.ID != strconv.Itoa(i) || ev.Order.Status != status || ev.Order.Customer != "customer-"+strconv.Itoa(i) {
			t.Errorf("event %d: %+v, want a %s of order %d, %s, from the orders subgraph", i, ev, wantType, i, status)
		}
	}
}

// TestFederationThroughGateway: through Hive Gateway a graphql-ws client
// subscribes from the start, receives the replayed events and then live
// ones, in order, each once, their orders' status and customer resolved by
// the orders subgraph; with the gateway subscribing to Rewind over SSE and
// over graphql-ws.
func TestFederationThroughGateway(t *testing.T) {
	for _, upstream := range []string{"sse", "ws"} {
		t.Run(upstream, func(t *testing.T) {
			s := startFedStack(t, fedOpts{upstream: upstream})
			var published []string
			for i := range 3 {
				published = append(published, publishOrder(t, s.rewinds[0].URL(), i))
			}
			c := runFedClient(t, s, 6)
			evs := c.waitFor(t, 3, 60*time.Second)
			for i := 3; i < 6; i++ {
				published = append(published, publishOrder(t, s.rewinds[0].URL(), i))
			}
			evs = c.waitFor(t, 6, 60*time.Second)
			checkExactlyOnce(t, evs, published)
			for i, ev := range evs {
				if ev.Live != (i >= 3) {
					t.Errorf("event %d: live %v", i, ev.Live)
				}
			}
		})
	}
}

// publisher appends order events through Rewind every few milliseconds
// until stopped, keeping the ids acknowledged.
type publisher struct {
	mu   sync.Mutex
	ids  []string
	stop chan struct{}
	done chan struct{}
}

func startPublisher(t *testing.T, url func() string) *publisher {
	p := &publisher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			id, err := tryPublishOrder(url(), "", "orders.eu", i)
			if err != nil {
				t.Errorf("%v", err)
				return
			}
			p.mu.Lock()
			p.ids = append(p.ids, id)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(p.halt)
	return p
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

func (p *publisher) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

func (p *publisher) published() []string {
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ids)
}

// TestFederationGatewayRestartAndReload: while events are published, the
// gateway is SIGKILLed and restarted, then reloaded with a changed
// supergraph (the orders subgraph moved and grew a field): the client
// resumes through the new gateway with every acknowledged event exactly
// once. The pause at restart (SIGKILL to the first event through the new
// gateway) is logged.
func TestFederationGatewayRestartAndReload(t *testing.T) {
	s := startFedStack(t, fedOpts{})
	c := runFedClient(t, s, 1<<30)
	pub := startPublisher(t, s.rewinds[0].URL)
	c.waitFor(t, 20, 60*time.Second)

	killed := time.Now()
	s.gw.Kill9(t)
	s.startGateway(t)
	listening := time.Now() // no event can come through the new gateway before
	n := len(c.events())
	evs := c.waitFor(t, n+1, 60*time.Second)
	t.Logf("gateway restart: %v from SIGKILL to the first event through the new gateway (%v until it listened)",
		evs[n].at.Sub(killed).Round(time.Millisecond), listening.Sub(killed).Round(time.Millisecond))

	// A changed supergraph: the orders subgraph at a new address, with a
	// new field. The gateway watches the file and reloads.
	c.waitFor(t, len(c.events())+20, 60*time.Second)
	v2 := s.startOrders(t, "orders-v2", "2")
	s.compose(t, v2)
	reloaded := regexp.MustCompile(`(?i)supergraph.*(changed|reload)|(reload|chang).*supergraph`)
	testenv.Eventually(t, 30*time.Second, "the gateway reloads the supergraph", func() bool {
		return reloaded.MatchString(s.gw.Log.String())
	})
	c.waitFor(t, len(c.events())+20, 60*time.Second)

	published := pub.published()
	checkExactlyOnce(t, c.waitFor(t, len(published), 60*time.Second), published)
}

// TestFederationRewindFailover: two Rewind instances on one JetStream
// behind a failover proxy (the subgraph URL the gateway knows); the one
// serving is SIGKILLed while events are published: the client resumes
// through the other with every acknowledged event exactly once.
func TestFederationRewindFailover(t *testing.T) {
	s := startFedStack(t, fedOpts{rewinds: 2, proxy: true})
	c := runFedClient(t, s, 1<<30)
	// Publishes go to the instance that survives, so that every append
	// is acknowledged or refused, none cut off by the kill.
	pub := startPublisher(t, s.rewinds[1].URL)
	c.waitFor(t, 20, 60*time.Second)
	s.rewinds[0].Kill9(t)
	c.waitFor(t, len(c.events())+20, 60*time.Second)
	published := pub.published()
	checkExactlyOnce(t, c.waitFor(t, len(published), 60*time.Second), published)
}

// failoverProxy forwards each TCP connection to the first of rewinds that
// accepts it: what a load balancer's health-checked pool does.
func failoverProxy(t *testing.T, rewinds []*proctest.Rewind) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			var out net.Conn
			for _, r := range rewinds {
				if out, err = net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
					break
				}
			}
			if out == nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return ln.Addr().String()
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFederationGrantsThroughGateway: with --auth=jwt and the gateway
// forwarding the client's Authorization, events another subgraph
// references are fetched from Rewind (_entities) with the client's
// grants: those it may not read are null with FORBIDDEN, never data; and
// the same token subscribes through the gateway to what it may read only.
func TestFederationGrantsThroughGateway(t *testing.T) {
	key := authtest.NewHS256(t)
	admin := key.Token(t, "admin", authtest.Grants{Subscribe: []string{">"}, Publish: []string{">"}}, time.Hour)
	s := startFedStack(t, fedOpts{env: []string{"AUTH=jwt", "JWT_SECRET_FILE=" + key.File}, token: admin})
	eu, err := tryPublishOrder(s.rewinds[0].URL(), admin, "orders.eu", 0)
	if err != nil {
		t.Fatal(err)
	}
	us, err := tryPublishOrder(s.rewinds[0].URL(), admin, "orders.us", 1)
	if err != nil {
		t.Fatal(err)
	}
	reader := key.Token(t, "eu-reader", authtest.Grants{Subscribe: []string{"orders.eu"}}, time.Hour)

	var r struct {
		Data struct {
			Audit []*struct{ ID, Topic string }
		}
		Errors []struct {
			Message    string
			Path       []any
			Extensions map[string]any
		}
	}
	q := `query($ids: [ID!]!) { audit(ids: $ids) { id topic } }`
	if err := postJSON(s.gatewayURL(), reader, q, map[string]any{"ids": []string{us, eu}}, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data.Audit) != 2 || r.Data.Audit[0] != nil || r.Data.Audit[1] == nil || r.Data.Audit[1].Topic != "orders.eu" {
		b, _ := json.Marshal(r)
		t.Fatalf("audit through the gateway: %s", b)
	}
	forbidden := false
	for _, e := range r.Errors {
		forbidden = forbidden || e.Extensions["code"] == "FORBIDDEN"
		if strings.Contains(e.Message, "orders.us\"") && !strings.Contains(e.Message, "may not read") {
			t.Errorf("an error shows data: %s", e.Message)
		}
	}
	if !forbidden {
		t.Errorf("no FORBIDDEN error: %+v", r.Errors)
	}
	t.Logf("errors through the gateway: %+v", r.Errors)

	// Without a token, the gateway's request carries none: nothing.
	r.Data.Audit, r.Errors = nil, nil
	if err := postJSON(s.gatewayURL(), "", q, map[string]any{"ids": []string{eu}}, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data.Audit) == 1 && r.Data.Audit[0] != nil {
		t.Errorf("audit without a token: %+v", r.Data.Audit[0])
	}

	// The token reaches Rewind on subscriptions too: the reader gets the
	// event it may read, and nothing of orders.us.
	c := runFedClient(t, s, 1, "TOKEN="+reader, "TOPICS=orders.eu")
	if evs := c.waitFor(t, 1, 60*time.Second); evs[0].ID != eu {
		t.Errorf("the reader's subscription got %+v, want %s", evs[0], eu)
	}
	// All of orders.* is refused, and the client does not retry that.
	all := runFedClient(t, s, 1, "TOKEN="+reader)
	testenv.Eventually(t, 60*time.Second, "the client gives up with FORBIDDEN", func() bool {
		all.mu.Lock()
		defer all.mu.Unlock()
		return strings.Contains(all.out.String(), `{"fatal":"FORBIDDEN"`)
	})
	if evs := all.events(); len(evs) > 0 {
		t.Errorf("a refused subscription delivered %+v", evs)
	}
}
