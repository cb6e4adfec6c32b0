// Package scenario runs load against Rewind server processes, with
// publishers that retry with an idempotency key and clients that resume
// with their last id on the next instance, and checks Rewind's promise
// afterwards: every acknowledged event stored, and delivered to every
// client exactly once, in stream order. The process-kill and network
// fault tests share it.
package scenario

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

// ZeroID is the cursor before the first event.
const ZeroID = "00000000000000000000000000"

// Fleet is the Rewind processes a scenario's clients and load use; tests
// replace one when they restart it, while clients read it.
type Fleet struct {
	mu   sync.Mutex
	list []*proctest.Rewind
}

// NewFleet returns a fleet of the given instances.
func NewFleet(r ...*proctest.Rewind) *Fleet { return &Fleet{list: r} }

// Get returns instance i (modulo the fleet's size).
func (f *Fleet) Get(i int) *proctest.Rewind {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.list[i%len(f.list)]
}

// Set replaces instance i.
func (f *Fleet) Set(i int, r *proctest.Rewind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list[i] = r
}

// All returns the instances.
func (f *Fleet) All() []*proctest.Rewind {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

// Scenario is one topic under load with clients that resume on failure.
type Scenario struct {
	t         *testing.T
	topic     string
	instances *Fleet

	mu       sync.Mutex
	acked    []string // ids of acknowledged publishes
	fails    int      // publishes that got no acknowledgement
	retries  int      // attempts after a failed one
	lastErr  error
	lastAck  time.Time
	ackPause time.Duration // longest time without an acknowledgement while publishing
	// The same for the publishes each instance got first, by index in
	// Load's on: what a client that always starts there sees.
	lastAckOn  map[int]time.Time
	ackPauseOn map[int]time.Duration

	clients []*resumer
	wg      sync.WaitGroup
	ctx     context.Context
	http    *http.Client
}

// New starts a scenario on topic; its clients stop when the test ends.
func New(t *testing.T, topic string, instances *Fleet) *Scenario {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	// Connections are kept for every publish in flight: a new one per
	// publish would measure TCP handshakes, not Rewind.
	transport := &http.Transport{MaxIdleConnsPerHost: inFlight}
	s := &Scenario{t: t, topic: topic, instances: instances, ctx: ctx, http: &http.Client{Transport: transport}}
	t.Cleanup(func() {
		cancel()
		s.wg.Wait()
		transport.CloseIdleConnections()
	})
	return s
}

// Published is how many publishes were acknowledged so far.
func (s *Scenario) Published() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

// inFlight bounds the publishes waiting for an acknowledgement at once on
// each instance, so that a slow link slows the load instead of piling
// requests up.
const inFlight = 32

// Load publishes {"n": n} at about rate events/s, spread over the given
// instances, until ctx ends. Each instance has its own publishers, so
// that one that hangs does not hold up the others, as behind a load
// balancer. A publish that fails is sent again with the same idempotency
// key, on the next instance, until it is acknowledged or ctx ends; it
// counts as acknowledged only then.
func (s *Scenario) Load(ctx context.Context, on []int, rate int) {
	s.mu.Lock()
	s.lastAck = time.Now()
	s.lastAckOn, s.ackPauseOn = map[int]time.Time{}, map[int]time.Duration{}
	for i := range on {
		s.lastAckOn[i] = s.lastAck
	}
	s.mu.Unlock()
	var next atomic.Int64 // the n of the next publish, unique across instances
	var wg sync.WaitGroup
	for first := range on {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loadOn(ctx, on, first, max(1, rate/len(on)), &next)
		}()
	}
	wg.Wait()
	s.mu.Lock()
	s.ackPause = max(s.ackPause, time.Since(s.lastAck)) // a pause still going on at the end counts
	for i, at := range s.lastAckOn {
		s.ackPauseOn[i] = max(s.ackPauseOn[i], time.Since(at))
	}
	s.mu.Unlock()
}

// loadOn is Load's publisher on instance on[first].
func (s *Scenario) loadOn(ctx context.Context, on []int, first, rate int, next *atomic.Int64) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	slots := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		n := int(next.Add(1) - 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.publish(ctx, on, first, n)
		}()
	}
}

// LoadAsync runs Load in a goroutine; the channel closes when it returns.
func (s *Scenario) LoadAsync(ctx context.Context, on []int, rate int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Load(ctx, on, rate)
	}()
	return done
}

// publish sends publish n, first on instance on[first], until it is
// acknowledged or ctx ends.
func (s *Scenario) publish(ctx context.Context, on []int, first, n int) {
	key := fmt.Sprintf("%s-%d", s.topic, n)
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		inst := s.instances.Get(on[(first+attempt)%len(on)])
		id, err := publishOnce(ctx, s.http, inst.URL(), s.topic, key, n)
		now := time.Now()
		s.mu.Lock()
		if err == nil {
			s.acked = append(s.acked, id)
			s.ackPause = max(s.ackPause, now.Sub(s.lastAck))
			s.lastAck = now
			s.ackPauseOn[first] = max(s.ackPauseOn[first], now.Sub(s.lastAckOn[first]))
			s.lastAckOn[first] = now
			s.mu.Unlock()
			return
		}
		s.lastErr = err
		if ctx.Err() != nil {
			s.fails++
			s.mu.Unlock()
			return
		}
		s.retries++
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// Follow starts a client that subscribes on instance i from the start
// and, whenever its connection fails, resumes with its last id on the next
// instance. It returns once the client's first connection is acknowledged.
func (s *Scenario) Follow(i int) {
	r := &resumer{s: s, next: i}
	s.clients = append(s.clients, r)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r.run(s.ctx)
	}()
	testenv.Eventually(s.t, 30*time.Second, "the client to be acknowledged", r.subscribed.Load)
}

