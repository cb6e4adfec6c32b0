package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/wstest"
)

// awaitClose waits for the server to close c, reading and discarding what
// it sends, and fails if that has not happened within d.
func awaitClose(t *testing.T, what string, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open for %v", what, d)
	}
}

// TestHTTPTimeouts: with --read-timeout and --idle-timeout of 1s, a client
// that drips its request body is disconnected, and so is an idle
// keep-alive connection; an SSE stream and a WebSocket, which read no
// body, outlive both and receive events published well after them.
func TestHTTPTimeouts(t *testing.T) {
	const timeout = time.Second
	srv := &proc{proctest.StartRewind(t, "rewind", "DATA_DIR="+t.TempDir(), "READ_TIMEOUT=1s", "IDLE_TIMEOUT=1s")}

	sub := wstest.Dial(t, srv.graphqlURL(), wstest.TransportWS, nil)
	sub.Init()
	sub.Subscribe("1", wstest.EventsQuery, map[string]any{"topics": []string{"timeouts"}})
	req, _ := http.NewRequest(http.MethodGet, srv.graphqlURL()+`?query=subscription{events(topics:["timeouts"]){id}}`, nil)
	req.Header.Set("Accept", "text/event-stream")
	sse, err := http.DefaultClient.Do(req)
	if err != nil || sse.StatusCode != 200 {
		t.Fatalf("SSE: %v %v", sse, err)
	}
	defer sse.Body.Close()
	sseIDs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(sse.Body)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				sseIDs <- id
			}
		}
		close(sseIDs)
	}()
	opened := time.Now()

	// Headers, then one body byte every 100ms of a body that would take
	// 100s: the read timeout ends it.
	slow, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := slow.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	awaitClose(t, "a body sent one byte at a time", slow, 15*time.Second)
	stop()

	// A keep-alive connection with one request answered, then nothing.
	idle, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("/healthz on a keep-alive connection: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	awaitClose(t, "an idle keep-alive connection", idle, 15*time.Second)

	// The streams are still served, several timeouts after they opened.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for n := 0; n == 0 || time.Since(opened) < 3*timeout; n++ {
		<-tick.C
		ev := srv.publish(t, "timeouts", n)
		if got := sub.Collect("1", "events", 1, 10*time.Second); got[0].ID != ev.ID {
			t.Fatalf("WebSocket got %s, want %s", got[0].ID, ev.ID)
		}
		select {
		case id, ok := <-sseIDs:
			if !ok || id != ev.ID {
				t.Fatalf("SSE stream %v after %v: got %q, want %s", ok, time.Since(opened), id, ev.ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("SSE stream: no event %s", ev.ID)
		}
	}
}

// TestHealthcheck: `server healthcheck` exits 0 while /readyz answers 200,
// finding the port in $ADDR as compose gives it, and 1 when nothing
// answers or the flags are wrong.
func TestHealthcheck(t *testing.T) {
	srv := startServer(t, t.TempDir())
	_, port, _ := net.SplitHostPort(srv.Addr)
	var out, errOut strings.Builder
	if code := healthcheck(context.Background(), []string{"--url", "http://" + srv.Addr + "/readyz"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `"ready"`) {
		t.Errorf("healthcheck --url: %d %s %s", code, out.String(), errOut.String())
	}
	if code, out := runToExit(t, time.Minute, []string{"healthcheck"}, "ADDR=:"+port); code != 0 {
		t.Errorf("server healthcheck with ADDR=:%s: exit %d\n%s", port, code, out)
	}
	free := proctest.FreeAddr(t)
	if code, out := runToExit(t, time.Minute, []string{"healthcheck"}, "ADDR="+free.String()); code != 1 || !strings.Contains(out, "connection refused") {
		t.Errorf("healthcheck with no server: exit %d\n%s", code, out)
	}
	if code := healthcheck(context.Background(), []string{"--url", "ftp://x"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("healthcheck --url ftp://x: %d", code)
	}
	t.Setenv("ADDR", "")
	_ = os.Unsetenv("ADDR")
	if target, _, err := parseHealthcheck(nil); err != nil || target != "http://127.0.0.1:8080/readyz" {
		t.Errorf("default URL %q, %v", target, err)
	}
}
