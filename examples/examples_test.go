// Package examples tests the client examples against a real server.
package examples

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/wstest"
)

// nodeClient runs resume.mjs and collects what it prints.
type nodeClient struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	ids  []string
	conn int
	news chan struct{} // signalled on every line
	done chan error
	out  strings.Builder
}

func runNode(t *testing.T, env []string, args ...string) *nodeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c := &nodeClient{news: make(chan struct{}, 1000), done: make(chan error, 1)}
	c.cmd = exec.CommandContext(ctx, "node", append([]string{"js/resume.mjs"}, args...)...)
	c.cmd.Env = append(os.Environ(), env...)
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = &syncWriter{b: &c.out, mu: &c.mu}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var line struct {
				ID         string
				Connecting int
			}
			_ = json.Unmarshal(sc.Bytes(), &line)
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			if line.ID != "" {
				c.ids = append(c.ids, line.ID)
			}
			if line.Connecting > 0 {
				c.conn = line.Connecting
			}
			c.mu.Unlock()
			c.news <- struct{}{}
		}
		c.done <- c.cmd.Wait()
	}()
	return c
}

type syncWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (c *nodeClient) waitIDs(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.ids)
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-c.news:
		case <-timeout:
			t.Fatalf("the node client printed %d of %d events:\n%s", got, n, c.output())
		}
	}
}

func (c *nodeClient) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func publish(t *testing.T, url, topic string, n int) string {
	t.Helper()
	c := wstest.Dial(t, url, wstest.TransportWS, nil)
	c.Init()
	c.Subscribe("p", `mutation($t: String!, $d: JSON!) { publish(topic: $t, data: $d) { id } }`, map[string]any{"t": topic, "d": n})
	m := c.Read(10 * time.Second)
	var r struct {
		Data struct{ Publish struct{ ID string } }
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil || r.Data.Publish.ID == "" {
		t.Fatalf("publish: %s %s", m.Type, m.Payload)
	}
	return r.Data.Publish.ID
}

// TestGraphQLWSClientResumes: the graphql-ws npm client, with a cursor
// kept in its subscribe payload, reconnects after the server is killed
// (1006) and after it shuts down (1001), and resumes with every event once.
func TestGraphQLWSClientResumes(t *testing.T) {
	proctest.NPMInstall(t, "js")
	dataDir, addr := t.TempDir(), proctest.FreeAddr(t).String()
	env := []string{"DATA_DIR=" + dataDir, "ADDR=" + addr}
	srv := proctest.StartRewind(t, "rewind", env...)
	var want []string
	for i := range 3 {
		want = append(want, publish(t, srv.URL(), "orders", i))
	}
	client := runNode(t, nil, srv.URL(), "orders", "9")
	client.waitIDs(t, 3)

	srv.Kill9(t) // the client sees 1006
	srv = proctest.StartRewind(t, "rewind-2", env...)
	for i := range 3 {
		want = append(want, publish(t, srv.URL(), "orders", 3+i))
	}
	client.waitIDs(t, 6)

	srv.Stop(t, 30*time.Second) // a clean shutdown closes 1001
	srv = proctest.StartRewind(t, "rewind-3", env...)
	for i := range 3 {
		want = append(want, publish(t, srv.URL(), "orders", 6+i))
	}
	select {
	case err := <-client.done:
		if err != nil {
			t.Fatalf("node client: %v\n%s", err, client.output())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("node client did not finish:\n%s", client.output())
	}
	client.mu.Lock()
	got, conns := slices.Clone(client.ids), client.conn
	client.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("node client got %v\nwant %v", got, want)
	}
	if conns < 3 {
		t.Fatalf("the client connected %d times; it should have reconnected twice", conns)
	}
	t.Logf("graphql-ws client: %d events exactly once across a SIGKILL and a shutdown, %d connections", len(got), conns)
}

// TestGraphQLWSClientStopsOnFatalClose: a close the client must not retry
// (here 1009, a message over the size limit) ends it after one attempt.
func TestGraphQLWSClientStopsOnFatalClose(t *testing.T) {
	proctest.NPMInstall(t, "js")
	srv := proctest.StartRewind(t, "rewind", "DATA_DIR="+t.TempDir(), "MAX_PAYLOAD=1024")
	client := runNode(t, []string{fmt.Sprintf("PAD_BYTES=%d", 200<<10)}, srv.URL(), "orders", "1")
	select {
	case err := <-client.done:
		var exit *exec.ExitError
		if !errorsAs(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(client.output(), `"fatal":1009`) {
			t.Fatalf("exit %v, want 2 with fatal 1009:\n%s", err, client.output())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the client kept retrying a fatal close:\n%s", client.output())
	}
	if client.conn != 1 {
		t.Fatalf("the client connected %d times after a fatal close, want 1", client.conn)
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
