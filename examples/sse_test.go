package examples

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/client"
	"github.com/rewind-dev/rewind/internal/proctest"
)

// sseFollower runs sse/follow.mjs and collects what it prints.
type sseFollower struct {
	mu        sync.Mutex
	ids       []string
	sseIDs    []string
	connected int
	out       strings.Builder
}

func (f *sseFollower) snapshot() (ids, sseIDs []string, connected int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids), slices.Clone(f.sseIDs), f.connected
}

func (f *sseFollower) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ids, _, _ := f.snapshot()
		if len(ids) >= n {
			return
		}
		if time.Now().After(deadline) {
			f.mu.Lock()
			defer f.mu.Unlock()
			t.Fatalf("the SSE client printed %d of %d events:\n%s", len(ids), n, f.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSSEResume follows events with two real SSE clients, EventSource and
// the graphql-sse client, while the server is killed with SIGKILL and
// restarted, then shut down with SIGTERM and restarted: each must print
// every event once, in order, with EventSource resuming by itself through
// Last-Event-ID.
func TestSSEResume(t *testing.T) {
	proctest.NPMInstall(t, "sse")
	for _, mode := range []string{"eventsource", "graphql-sse"} {
		t.Run(mode, func(t *testing.T) {
			dir, addr := t.TempDir(), proctest.FreeAddr(t).String()
			env := []string{"DATA_DIR=" + dir, "ADDR=" + addr}
			srv := proctest.StartRewind(t, "rewind", env...)
			c, err := client.New(client.Config{URL: srv.URL()})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			publish := func(n int) {
				t.Helper()
				for i := range n {
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					ev, err := c.Publish(ctx, "jobs", map[string]any{"n": len(want), "i": i})
					cancel()
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, ev.ID)
				}
			}
			publish(5)

			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "sse/follow.mjs", srv.URL(), mode, "jobs")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			f := &sseFollower{}
			cmd.Stderr = &lockedWriter{f: f}
			if err := cmd.Start(); err != nil {
				t.Fatalf("node: %v", err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					var line struct {
						ID        string `json:"id"`
						SSEID     string `json:"sseId"`
						Connected bool   `json:"connected"`
					}
					_ = json.Unmarshal(sc.Bytes(), &line)
					f.mu.Lock()
					f.out.WriteString(sc.Text() + "\n")
					if line.ID != "" {
						f.ids = append(f.ids, line.ID)
						f.sseIDs = append(f.sseIDs, line.SSEID)
					}
					if line.Connected {
						f.connected++
					}
					f.mu.Unlock()
				}
			}()

			f.wait(t, 5)
			srv.Kill9(t)
			srv = proctest.StartRewind(t, "rewind (after SIGKILL)", env...)
			publish(5)
			f.wait(t, 10)
			srv.Stop(t, 15*time.Second)
			srv = proctest.StartRewind(t, "rewind (after SIGTERM)", env...)
			publish(5)
			f.wait(t, 15)

			ids, sseIDs, connected := f.snapshot()
			if !slices.Equal(ids, want) {
				t.Fatalf("got %v\nwant %v", ids, want)
			}
			if mode == "eventsource" && !slices.Equal(sseIDs, want) {
				t.Fatalf("SSE ids %v, want the event ids", sseIDs)
			}
			if connected < 3 {
				t.Fatalf("%d connections, want 3 (two resumptions)", connected)
			}
			t.Logf("%s: %d events once each over %d connections", mode, len(ids), connected)
		})
	}
}

type lockedWriter struct{ f *sseFollower }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return w.f.out.Write(p)
}