// WaitReceived waits until every client has received at least n events.
func (s *Scenario) WaitReceived(n int) {
	s.t.Helper()
	s.waitReceived(n, 90*time.Second)
}

func (s *Scenario) waitReceived(n int, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for i, r := range s.clients {
		for r.count() < n {
			if time.Now().After(deadline) {
				var logs strings.Builder
				for _, inst := range s.instances.All() {
					fmt.Fprintf(&logs, "--- %s:\n%s\n", inst.Name, inst.Log)
				}
				s.t.Fatalf("client %d has %d of %d events after %v; instance logs:\n%s", i, r.count(), n, d, logs.String())
			}
			time.Sleep(20 * time.Millisecond) // polling counters that client goroutines update
		}
	}
}

// Report is what Verify measured.
type Report struct {
	Acked, NotAcked, Stored, Retries int
	Clients, Resumes                 int
	// PublishPause is the longest time without an acknowledged publish
	// while the load ran; PublishPauseOn the same for the publishes each
	// instance got first (retries go to the next); DeliveryPause the
	// longest time a client went without an event.
	PublishPause, DeliveryPause time.Duration
	PublishPauseOn              []time.Duration
}

func (r Report) String() string {
	var on []string
	for _, d := range r.PublishPauseOn {
		on = append(on, d.Round(time.Millisecond).String())
	}
	return fmt.Sprintf("%d publishes acknowledged (%d retries), %d not, %d stored; %d clients got every stored event exactly once in order (%d resumes); longest publish pause %v (by first instance: %s), longest delivery pause %v",
		r.Acked, r.Retries, r.NotAcked, r.Stored, r.Clients, r.Resumes, r.PublishPause.Round(time.Millisecond), strings.Join(on, " "), r.DeliveryPause.Round(time.Millisecond))
}

// Verify waits for each client to receive everything stored on the topic
// and checks the promise: every acknowledged event is stored, once, and
// each client received exactly the stored events, in stream order.
func (s *Scenario) Verify() Report {
	s.t.Helper()
	var stored []wstest.Event
	for range 5 {
		stored = s.storedEvents()
		s.WaitReceived(len(stored))
		if s.mostReceived() == len(stored) {
			break
		}
		// A publish the load gave up on may be stored after the count
		// (the server still retries it): read again.
	}
	s.mu.Lock()
	acked := slices.Clone(s.acked)
	rep := Report{Acked: len(acked), NotAcked: s.fails, Retries: s.retries, Stored: len(stored), PublishPause: s.ackPause}
	for i := range len(s.ackPauseOn) {
		rep.PublishPauseOn = append(rep.PublishPauseOn, s.ackPauseOn[i])
	}
	lastErr := s.lastErr
	s.mu.Unlock()
	storedIDs := make([]string, len(stored))
	seen := map[string]string{} // data -> id: a publish stored twice is a duplicate
	for i, ev := range stored {
		storedIDs[i] = ev.ID
		if other, dup := seen[string(ev.Data)]; dup {
			s.t.Fatalf("publish %s is stored twice, as %s and %s: its retries were not deduplicated", ev.Data, other, ev.ID)
		}
		seen[string(ev.Data)] = ev.ID
	}
	for _, id := range acked {
		if !slices.Contains(storedIDs, id) {
			s.t.Fatalf("acknowledged event %s is not stored", id)
		}
	}
	rep.Clients = len(s.clients)
	for i, r := range s.clients {
		got, pause, resumes := r.result()
		if !slices.Equal(got, storedIDs) {
			s.t.Fatalf("client %d: got %d events, stored %d; first difference at %d", i, len(got), len(stored), firstDifference(got, storedIDs))
		}
		rep.DeliveryPause = max(rep.DeliveryPause, pause)
		rep.Resumes += resumes
	}
	if rep.NotAcked > 0 {
		s.t.Logf("last publish error: %v", lastErr)
	}
	return rep
}

func (s *Scenario) mostReceived() int {
	most := 0
	for _, r := range s.clients {
		most = max(most, r.count())
	}
	return most
}

// storedEvents replays the topic from the start on a live instance: the
// stream's own order is the truth every client must match.
func (s *Scenario) storedEvents() []wstest.Event {
	s.t.Helper()
	for _, inst := range s.instances.All() {
		select {
		case <-inst.Exited:
			continue
		default:
		}
		c := wstest.Dial(s.t, inst.URL(), wstest.TransportWS, nil)
		c.Init()
		n := s.countStored(inst)
		c.Subscribe("all", wstest.EventsQuery, map[string]any{"topics": []string{s.topic}, "after": ZeroID})
		return c.Collect("all", "events", n, 60*time.Second)
	}
	s.t.Fatal("no live instance")
	return nil
}

func (s *Scenario) countStored(inst *proctest.Rewind) int {
	s.t.Helper()
	var r struct {
		Data struct {
			Topics []struct {
				Name   string
				Events int
			}
		}
	}
	raw := postGraphQL(s.t, inst.URL(), `{ topics { name events } }`)
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
	s          *Scenario
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
		inst := r.s.instances.Get(r.next)
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
	after := ZeroID
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

const publishMutation = `mutation($topic: String!, $data: JSON!, $key: String) {
  publish(topic: $topic, data: $data, idempotencyKey: $key) { id topic type data time }
}`

// publishOnce appends {"n": n} through POST /graphql and returns its id,
// or an error when the publish was not acknowledged.
func publishOnce(ctx context.Context, client *http.Client, url, topic, key string, n int) (string, error) {
	body, _ := json.Marshal(map[string]any{"query": publishMutation, "variables": map[string]any{"topic": topic, "key": key, "data": map[string]int{"n": n}}})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
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

func postGraphQL(t *testing.T, url, query string) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
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
