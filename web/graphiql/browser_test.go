package graphiql_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewind-dev/rewind/auth"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/apitest"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
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
	srv := serve(t, api.Config{})
	stored := srv.publish(t, `{"id":1,"total":9.5}`)
	b := openBrowser(t)
	defer b.saveScreenshot(t, screenshotPath)
	b.open(t, srv.url)
	b.run(t)
	b.waitFor(t, "the stored event", stored)
	live := srv.publish(t, `{"id":2,"total":42,"note":"published while GraphiQL was subscribed"}`)
	b.waitFor(t, "the live event", live)
	var err error
	if b.screenshot, err = chromedp.Run(b.ctx, chromedp.CaptureScreenshot()); err != nil {
		t.Fatalf("screenshot: %v", err)
	}

	// Everything the page loaded came from this server.
	external, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`performance.getEntriesByType('resource').map(e => e.name).filter(u => !u.startsWith(location.origin) && !u.startsWith('blob:') && !u.startsWith('data:'))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(external) > 0 {
		t.Errorf("the page loaded from elsewhere: %v", external)
	}
}

// TestGraphiQLWithToken: against a server run with --auth=jwt, the token
// typed into GraphiQL's Headers tab authenticates its subscription's
// WebSocket as well as its HTTP requests.
func TestGraphiQLWithToken(t *testing.T) {
	key := authtest.NewHS256(t)
	v, err := auth.NewVerifier(auth.JWTConfig{SecretFile: key.File})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, api.Config{Auth: v})
	stored := srv.publish(t, `{"id":1}`)
	token := key.Token(t, "explorer", authtest.Grants{Subscribe: []string{"orders.>"}}, time.Hour)
	b := openBrowser(t)
	defer b.saveScreenshot(t, "")
	b.open(t, srv.url)
	// Type the header into the Headers tab's editor. Monaco closes quotes
	// and braces as they open and types over them when they are typed.
	err = chromedp.Do(b.ctx,
		chromedp.Click(chromedp.CSS(`.graphiql-editor-tools button[data-name="headers"]`)),
		chromedp.WaitReady(chromedp.CSS(headersInput)),
		chromedp.Focus(chromedp.CSS(headersInput)),
		chromedp.KeyEvent(`{"Authorization": "Bearer `+token+`"}`),
		chromedp.Poll[chromedp.Void](`document.querySelector('`+headersEditor+`')?.innerText.includes('Bearer')`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("type the token into the Headers tab: %v", err)
	}
	b.run(t)
	b.waitFor(t, "the stored event", stored)
	live := srv.publish(t, `{"id":2}`)
	b.waitFor(t, "the live event", live)
}

// TestGraphiQLTypedTab: with a schema of typed events loaded, GraphiQL
// opens with a typed subscription tab too; run, it shows a typed event's
// data as its fragments select it.
func TestGraphiQLTypedTab(t *testing.T) {
	events, err := eventschema.Load("../../examples/schema/orders.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, api.Config{Events: events})
	stored, err := srv.store.Append(t.Context(), eventstore.Event{Topic: "orders.eu", Type: "shipped", Data: json.RawMessage(`{"orderId":"o-1","carrier":"typed-carrier"}`)})
	if err != nil {
		t.Fatal(err)
	}
	b := openBrowser(t)
	defer b.saveScreenshot(t, "")
	b.open(t, srv.url)
	err = chromedp.Do(b.ctx,
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll('.graphiql-tab')].some(t => t.innerText.includes('FollowOrderEvent'))`, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('.graphiql-tab')].find(t => t.innerText.includes('FollowOrderEvent')).querySelector('button').click()`),
		chromedp.Poll[chromedp.Void](`document.querySelector('.graphiql-tab-active')?.innerText.includes('FollowOrderEvent') && document.querySelector('.graphiql-query-editor')?.innerText.includes('orderEvent')`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("open the typed tab: %v", err)
	}
	// GraphiQL reads the new tab's operation name from its query a moment
	// after the switch (a debounced parse); run before, it asks for the
	// first tab's operation by name. Run until it asks for this one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.run(t)
		err := chromedp.Do(b.ctx, chromedp.Poll[chromedp.Void](
			`(r => r.includes('`+stored.ID.String()+`') || r.includes('operation Follow not found'))((document.querySelector('.graphiql-response') || {}).innerText || '')`,
			chromedp.WithPollingTimeout(10*time.Second)))
		if err != nil {
			t.Fatalf("no result: %v (results: %q)", err, b.results())
		}
		if !strings.Contains(b.results(), "operation Follow not found") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GraphiQL kept running the first tab's operation: %s", b.results())
		}
	}
	b.waitFor(t, "the typed event", stored.ID.String())
	if r := b.results(); !strings.Contains(r, "typed-carrier") || !strings.Contains(r, "OrderShipped") {
		t.Fatalf("the results pane lacks the typed data:\n%s", r)
	}
}

// headersEditor is the text of the Headers tab's editor (the tab's section
// also holds the hidden variables editor).
const (
	headersEditor = `section.graphiql-editor-tool .graphiql-editor:not(.hidden) .view-lines`
	headersInput  = `section.graphiql-editor-tool .graphiql-editor:not(.hidden) textarea`
)

// server is Rewind's API on loopback, with its store.
type server struct {
	url   string
	store *eventstore.Store
}

func serve(t *testing.T, cfg api.Config) server {
	t.Helper()
	store := testenv.StartNATS(t).Store(eventstore.Config{})
	return server{url: apitest.Start(t, store, cfg, replay.Config{}).URL, store: store}
}

// publish appends an event to orders.eu and returns its id.
func (s server) publish(t *testing.T, data string) string {
	t.Helper()
	ev, err := s.store.Append(t.Context(), eventstore.Event{Topic: "orders.eu", Type: "created", Data: json.RawMessage(data)})
	if err != nil {
		t.Fatal(err)
	}
	return ev.ID.String()
}

// browser is a headless Chromium tab.
type browser struct {
	ctx        context.Context
	screenshot []byte
}

func openBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromium(t)
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
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(func(f string, a ...any) {}),
		chromedp.WithErrorf(func(f string, a ...any) {}))
	t.Cleanup(bcancel)
	bctx, tcancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(tcancel)
	return &browser{ctx: bctx}
}

// open loads GraphiQL and waits until its editor shows the Follow tab.
func (b *browser) open(t *testing.T, base string) {
	t.Helper()
	err := chromedp.Do(b.ctx,
		chromedp.Navigate(base+"/graphql"),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
		// Monaco's editor is ready once the query text is rendered.
		chromedp.Poll[chromedp.Void](`document.querySelector('.graphiql-query-editor')?.innerText.includes('Follow')`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	if err != nil {
		t.Fatalf("open GraphiQL: %v (results: %q)", err, b.results())
	}
}

// run presses the execute button.
func (b *browser) run(t *testing.T) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`.graphiql-execute-button`))); err != nil {
		t.Fatalf("run the operation: %v (results: %q)", err, b.results())
	}
}

func (b *browser) results() string {
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector('.graphiql-response') || {}).innerText || ''`))
	return text
}

// waitFor waits until the results pane shows id.
func (b *browser) waitFor(t *testing.T, what, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(b.results(), id) {
		if time.Now().After(deadline) {
			t.Fatalf("%s %s never showed in the results pane; it shows:\n%s", what, id, b.results())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saveScreenshot keeps the last screenshot (or takes one) in the test's
// folder, at keep if set, and at $REWIND_SCREENSHOT if set.
func (b *browser) saveScreenshot(t *testing.T, keep string) {
	if len(b.screenshot) == 0 {
		b.screenshot, _ = chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	}
	if len(b.screenshot) == 0 {
		return
	}
	for _, p := range []string{filepath.Join(t.TempDir(), "graphiql.png"), keep, os.Getenv("REWIND_SCREENSHOT")} {
		if p == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil && os.WriteFile(p, b.screenshot, 0o644) == nil {
			t.Logf("screenshot: %s", p)
		}
	}
}
