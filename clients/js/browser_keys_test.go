package rewindjs_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewind-dev/rewind/internal/browsertest"
)

// TestBrowserSharedSubscriptions: in headless Chromium, a page of six
// components on one Rewind client (test/browser/twins.js) follows while
// events are published, the server is killed with SIGKILL and restarted
// twice, and the page is reloaded. Two components with the same
// subscription (A, B) each process every event exactly once, in order, on
// one upstream subscription; so do the same subscription through Apollo
// Client (C) and urql (D); and two operations that share a name and
// variables, their topics written inline (E, F), each process exactly the
// events of its own topic: neither resumed from the other's cursor.
func TestBrowserSharedSubscriptions(t *testing.T) {
	site := testPages(t)
	srv := startRestartable(t, "ALLOWED_ORIGINS="+site.URL)
	topic := fmt.Sprintf("twins%d", time.Now().UnixNano())
	want := map[string][]string{}
	add := func(e published) {
		for _, c := range []string{"A", "B", "C", "D"} {
			want[c] = append(want[c], e.id)
		}
		if sub := map[int]string{0: "E", 1: "F"}[e.n%3]; sub != "" {
			want[sub] = append(want[sub], e.id)
		}
	}
	for n := range 5 {
		add(published{n: n, id: publish(t, srv.URL(), topic, n)})
	}
	ctx := browsertest.Open(t, 3*time.Minute)
	page := fmt.Sprintf("%s/twins.html?server=%s&topics=%s.>", site.URL, srv.URL(), topic)
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	waitLists(t, ctx, want)

	// E is ahead of F whenever an event of E's topic was the last: after
	// the reload, F resumes from its own cursor, not from E's.
	pub := publishPaced(t, srv, topic, 5, 45)
	acked := func(n int) {
		for len(want["A"]) < n {
			add(pub.next(t))
		}
	}
	acked(15)
	srv.kill9AndRestart()
	acked(25)
	waitLists(t, ctx, want)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	acked(35)
	srv.kill9AndRestart()
	acked(50)
	got := waitLists(t, ctx, want)
	for c, ids := range want {
		if !slices.Equal(got.Lists[c], ids) {
			t.Errorf("component %s processed\n%v\nwant every event of its subscription once, in order:\n%v", c, got.Lists[c], ids)
		}
	}
	if len(got.Errors) > 0 || got.Loads != 2 {
		t.Fatalf("errors %v, loads %d: want no error over 2 loads", got.Errors, got.Loads)
	}
	// Five upstream subscriptions on the page's WebSocket: A and B share one.
	waitSubscriptions(t, srv, 5)
}

// waitLists waits until each component of the page has processed at least
// as many events as want lists for it.
func waitLists(t *testing.T, ctx context.Context, want map[string][]string) pageState {
	t.Helper()
	var s pageState
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		s, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](`window.rewindState ? window.rewindState() : {lists: {}}`))
		done := err == nil
		for c, ids := range want {
			done = done && len(s.Lists[c]) >= len(ids)
		}
		if done {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page's components processed %v (%v), want at least the counts of %v", s.Lists, err, want)
		}
		time.Sleep(50 * time.Millisecond) // polling the page
	}
}

var wsSubscriptions = regexp.MustCompile(`(?m)^rewind_subscriptions\{protocol="graphql-transport-ws"\} (\d+)$`)

// waitSubscriptions waits until the server runs n subscriptions over
// graphql-transport-ws (its metrics), and fails if it settles on another
// count.
func waitSubscriptions(t *testing.T, srv *restartable, n int) {
	t.Helper()
	url := strings.TrimSuffix(srv.URL(), "/graphql") + "/metrics"
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := wsSubscriptions.FindSubmatch(body); m != nil {
				last = string(m[1])
				if last == fmt.Sprint(n) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server runs %s subscriptions over graphql-transport-ws (%v), want %d", last, err, n)
		}
		time.Sleep(100 * time.Millisecond) // polling the server's metrics
	}
}

// expiredPage is what test/browser/expired.js reports.
type expiredPage struct {
	State  pageState
	Resets []string
}

// TestBrowserCursorErrors runs clients/js/README.md's snippets for a
// CursorError, one per integration, in headless Chromium: a page processes
// an event and is closed; the server, which keeps 2 events per topic,
// then removes that event as two more arrive; reopened, the page's cursor
// has expired, and the snippet resets it, clears the page's state and
// starts again from the last events: the page ends with exactly those.
func TestBrowserCursorErrors(t *testing.T) {
	site := testPages(t)
	srv := startRestartable(t, "ALLOWED_ORIGINS="+site.URL, "KEEP_PER_TOPIC=2")
	for _, lib := range []string{"plain", "apollo", "urql"} {
		t.Run(lib, func(t *testing.T) {
			topic := fmt.Sprintf("expired%s%d", lib, time.Now().UnixNano())
			first := publish(t, srv.URL(), topic, 0) // on <topic>.0, as every event here
			ctx := browsertest.Open(t, 2*time.Minute)
			page := fmt.Sprintf("%s/expired.html?lib=%s&server=%s&topics=%s.0", site.URL, lib, srv.URL(), topic)
			if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
				t.Fatalf("open %s: %v", page, err)
			}
			if got := waitReceived(t, ctx, 1); !slices.Equal(got.Received, []string{first}) {
				t.Fatalf("the page processed %v, want %v", got.Received, first)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
				t.Fatal(err)
			}
			// Events after the page's cursor are removed: it cannot resume.
			publish(t, srv.URL(), topic, 3)
			want := []string{publish(t, srv.URL(), topic, 6), publish(t, srv.URL(), topic, 9)}
			// A restart empties the server's window of recent events, from
			// which a last: N replay also serves events that per-topic
			// retention has removed from the stream.
			srv.kill9AndRestart()
			if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
				t.Fatalf("reopen %s: %v", page, err)
			}
			// The page has reset its cursor and processed the last events.
			deadline := time.Now().Add(30 * time.Second)
			for {
				got, err := chromedp.Run(ctx, chromedp.Evaluate[expiredPage](`({ state: window.rewindState(), resets: window.resets() })`))
				if err == nil && slices.Equal(got.State.Received, want) && len(got.Resets) == 1 && len(got.State.Errors) == 0 && got.State.Loads == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the page processed %v after resetting %v (errors %v, loads %d, %v); want %v after one reset, no error, 2 loads",
						got.State.Received, got.Resets, got.State.Errors, got.State.Loads, err, want)
				}
				time.Sleep(50 * time.Millisecond) // polling the page
			}
		})
	}
}
