package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
)

// The operator's kit in deploy/: its alert rules and its dashboard.
const (
	rulesFile     = "../../deploy/prometheus/rewind-alerts.yml"
	dashboardFile = "../../deploy/grafana/rewind-dashboard.json"
)

// TestOperatorKit runs Debian's Prometheus (installed by .ci/run) scraping
// a real server under load, with the alert rules of deploy/ (their for:
// shortened to 0s), and asks it every dashboard query and every alert's
// query (its expression without the comparison): each must return data,
// so that each uses names Rewind exports. A subscriber that stops reading
// makes the lag alert fire. promtool checks the rules file. The load and
// the test stop by themselves within two minutes.
func TestOperatorKit(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: apt-get install prometheus (.ci/run does)")
	}
	if out, err := exec.Command("promtool", "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
	alerts := alertRules(t)
	queries := dashboardQueries(t)

	rcv := startReceiver(t) // traces, so that latencies carry exemplars
	env := append(tracingEnv(rcv, "kit"), "OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.05", "DATA_DIR="+t.TempDir())
	srv := &proc{proctest.StartRewind(t, "rewind", env...)}

	dir := t.TempDir()
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	shortened := regexp.MustCompile(`(?m)^(\s+for:) \S+$`).ReplaceAll(rules, []byte("$1 0s"))
	writeFile(t, filepath.Join(dir, "rules.yml"), shortened)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: rewind
    static_configs:
      - targets: [%q]
`, srv.Addr))
	promAddr := proctest.FreeAddr(t).String()
	proctest.Start(t, "prometheus", prom, []string{
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + promAddr,
		"--enable-feature=exemplar-storage",
	}, nil, regexp.MustCompile(`Server is ready to receive web requests`))
	api := "http://" + promAddr + "/api/v1/"

	ctx, stopLoad := context.WithTimeout(context.Background(), 90*time.Second)
	defer stopLoad()
	var load sync.WaitGroup
	defer load.Wait()
	defer stopLoad()
	for range 3 {
		load.Go(func() { publishLoad(ctx, srv) })
	}
	reader := wstest.Dial(t, srv.graphqlURL(), wstest.TransportWS, nil)
	reader.Init()
	reader.Subscribe("live", wstest.EventsQuery, map[string]any{"topics": []string{"load.>"}, "after": zeroID})
	load.Go(func() { drain(ctx, reader.Conn) })
	closed := wstest.Dial(t, srv.graphqlURL(), wstest.TransportWS, nil)
	closed.Init()
	closed.Subscribe("bad", wstest.EventsQuery, map[string]any{"topics": []string{"load.>"}, "after": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
	closed.Subscribe("brief", wstest.EventsQuery, map[string]any{"topics": []string{"load.a"}})
	closed.Read(10 * time.Second) // the cursor error
	closed.Stop("brief")
	if resp, err := http.Post("http://"+srv.Addr+"/publish-message", "", nil); err == nil { // no message: a publish error
		resp.Body.Close()
	}
	stopped := dialStopped(t, srv.graphqlURL())
	_ = stopped

	// Every query returns data once Prometheus has a few scrapes.
	for _, q := range append(queries, alerts...) {
		var last string
		testenv.Eventually(t, 45*time.Second, "data for "+q, func() bool {
			n, body := promQuery(t, api, q)
			last = body
			return n > 0
		})
		_ = last
	}
	testenv.Eventually(t, 45*time.Second, "the lag alert firing", func() bool {
		n, _ := promQuery(t, api, `max_over_time(ALERTS{alertname="RewindSubscriptionLagging",alertstate="firing",topics="load.>"}[5m])`)
		return n > 0
	})
	testenv.Eventually(t, 30*time.Second, "an exemplar with a trace id", func() bool {
		now := time.Now()
		u := api + "query_exemplars?" + url.Values{"query": {"rewind_delivery_latency_seconds_bucket"},
			"start": {fmt.Sprint(now.Add(-5 * time.Minute).Unix())}, "end": {fmt.Sprint(now.Unix())}}.Encode()
		var r struct {
			Data []struct {
				Exemplars []struct {
					Labels map[string]string `json:"labels"`
				} `json:"exemplars"`
			} `json:"data"`
		}
		getJSONInto(t, u, &r)
		for _, d := range r.Data {
			for _, e := range d.Exemplars {
				if len(e.Labels["trace_id"]) == 32 {
					return true
				}
			}
		}
		return false
	})
}

// alertRules returns each alert's query: its expression without the
// final comparison.
func alertRules(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	// Each rule is written alert, comments, then a one-line expr.
	rule := regexp.MustCompile(`(?m)^\s+- alert: (\S+)\n(?:\s+#.*\n)*\s+expr: (.+)$`)
	cmp := regexp.MustCompile(`\s*(>|<|==|>=|<=|!=)\s*[0-9.e+-]+\s*$`)
	var out []string
	names := map[string]bool{}
	for _, m := range rule.FindAllStringSubmatch(string(raw), -1) {
		alert, expr := m[1], strings.TrimSpace(m[2])
		q := cmp.ReplaceAllString(expr, "")
		if q == expr {
			t.Fatalf("alert %s: %q does not end in a comparison with a threshold", alert, expr)
		}
		names[alert] = true
		out = append(out, q)
	}
	if n := strings.Count(string(raw), "- alert:"); n != len(out) {
		t.Fatalf("read %d of the %d alerts' expressions", len(out), n)
	}
	for _, want := range []string{"RewindSubscriptionLagging", "RewindLiveTailBehind", "RewindPublishErrors", "RewindReadinessFlapping", "RewindJetStreamUnavailable"} {
		if !names[want] {
			t.Errorf("the rules have no alert %s", want)
		}
	}
	return out
}

// dashboardQueries returns every query of the dashboard, its variables
// set as Grafana would (every instance, a rate interval).
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, strings.NewReplacer(`$instance`, `.*`, `$__rate_interval`, `15s`).Replace(tg.Expr))
		}
	}
	if len(out) < 15 {
		t.Fatalf("the dashboard has %d queries", len(out))
	}
	return out
}

