package rewindjs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewind-dev/rewind/internal/browsertest"
)

// pageState is what a test page reports (window.rewindState()).
type pageState struct {
	Received []string
	Lists    map[string][]string // per component, on pages of several
	Errors   []string
	Retries  int
	Loads    int
}

// TestBrowserClients: in headless Chromium, a page built from this package
// with Apollo Client (then one with urql) subscribes with no cursor code of
// its own while events are published; the server is killed with SIGKILL and
// restarted twice, and the page is reloaded between the restarts. At the
// end the page has processed every acknowledged event exactly once, in
// order: the cursor survived the restarts (memory) and the reload
// (localStorage).
func TestBrowserClients(t *testing.T) {
	site := testPages(t)
	for _, lib := range []string{"apollo", "urql"} {
		t.Run(lib, func(t *testing.T) {
			srv := startRestartable(t, "ALLOWED_ORIGINS="+site.URL)
			topic := fmt.Sprintf("%s%d", lib, time.Now().UnixNano())
			var want []string
			for i := range 5 {
				want = append(want, publish(t, srv.URL(), topic, i))
			}
			ctx := browsertest.Open(t, 3*time.Minute)
			page := fmt.Sprintf("%s/%s.html?server=%s&topics=%s.>", site.URL, lib, srv.URL(), topic)
			if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
				t.Fatalf("open %s: %v", page, err)
			}
			waitReceived(t, ctx, len(want))

			// Publish 45 more, one every 20 ms, from another goroutine, while
			// the server restarts and the page reloads.
			pub := publishPaced(t, srv, topic, 5, 45)
			acked := func(n int) {
				for len(want) < n {
					want = append(want, pub.next(t).id)
				}
			}
			acked(15)
			srv.kill9AndRestart()
			acked(25)
			waitReceived(t, ctx, 20)
			if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
				t.Fatalf("reload: %v", err)
			}
			acked(35)
			srv.kill9AndRestart()
			acked(50)
			got := waitReceived(t, ctx, len(want))
			if !slices.Equal(got.Received, want) {
				t.Fatalf("the page processed\n%v\nwant every acknowledged event once, in order:\n%v", got.Received, want)
			}
			if len(got.Errors) > 0 || got.Loads != 2 || got.Retries == 0 {
				t.Fatalf("errors %v, loads %d, retries %d: want no error, 2 loads and a retry after the last restart", got.Errors, got.Loads, got.Retries)
			}
			t.Logf("%s: %d events exactly once across 2 SIGKILL restarts and a reload (%d retries after the reload)", lib, len(got.Received), got.Retries)
		})
	}
}

// testPages builds the test pages (test/browser) and serves them on
// loopback; the servers under test allow that origin.
func testPages(t *testing.T) *httptest.Server {
	t.Helper()
	dir := prepare(t)
	pages := t.TempDir()
	build := exec.Command("node", "test/browser/build.mjs", pages)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test pages: %v\n%s", err, out)
	}
	site := httptest.NewServer(http.FileServer(http.Dir(pages)))
	t.Cleanup(site.Close)
	return site
}

// TestBrowserIndexedDBCursor: a page keeping its cursor in IndexedDB
// processes three events, is reloaded once the cursor is committed, and
// then gets only the events published after: the cursor survived the
// reload in IndexedDB.
func TestBrowserIndexedDBCursor(t *testing.T) {
	site := testPages(t)
	srv := startRestartable(t, "ALLOWED_ORIGINS="+site.URL)
	topic := fmt.Sprintf("idb%d", time.Now().UnixNano())
	var want []string
	for i := range 3 {
		want = append(want, publish(t, srv.URL(), topic, i))
	}
	ctx := browsertest.Open(t, 2*time.Minute)
	page := fmt.Sprintf("%s/idb.html?server=%s&topics=%s.>", site.URL, srv.URL(), topic)
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	waitReceived(t, ctx, 3)
	err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`window.storedCursor().then(c => c === '`+want[2]+`')`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("the cursor in IndexedDB never became %s: %v", want[2], err)
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	for i := range 2 {
		want = append(want, publish(t, srv.URL(), topic, 3+i))
	}
	got := waitReceived(t, ctx, 5)
	if !slices.Equal(got.Received, want) || got.Loads != 2 || len(got.Errors) > 0 {
		t.Fatalf("the page processed %v (loads %d, errors %v), want %v over 2 loads", got.Received, got.Loads, got.Errors, want)
	}
}

// waitReceived waits until the page has processed at least n events.
func waitReceived(t *testing.T, ctx context.Context, n int) pageState {
	t.Helper()
	var s pageState
	deadline := time.Now().Add(60 * time.Second)
	for {
		// After a reload the function exists again once the page's module ran.
		var err error
		s, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](`window.rewindState ? window.rewindState() : {received: []}`))
		if err == nil && len(s.Received) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page processed %d of %d events (%v): %+v", len(s.Received), n, err, s)
		}
		time.Sleep(50 * time.Millisecond) // polling the page
	}
}

func publish(t *testing.T, url, topic string, n int) string {
	t.Helper()
	id, err := publishOnce(context.Background(), url, topic, n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// published is one event a pacedPublisher stored: the n-th, on topic
// <topic>.<n%3>.
type published struct {
	n  int
	id string
}

// pacedPublisher publishes from a goroutine of its own while the test
// restarts the server and reloads the page.
type pacedPublisher struct {
	events chan published
	err    chan error
}

// publishPaced publishes events from..from+count-1, one every 20 ms, each
// retried with its idempotency key until the server answers.
func publishPaced(t *testing.T, srv *restartable, topic string, from, count int) *pacedPublisher {
	t.Helper()
	p := &pacedPublisher{events: make(chan published, count), err: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		defer close(p.events)
		for n := from; n < from+count; n++ {
			id, err := publishRetrying(ctx, srv, topic, n)
			if err != nil {
				p.err <- err
				return
			}
			p.events <- published{n: n, id: id}
			time.Sleep(20 * time.Millisecond) // pacing the publisher, not synchronising
		}
	}()
	return p
}

// next waits for the next event the publisher stored.
func (p *pacedPublisher) next(t *testing.T) published {
	t.Helper()
	select {
	case e, ok := <-p.events:
		if !ok {
			t.Fatalf("publisher stopped: %v", <-p.err)
		}
		return e
	case <-time.After(60 * time.Second):
		t.Fatal("publisher stuck")
		return published{}
	}
}

// publishRetrying publishes with an idempotency key until the server
// answers: a retry after a lost answer returns the stored event.
func publishRetrying(ctx context.Context, srv *restartable, topic string, n int) (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		id, err := publishOnce(ctx, srv.URL(), topic, n)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return id, err
		}
		time.Sleep(50 * time.Millisecond) // waiting out a restart
	}
}

func publishOnce(ctx context.Context, url, topic string, n int) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($t: String!, $d: JSON!, $k: String) { publish(topic: $t, data: $d, idempotencyKey: $k) { id } }`,
		"variables": map[string]any{"t": fmt.Sprintf("%s.%d", topic, n%3), "d": n, "k": fmt.Sprintf("%s-%d", topic, n)},
	})
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
			Publish struct{ ID string }
		}
		Errors []json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Data.Publish.ID == "" {
		return "", fmt.Errorf("publish: HTTP %d %v %s", resp.StatusCode, err, r.Errors)
	}
	return r.Data.Publish.ID, nil
}
