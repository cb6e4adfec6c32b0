package graphiql_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewind-dev/rewind/api"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
)

// ScreenshotPath is where TestGraphiQLInBrowser leaves its screenshot, kept
// after the test for people (and CI logs) to look at.
var screenshotPath = filepath.Join(os.TempDir(), "rewind-graphiql", "graphiql.png")

// chromium finds Debian's Chromium (or another Chrome). In CI a missing
// browser fails the test: it must be installed there.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found: install Debian's chromium package (apt-get install -y chromium)")
	}
	t.Skip("no Chromium found (apt-get install chromium); CI runs this test")
	return ""
}

// TestGraphiQLInBrowser loads GraphiQL in headless Chromium from a server
// on loopback (nothing else is reachable), runs the Follow subscription it
// opens with, publishes an event, and waits for it in the results pane.
func TestGraphiQLInBrowser(t *testing.T) {
	bin := chromium(t)
	n := testenv.StartNATS(t)
	store := n.Store(eventstore.Config{})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := replay.NewHub(store, replay.Config{}, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	srv := httptest.NewUnstartedServer(api.New(api.Config{}, store, hub, quiet))
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() { cancel(); srv.Close(); <-done })
	<-hub.Ready()

	publish := func(data string) string {
		t.Helper()
		ev, err := store.Append(t.Context(), eventstore.Event{Topic: "orders.eu", Type: "created", Data: json.RawMessage(data)})
		if err != nil {
			t.Fatal(err)
		}
		return ev.ID.String()
	}
	stored := publish(`{"id":1,"total":9.5}`)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // Chromium refuses to run as root with its sandbox
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	var logs strings.Builder
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(func(f string, a ...any) {}),
		chromedp.WithErrorf(func(f string, a ...any) {}))
	defer bcancel()
	bctx, tcancel := context.WithTimeout(bctx, 90*time.Second)
	defer tcancel()

	var screenshot []byte
	saveScreenshot := func() {
		if len(screenshot) == 0 {
			screenshot, _ = chromedp.Run(bctx, chromedp.CaptureScreenshot())
		}
		if len(screenshot) == 0 {
			return
		}
		for _, p := range []string{filepath.Join(t.TempDir(), "graphiql.png"), screenshotPath, os.Getenv("REWIND_SCREENSHOT")} {
			if p == "" {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil && os.WriteFile(p, screenshot, 0o644) == nil {
				t.Logf("screenshot: %s", p)
			}
		}
	}
	defer saveScreenshot()

	results := func() string {
		text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.querySelector('.graphiql-response') || {}).innerText || ''`))
		return text
	}
	err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/graphql"),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
		// Monaco's editor is ready once the query text is rendered.
		chromedp.Poll[chromedp.Void](`document.querySelector('.graphiql-query-editor')?.innerText.includes('Follow')`, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)),
	)
	if err != nil {
		t.Fatalf("open GraphiQL and run the subscription: %v (results: %q)%s", err, results(), logs.String())
	}
	waitFor := func(what, id string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(results(), id) {
			if time.Now().After(deadline) {
				t.Fatalf("%s %s never showed in the results pane; it shows:\n%s", what, id, results())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the stored event", stored)
	live := publish(`{"id":2,"total":42,"note":"published while GraphiQL was subscribed"}`)
	waitFor("the live event", live)
	var err2 error
	if screenshot, err2 = chromedp.Run(bctx, chromedp.CaptureScreenshot()); err2 != nil {
		t.Fatalf("screenshot: %v", err2)
	}

	// Everything the page loaded came from this server.
	external, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](
		`performance.getEntriesByType('resource').map(e => e.name).filter(u => !u.startsWith(location.origin) && !u.startsWith('blob:') && !u.startsWith('data:'))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(external) > 0 {
		t.Errorf("the page loaded from elsewhere: %v", external)
	}
}
