package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
)

// The cluster scenarios: a three-node JetStream cluster with an R3 stream,
// two Rewind instances on it, load, and faults. Each asserts exact
// delivery: every acknowledged event reaches every resuming client once,
// in stream order.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster scenarios start five processes; run without -short")
	}
	nats := proctest.StartNATSCluster(t, 3)
	env := []string{"NATS_URL=" + nats.URLs(), "REPLICAS=3"}
	a := proctest.StartRewind(t, "rewind-a", env...)
	b := proctest.StartRewind(t, "rewind-b", env...)
	instances := newFleet(a, b)
	parent := t // processes that outlive one scenario belong to the whole test

	t.Run("publish on A reaches subscribers on A and B", func(t *testing.T) {
		s := newScenario(t, "s1", instances)
		s.follow(0)
		s.follow(1)
		s.load(ctxFor(t, 3*time.Second), []int{0}, 200)
		s.verify()
	})

	t.Run("SIGKILL instance A under load; its clients resume on B", func(t *testing.T) {
		s := newScenario(t, "s2", instances)
		s.follow(0)
		s.follow(0)
		s.follow(1)
		ctx, cancel := context.WithCancel(context.Background())
		done := s.loadAsync(ctx, []int{0, 1}, 300)
		s.waitReceived(200)
		instances.get(0).Kill9(t)
		s.waitReceived(s.published() + 200) // B keeps serving everyone
		cancel()
		<-done
		s.verify()
		instances.set(0, proctest.StartRewind(parent, "rewind-a2", env...))
	})

	t.Run("SIGKILL the stream leader NATS node under load, then restart it", func(t *testing.T) {
		s := newScenario(t, "s3", instances)
		s.follow(0)
		s.follow(1)
		ctx, cancel := context.WithCancel(context.Background())
		done := s.loadAsync(ctx, []int{0, 1}, 300)
		s.waitReceived(200)
		leader := nats.StreamLeader("REWIND")
		nats.Nodes[leader].Proc.Kill9(t)
		s.waitReceived(s.published() + 200)
		nats.Start(leader)
		s.waitReceived(s.published() + 200)
		cancel()
		<-done
		s.verify()
	})

	t.Run("rolling restart of every NATS node under load", func(t *testing.T) {
		s := newScenario(t, "s4", instances)
		s.follow(0)
		s.follow(1)
		ctx, cancel := context.WithCancel(context.Background())
		done := s.loadAsync(ctx, []int{0, 1}, 300)
		s.waitReceived(200)
		for i := range nats.Nodes {
			nats.Nodes[i].Proc.Stop(t, 30*time.Second)
			nats.Start(i)
			nats.WaitCurrent(i, 60*time.Second)
			s.waitReceived(s.published() + 100)
		}
		cancel()
		<-done
		s.verify()
	})
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scenario is one topic under load with clients that resume on failure.
type scenario struct {
	t         *testing.T
	topic     string
	instances *fleet

	mu      sync.Mutex
	acked   []string // ids of acknowledged publishes
	fails   int      // publishes that got no acknowledgement
	lastErr error
	lastAck time.Time
	ackGap  time.Duration // longest time between acknowledged publishes

	clients []*resumer
	wg      sync.WaitGroup
	ctx     context.Context
}

// fleet is the Rewind processes a scenario's clients and load use; tests
// replace one when they restart it, while clients read it.
type fleet struct {
	mu   sync.Mutex
	list []*proctest.Rewind
}

func newFleet(r ...*proctest.Rewind) *fleet { return &fleet{list: r} }

func (f *fleet) get(i int) *proctest.Rewind {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.list[i%len(f.list)]
}

func (f *fleet) set(i int, r *proctest.Rewind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list[i] = r
}

func (f *fleet) all() []*proctest.Rewind {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

func newScenario(t *testing.T, topic string, instances *fleet) *scenario {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s := &scenario{t: t, topic: topic, instances: instances, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		s.wg.Wait()
	})
	return s
}

func (s *scenario) published() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

// load publishes at about rate events/s, round-robin over the given
// instances, until ctx ends, recording which publishes were acknowledged.
func (s *scenario) load(ctx context.Context, on []int, rate int) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		inst := s.instances.get(on[i%len(on)])
		id, err := publishOnce(ctx, inst.URL(), s.topic, i)
		s.mu.Lock()
		if err != nil {
			s.fails++
			s.lastErr = err
		} else {
			s.acked = append(s.acked, id)
			if now := time.Now(); !s.lastAck.IsZero() {
				s.ackGap = max(s.ackGap, now.Sub(s.lastAck))
				s.lastAck = now
			} else {
				s.lastAck = now
			}
		}
		s.mu.Unlock()
	}
}

func (s *scenario) loadAsync(ctx context.Context, on []int, rate int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.load(ctx, on, rate)
	}()
	return done
}

// follow starts a client that subscribes on instance i from the start and,
// whenever its connection fails, resumes with its last id on the next
// instance.
func (s *scenario) follow(i int) {
	r := &resumer{s: s, next: i}
	s.clients = append(s.clients, r)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r.run(s.ctx)
	}()
	s.waitSubscribed(r)
}

func (s *scenario) waitSubscribed(r *resumer) {
	testenv.Eventually(s.t, 30*time.Second, "the client to be acknowledged", r.subscribed.Load)
}

// waitReceived waits until every client has received at least n events.
func (s *scenario) waitReceived(n int) {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for i, r := range s.clients {
		for r.count() < n {
			if time.Now().After(deadline) {
				var logs strings.Builder
				for _, inst := range s.instances.all() {
					fmt.Fprintf(&logs, "--- %s:\n%s\n", inst.Name, inst.Log)
				}
				s.t.Fatalf("client %d has %d of %d events after 90s; instance logs:\n%s", i, r.count(), n, logs.String())
			}
			time.Sleep(20 * time.Millisecond) // polling counters that client goroutines update
		}
	}
}

