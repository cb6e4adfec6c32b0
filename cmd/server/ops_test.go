package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/wstest"
)

func httpGet(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestOperations runs the server with JSON logs and a shutdown delay: it
// serves GraphiQL with its embedded assets, /metrics and /readyz; at
// SIGTERM /readyz turns 503 while subscriptions still run, then WebSockets
// close 1001, SSE streams end cleanly without complete, and the process
// exits 0. Every line it logged is a JSON object.
func TestOperations(t *testing.T) {
	bin := proctest.Build(t, "github.com/rewind-dev/rewind/cmd/server")
	env := []string{"ADDR=127.0.0.1:0", "NATS_URL=", "NATS_LISTEN=", "ALLOWED_ORIGINS=", "MAX_PAYLOAD=", "LOG_LEVEL=info",
		"DATA_DIR=" + t.TempDir(), "LOG_FORMAT=json", "SHUTDOWN_DELAY=1s"}
	p, addr := proctest.Start(t, "rewind", bin, nil, env, regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`))
	srv := &proc{&proctest.Rewind{Proc: p, Addr: addr}}
	srv.WaitHealthy(t, 30*time.Second)
	base := "http://" + addr

	resp, page := httpGet(t, base+"/graphql", map[string]string{"Accept": "text/html"})
	if resp.StatusCode != 200 || !strings.Contains(page, `src="graphiql/graphiql.js"`) {
		t.Fatalf("GraphiQL page: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = httpGet(t, base+"/graphiql/graphiql.js", map[string]string{"Accept-Encoding": "gzip"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("GraphiQL bundle: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := httpGet(t, base+"/readyz", nil); resp.StatusCode != 200 {
		t.Fatalf("/readyz: %d %s", resp.StatusCode, body)
	}

	ev := srv.publish(t, "ops", 1)
	ws := wstest.Dial(t, srv.graphqlURL(), wstest.TransportWS, nil)
	ws.Init()
	ws.Subscribe("1", wstest.EventsQuery, map[string]any{"topics": []string{"ops"}, "after": "00000000000000000000000000"})
	if got := ws.Collect("1", "events", 1, 10*time.Second); got[0].ID != ev.ID {
		t.Fatalf("ws got %s, want %s", got[0].ID, ev.ID)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.graphqlURL()+`?query=subscription{events(topics:["ops"]){id}}`, nil)
	req.Header.Set("Accept", "text/event-stream")
	sse, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	sseBody := make(chan string, 1)
	sseErr := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(sse.Body)
		sseBody <- string(b)
		sseErr <- err
	}()

	_, metrics := httpGet(t, base+"/metrics", nil)
	for _, want := range []string{`rewind_nats_connected 1`, `rewind_subscriptions{protocol="graphql-transport-ws"} 1`,
		`rewind_connections{protocol="graphql-sse"} 1`, `rewind_publish_duration_seconds_count{api="graphql",result="ok"} 1`,
		"rewind_nats_reconnects_total 0", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	sigterm := time.Now()
	if err := srv.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		resp, _ := httpGet(t, base+"/readyz", nil)
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Since(sigterm) > 900*time.Millisecond {
			t.Fatalf("/readyz still %d after SIGTERM", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, _ := httpGet(t, base+"/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("/healthz %d while draining", resp.StatusCode)
	}
	// Still serving while draining: a live event reaches the WebSocket.
	live := srv.publish(t, "ops", 2)
	if got := ws.Collect("1", "events", 1, 10*time.Second); got[0].ID != live.ID {
		t.Fatalf("ws got %s while draining, want %s", got[0].ID, live.ID)
	}

	_, err = ws.TryRead(15 * time.Second)
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("WebSocket ended with %v, want close 1001", err)
	}
	if d := time.Since(sigterm); d < time.Second {
		t.Errorf("connections closed %v after SIGTERM, before the 1s delay", d)
	}
	body, err := <-sseBody, <-sseErr
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("SSE stream did not end cleanly: %v", err)
	}
	if strings.Contains(body, "event: complete") || !strings.Contains(body, "id: "+live.ID) {
		t.Fatalf("SSE stream at shutdown:\n%s", body)
	}
	select {
	case <-srv.Exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM:\n%s", srv.Log)
	}
	if code := srv.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, srv.Log)
	}

	sc := bufio.NewScanner(strings.NewReader(srv.Log.String()))
	lines := 0
	for sc.Scan() {
		var rec struct {
			Time, Level, Msg string
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Time == "" || rec.Level == "" || rec.Msg == "" {
			t.Errorf("log line is not a JSON record: %s", sc.Text())
		}
		lines++
	}
	if lines < 3 || !strings.Contains(srv.Log.String(), `"msg":"shutting down"`) {
		t.Errorf("%d log lines:\n%s", lines, srv.Log)
	}
}