// promQuery runs an instant query and returns how many series it gave.
func promQuery(t *testing.T, api, q string) (int, string) {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	body := getJSONInto(t, api+"query?"+url.Values{"query": {q}}.Encode(), &r)
	if r.Status != "success" {
		t.Fatalf("query %s: %s %s", q, r.Status, r.Error)
	}
	return len(r.Data.Result), body
}

func getJSONInto(t *testing.T, u string, v any) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, buf.String())
	}
	return buf.String()
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// publishLoad publishes documents of 20 events of 2 KiB on load.a and
// load.b until ctx ends.
func publishLoad(ctx context.Context, p *proc) {
	var doc strings.Builder
	doc.WriteString("mutation($d: JSON!) {")
	for i := range 20 {
		fmt.Fprintf(&doc, ` e%d: publish(topic: "load.%c", data: $d) { id }`, i, 'a'+i%2)
	}
	doc.WriteString(" }")
	body, _ := json.Marshal(map[string]any{"query": doc.String(), "variables": map[string]any{"d": map[string]string{"pad": strings.Repeat("x", 2048)}}})
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.graphqlURL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		_, _ = new(bytes.Buffer).ReadFrom(resp.Body)
		resp.Body.Close()
	}
}

// drain reads c until it fails (ctx ending closes it).
func drain(ctx context.Context, c *websocket.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

// dialStopped opens a WebSocket with a 4 KiB receive buffer, subscribes
// to the load's topics from the start and never reads again: the server's
// writes block, and its subscription falls behind.
func dialStopped(t *testing.T, endpoint string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{
		Subprotocols:     []string{wstest.TransportWS},
		HandshakeTimeout: 5 * time.Second,
		NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			if err != nil {
				return err
			}
			return serr
		}}).DialContext,
	}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(endpoint, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	send := func(v any) {
		if err := c.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{}})
	if _, m, err := c.ReadMessage(); err != nil || !strings.Contains(string(m), "connection_ack") {
		t.Fatalf("connection_ack: %s %v", m, err)
	}
	send(map[string]any{"type": "subscribe", "id": "stopped", "payload": map[string]any{"query": wstest.EventsQuery, "variables": map[string]any{"topics": []string{"load.>"}, "after": zeroID}}})
	return c
}
