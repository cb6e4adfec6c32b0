package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadyz: ready while serving, 503 once shutdown begins, while
// /healthz stays 200 (events can still be read and appended).
func TestReadyz(t *testing.T) {
	draining := make(chan struct{})
	e := start(t, api.Config{Draining: draining}, replay.Config{})
	if code, body := getStatus(t, e.base+"/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	close(draining)
	if code, body := getStatus(t, e.base+"/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz while draining: %d %s", code, body)
	}
	if code, _ := getStatus(t, e.base+"/healthz"); code != 200 {
		t.Fatalf("/healthz while draining: %d", code)
	}
}

// scrape returns the value of each sample line in /metrics.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := getStatus(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestMetrics: connections, subscriptions and deliveries by protocol,
// replayed events and publish latency, as a scrape shows them.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	e := start(t, api.Config{Metrics: m}, replay.Config{Observer: m})
	var published []wstest.Event
	for i := range 3 {
		published = append(published, e.publish(t, "orders.eu", i))
	}
	resp, err := http.Post(e.base+"/publish-message?message=hi", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A batch is one observation, whatever its size; one that is refused
	// (not NDJSON) counts as an error and stores nothing.
	for _, ct := range []string{"application/x-ndjson", "text/plain"} {
		resp, err = http.Post(e.base+"/publish", ct, strings.NewReader(`{"topic":"audit.x","data":1}`+"\n"+`{"topic":"audit.x","data":2}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// Once the hub has fanned out every event, the subscriptions below
	// replay them all from storage (the window), none arrives live.
	testenv.Eventually(t, 10*time.Second, "the hub to see every event", func() bool { return e.hub.Head() == 6 })
	ws := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	ws.Init()
	ws.Subscribe("1", wstest.EventsQuery, map[string]any{"topics": []string{"orders.*"}, "after": "00000000000000000000000000"})
	ws.Collect("1", "events", 3, 10*time.Second)
	s := openSSE(t, t.Context(), http.MethodPost, e.url, nil, wstest.EventsQuery, map[string]any{"topics": []string{"orders.*"}, "after": published[0].ID})
	s.events("events", 2)

	want := map[string]float64{
		`rewind_connections{protocol="graphql-transport-ws"}`:               1,
		`rewind_connections{protocol="graphql-sse"}`:                        1,
		`rewind_subscriptions{protocol="graphql-transport-ws"}`:             1,
		`rewind_subscriptions{protocol="graphql-sse"}`:                      1,
		`rewind_deliveries_total{protocol="graphql-transport-ws"}`:          3,
		`rewind_deliveries_total{protocol="graphql-sse"}`:                   2,
		`rewind_replay_events_total`:                                        5,
		`rewind_publish_duration_seconds_count{api="graphql",result="ok"}`:  3,
		`rewind_publish_duration_seconds_count{api="http",result="ok"}`:     1,
		`rewind_publish_duration_seconds_count{api="batch",result="ok"}`:    1,
		`rewind_publish_duration_seconds_count{api="batch",result="error"}`: 1,
		`rewind_slow_consumer_disconnects_total`:                            0,
		`rewind_replay_events_count`:                                        2,
		`rewind_replay_events_sum`:                                          5,
		`rewind_replay_memory_events_total`:                                 5,
		`rewind_subscriptions_catching_up`:                                  0,
	}
	// A replay counts its events when its read ends, just after the last
	// one is delivered: poll.
	var got map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = scrape(t, e.base)
		var wrong []string
		for k, v := range want {
			if got[k] != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v, want %v", k, got[k], v))
			}
		}
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics:\n%s", strings.Join(wrong, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got["go_goroutines"] == 0 || got["rewind_replay_lag_events_count"] != 2 {
		t.Errorf("runtime or lag metrics missing: go_goroutines %v, lag count %v", got["go_goroutines"], got["rewind_replay_lag_events_count"])
	}

	e.publish(t, "orders.us", "live")
	ws.Collect("1", "events", 1, 10*time.Second)
	ws.Conn.Close()
	testenv.Eventually(t, 10*time.Second, "the WebSocket's subscription and connection to end", func() bool {
		got := scrape(t, e.base)
		return got[`rewind_subscriptions{protocol="graphql-transport-ws"}`] == 0 && got[`rewind_connections{protocol="graphql-transport-ws"}`] == 0
	})
	got = scrape(t, e.base)
	if d := got["rewind_live_delay_seconds_count"]; d < 1 {
		t.Errorf("rewind_live_delay_seconds_count = %v, want the live event", d)
	}
	if n := got[`rewind_deliveries_total{protocol="graphql-transport-ws"}`]; n != 4 {
		t.Errorf("deliveries over graphql-transport-ws %v, want 4", n)
	}
}