// verify waits for each client to receive everything stored on the topic
// and checks it received exactly that: every acknowledged event, in
// stream order, once.
func (s *scenario) verify() {
	s.t.Helper()
	stored := s.storedIDs()
	s.mu.Lock()
	acked, fails := slices.Clone(s.acked), s.fails
	s.mu.Unlock()
	for _, id := range acked {
		if !slices.Contains(stored, id) {
			s.t.Fatalf("acknowledged event %s is not stored", id)
		}
	}
	s.waitReceived(len(stored))
	for i, r := range s.clients {
		got, pause, resumes := r.result()
		if !slices.Equal(got, stored) {
			s.t.Fatalf("client %d: got %d events, stored %d; first difference at %d", i, len(got), len(stored), firstDifference(got, stored))
		}
		s.t.Logf("client %d: %d events exactly once in order; longest pause %v; %d resumes", i, len(got), pause.Round(time.Millisecond), resumes)
	}
	s.t.Logf("%d publishes acknowledged, %d not (last error: %v), %d stored; longest gap between acknowledged publishes %v",
		len(acked), fails, s.lastErr, len(stored), s.ackGap.Round(time.Millisecond))
}

// storedIDs replays the topic from the start on a live instance: the
// stream's own order is the truth every client must match.
func (s *scenario) storedIDs() []string {
	s.t.Helper()
	for _, inst := range s.instances.all() {
		select {
		case <-inst.Exited:
			continue
		default:
		}
		c := wstest.Dial(s.t, inst.URL(), wstest.TransportWS, nil)
		c.Init()
		n := s.countStored(inst)
		c.Subscribe("all", wstest.EventsQuery, map[string]any{"topics": []string{s.topic}, "after": zeroID})
		return ids(c.Collect("all", "events", n, 60*time.Second))
	}
	s.t.Fatal("no live instance")
	return nil
}

func (s *scenario) countStored(inst *proctest.Rewind) int {
	s.t.Helper()
	var r struct {
		Data struct {
			Topics []struct {
				Name   string
				Events int
			}
		}
	}
	raw := postGraphQL(s.t, inst.URL(), `{ topics { name events } }`, nil)
	if err := json.Unmarshal(raw, &r); err != nil {
		s.t.Fatalf("topics: %s: %v", raw, err)
	}
	for _, tp := range r.Data.Topics {
		if tp.Name == s.topic {
			return tp.Events
		}
	}
	return 0
}

func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// resumer is a client that keeps the last id it received and resumes with
// it, on the next instance, after any failure: what Rewind asks of clients.
type resumer struct {
	s          *scenario
	next       int
	subscribed atomic.Bool

	mu       sync.Mutex
	ids      []string
	lastAt   time.Time
	maxPause time.Duration
	resumes  int
}

func (r *resumer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *resumer) result() ([]string, time.Duration, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids), r.maxPause, r.resumes
}

func (r *resumer) run(ctx context.Context) {
	for ctx.Err() == nil {
		inst := r.s.instances.get(r.next)
		r.next++
		if err := r.session(ctx, inst.URL()); err != nil && ctx.Err() == nil {
			r.mu.Lock()
			r.resumes++
			r.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // reconnect backoff
			}
		}
	}
}

// session subscribes once after the last id and reads until the
// connection fails.
func (r *resumer) session(ctx context.Context, url string) error {
	conn, err := wstest.TryDial(url, wstest.TransportWS, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.WriteJSON(wstest.Message{Type: "connection_init"}); err != nil {
		return err
	}
	r.mu.Lock()
	after := zeroID
	if len(r.ids) > 0 {
		after = r.ids[len(r.ids)-1]
	}
	r.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{"query": wstest.EventsQuery, "variables": map[string]any{"topics": []string{r.s.topic}, "after": after}})
	if err := conn.WriteJSON(wstest.Message{Type: "subscribe", ID: "1", Payload: payload}); err != nil {
		return err
	}
	for {
		var m wstest.Message
		if err := conn.ReadJSON(&m); err != nil {
			return err
		}
		switch m.Type {
		case "connection_ack":
			r.subscribed.Store(true)
			continue
		case "ping":
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
			continue
		case "next":
		default:
			return fmt.Errorf("unexpected %s %s", m.Type, m.Payload)
		}
		var res struct {
			Data struct{ Events wstest.Event }
		}
		if err := json.Unmarshal(m.Payload, &res); err != nil || res.Data.Events.ID == "" {
			return fmt.Errorf("bad result %s: %v", m.Payload, err)
		}
		now := time.Now()
		r.mu.Lock()
		r.ids = append(r.ids, res.Data.Events.ID)
		if !r.lastAt.IsZero() {
			r.maxPause = max(r.maxPause, now.Sub(r.lastAt))
		}
		r.lastAt = now
		r.mu.Unlock()
	}
}

// publishOnce appends {"n": n} through POST /graphql and returns its id,
// or an error when the publish was not acknowledged.
func publishOnce(ctx context.Context, url, topic string, n int) (string, error) {
	body, _ := json.Marshal(map[string]any{"query": publishMutation, "variables": map[string]any{"topic": topic, "data": map[string]int{"n": n}}})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Publish *wstest.Event `json:"publish"`
		} `json:"data"`
		Errors json.RawMessage `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", err
	}
	if r.Errors != nil || r.Data.Publish == nil {
		return "", fmt.Errorf("publish: status %d, errors %s", resp.StatusCode, r.Errors)
	}
	return r.Data.Publish.ID, nil
}

func postGraphQL(t *testing.T, url, query string, vars map[string]any) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
