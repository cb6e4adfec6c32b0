package clienttest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/client"
	"github.com/rewind-dev/rewind/internal/proctest"
)

// TestSubscribeAcrossRestarts runs the server as a process, publishes
// while it is killed with SIGKILL (the client sees 1006), restarted, shut
// down with SIGTERM (1001) and restarted again, and checks that the
// subscriber received exactly the stored events, in stream order.
func TestSubscribeAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and restarts the server")
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := []string{"DATA_DIR=" + dir, "ADDR=" + addr}
	srv := proctest.StartRewind(t, "rewind", env...)

	var mu sync.Mutex
	retries := 0
	c, err := client.New(client.Config{
		URL: "http://" + addr + "/graphql", MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		OnRetry: func(error, time.Duration) { mu.Lock(); retries++; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	col := collect(ctx, c, client.Request{Topics: []string{"jobs.>"}, After: client.Zero})

	// The publisher retries each event under its idempotency key until the
	// server acknowledges it, so each is stored once whatever happens.
	const total = 150
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range total {
			for ctx.Err() == nil {
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := c.Publish(pctx, fmt.Sprintf("jobs.%d", i%3), map[string]int{"n": i}, client.WithIdempotencyKey(fmt.Sprintf("job-%d", i)))
				pcancel()
				if err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()

	col.wait(t, 30)
	srv.Kill9(t)
	srv = proctest.StartRewind(t, "rewind (after SIGKILL)", env...)
	col.wait(t, 80)
	srv.Stop(t, 15*time.Second)
	srv = proctest.StartRewind(t, "rewind (after SIGTERM)", env...)
	<-published
	col.wait(t, total)

	// What is stored, in stream order, is what the subscriber must have.
	var stored []string
	after := ""
	for {
		var page struct {
			Events struct {
				Edges    []struct{ Cursor string }
				PageInfo struct{ HasNextPage bool }
			}
		}
		vars := map[string]any{"after": nil}
		if after != "" {
			vars["after"] = after
		}
		if err := c.Do(ctx, `query($after: ID) { events(topic: "jobs.>", first: 1000, after: $after) { edges { cursor } pageInfo { hasNextPage } } }`, vars, &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events.Edges {
			stored = append(stored, e.Cursor)
			after = e.Cursor
		}
		if !page.Events.PageInfo.HasNextPage {
			break
		}
	}
	if len(stored) != total {
		t.Fatalf("%d events stored, want %d", len(stored), total)
	}
	got := col.ids()
	if !slices.Equal(got, stored) {
		t.Fatalf("received %d events, stored %d; first difference at %d", len(got), len(stored), firstDiff(got, stored))
	}
	mu.Lock()
	t.Logf("%d events received exactly once across SIGKILL and SIGTERM, %d reconnection attempts", len(got), retries)
	mu.Unlock()
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
