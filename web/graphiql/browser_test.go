package graphiql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rewind-dev/rewind/auth/jwtauth"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/apitest"
	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/browsertest"
	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// ScreenshotPath is where TestGraphiQLInBrowser leaves its screenshot, kept
// after the test for people (and CI logs) to look at.
var screenshotPath = filepath.Join(os.TempDir(), "rewind-graphiql", "graphiql.png")

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

// streamScreenshotPath is where TestGraphiQLStreamAcrossTabs leaves a
// screenshot of the stream view, for docs/.
var streamScreenshotPath = filepath.Join(os.TempDir(), "rewind-graphiql", "stream.png")

// TestGraphiQLStreamAcrossTabs: the Follow subscription keeps running while
// another tab is open. Run Follow (two stored events), switch to Publish
// and publish there, switch back: the response pane shows the new event.
// The sidebar's Stream button is labeled and marked while a subscription
// runs, and the line under the response opens the panel, which lists all
// three oldest first, the stored ones marked replayed and the new one
// live, each with its data on one line that expands to the whole of it.
// "Resume from here" on the first event restarts the subscription after
// it, and the list says so.
func TestGraphiQLStreamAcrossTabs(t *testing.T) {
	srv := serve(t, api.Config{})
	first := srv.publish(t, `{"id":1,"total":9.5}`)
	second := srv.publish(t, `{"id":2,"total":12}`)
	b := openBrowser(t)
	defer b.saveScreenshot(t, "")
	b.open(t, srv.url)
	b.run(t)
	b.waitFor(t, "the second stored event", second)

	b.tab(t, "Publish")
	b.run(t)
	published := b.waitForPublished(t)
	b.tab(t, "Follow")
	b.waitFor(t, "the event published from the Publish tab", published)

	label, err := chromedp.Run(b.ctx, chromedp.Evaluate[streamButton](
		`(b => ({Text: b.innerText.trim(), Running: b.querySelector('.rewind-stream-icon').dataset.running}))(document.querySelector('.graphiql-sidebar button[aria-label="Show Stream"]'))`))
	if err != nil || label != (streamButton{Text: "Stream", Running: "true"}) {
		t.Errorf("the sidebar's Stream button shows %+v (%v), want its label and the running mark", label, err)
	}
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`.rewind-stream-footer .rewind-stream-open`))); err != nil {
		t.Fatalf("open the stream view from the line under the response: %v", err)
	}
	rows := b.streamRows(t, 3)
	const data = `{"id":1,"total":9.5}` // the Publish tab's
	want := []streamRow{{N: 1, ID: first, Live: "false", Data: `{"id":1,"total":9.5}`}, {N: 2, ID: second, Live: "false", Data: `{"id":2,"total":12}`}, {N: 3, ID: published, Live: "true", Data: data}}
	if !slices.Equal(rows, want) {
		t.Fatalf("the stream view lists %+v, want %+v", rows, want)
	}
	// A row's data expands to the whole of it, indented.
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`.rewind-event[data-id="`+second+`"] .rewind-event-data summary`))); err != nil {
		t.Fatalf("expand the data: %v", err)
	}
	expanded, err := chromedp.Run(b.ctx, chromedp.Poll[string](`document.querySelector('.rewind-event[data-id="`+second+`"] .rewind-event-data pre')?.innerText`, chromedp.WithPollingTimeout(5*time.Second)))
	if want := "{\n  \"id\": 2,\n  \"total\": 12\n}"; err != nil || expanded != want {
		t.Errorf("the expanded data reads %q (%v), want %q", expanded, err, want)
	}
	if b.screenshot, err = chromedp.Run(b.ctx, chromedp.CaptureScreenshot()); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(streamScreenshotPath), 0o755); err == nil && os.WriteFile(streamScreenshotPath, b.screenshot, 0o644) == nil {
		t.Logf("stream view screenshot: %s", streamScreenshotPath)
	}

	// Resume after the first event: the list starts again with the two after it.
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`.rewind-event[data-id="`+first+`"] .rewind-resume`))); err != nil {
		t.Fatalf("resume from here: %v", err)
	}
	rows = b.streamRows(t, 2)
	if len(rows) != 2 || rows[0].ID != second || rows[1].ID != published {
		t.Fatalf("after resuming from %s the stream view lists %+v, want %s then %s", first, rows, second, published)
	}
	if list := b.streamList(t); len(list) != 3 || list[0] != (listItem{Kind: "resume", Text: "resumed after " + first}) {
		t.Errorf("after resuming the list is %+v, want a resume mark first", list)
	}

	// GraphiQL's stop button still stops it.
	b.run(t)
	b.waitStatus(t, "stopped")
}

// TestGraphiQLStreamResumesAfterRestart: a subscription in GraphiQL rides
// out a server killed with SIGKILL and restarted: the stream resumes after
// the last event it received, the list marks where the connection was
// lost and where it resumed, and the event published after the restart is
// listed once, after the others.
func TestGraphiQLStreamResumesAfterRestart(t *testing.T) {
	dir, addr := t.TempDir(), proctest.FreeAddr(t).String()
	env := []string{"DATA_DIR=" + dir, "ADDR=" + addr}
	srv := proctest.StartRewind(t, "rewind", env...)
	first := publishTo(t, srv.URL(), 1)
	b := openBrowser(t)
	defer b.saveScreenshot(t, "")
	b.open(t, "http://"+addr)
	b.run(t)
	b.waitFor(t, "the stored event", first)
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`.graphiql-sidebar button[aria-label="Show Stream"]`))); err != nil {
		t.Fatalf("open the stream view: %v", err)
	}
	b.streamRows(t, 1)

	srv.Kill9(t)
	b.waitStatus(t, "reconnecting")
	srv = proctest.StartRewind(t, "rewind-2", env...)
	second := publishTo(t, srv.URL(), 2)
	rows := b.streamRows(t, 2)
	// The second event is replayed or live depending on whether the stream
	// resubscribed before or after it was published; either way, once.
	if rows[0].ID != first || rows[1].ID != second || rows[1].Live == "undefined" {
		t.Fatalf("after the restart the stream view lists %+v, want %s then %s, marked", rows, first, second)
	}
	b.waitStatus(t, "live")
	// First event, the loss, the resume after the first event, the second
	// event (a connection refused while the server started, or a first
	// attempt it answered UNAVAILABLE, may add a pair of marks between).
	list := b.streamList(t)
	if len(list) < 4 || list[0].ID != first || list[1].Kind != "reconnect" || !strings.HasPrefix(list[1].Text, "connection lost") ||
		list[len(list)-2] != (listItem{Kind: "resumed", Text: "reconnected: resuming after " + first}) || list[len(list)-1].ID != second {
		t.Fatalf("the list around the restart is %+v, want the first event, a reconnect mark, a resumed mark naming it, the second event", list)
	}
}

// TestGraphiQLStreamFollowsNewest: the stream view lists events oldest
// first and keeps the newest in view as they arrive; scrolled up to read,
// it stays where it is and offers a way back down to the newest.
func TestGraphiQLStreamFollowsNewest(t *testing.T) {
	srv := serve(t, api.Config{})
	var stored []string
	for i := range 40 {
		stored = append(stored, srv.publish(t, fmt.Sprintf(`{"n":%d}`, i)))
	}
	b := openBrowser(t)
	defer b.saveScreenshot(t, "")
	b.open(t, srv.url)
	b.run(t)
	b.waitFor(t, "the last stored event", stored[39])
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`.graphiql-sidebar button[aria-label="Show Stream"]`))); err != nil {
		t.Fatalf("open the stream view: %v", err)
	}
	rows := b.streamRows(t, 40)
	for i, r := range rows {
		if r.N != i+1 || r.ID != stored[i] {
			t.Fatalf("row %d is %+v, want number %d, %s: oldest first", i, r, i+1, stored[i])
		}
	}
	b.waitScroll(t, "at the newest", `s.scrollHeight > s.clientHeight && s.scrollHeight - s.scrollTop - s.clientHeight < 8`)

	// Scrolled up, a new event leaves the view where it is.
	if err := chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('.rewind-stream-events').scrollTop = 0`)); err != nil {
		t.Fatal(err)
	}
	b.waitScroll(t, "offering the newest", `s.scrollTop === 0 && document.querySelector('.rewind-stream-newest') !== null`)
	live := srv.publish(t, `{"n":40}`)
	if rows := b.streamRows(t, 41); rows[40].ID != live || rows[40].Live != "true" {
		t.Fatalf("the last row is %+v, want %s live", rows[40], live)
	}
	b.waitScroll(t, "still at the top", `s.scrollTop === 0`)
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`.rewind-stream-newest`))); err != nil {
		t.Fatal(err)
	}
	b.waitScroll(t, "back at the newest", `s.scrollHeight - s.scrollTop - s.clientHeight < 8 && document.querySelector('.rewind-stream-newest') === null`)
	live = srv.publish(t, `{"n":41}`)
	b.streamRows(t, 42)
	b.waitScroll(t, "following the newest again", `s.scrollHeight - s.scrollTop - s.clientHeight < 8 && document.querySelector('.rewind-event:last-child')?.dataset.id === '`+live+`'`)
}

// TestGraphiQLTabsFollowSchema: on a server whose --schema declares other
// topics than orders.*, Rewind's example tabs use the declared ones, and
// work there: Publish appends on a topic the declared pattern matches,
// which Follow receives.
func TestGraphiQLTabsFollowSchema(t *testing.T) {
	events, err := eventschema.Parse(&ast.Source{Name: "payments.graphqls", Input: `type PaymentTaken @event(topics: "payments.*", type: "taken") { amount: Float! }`})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, api.Config{Events: events})
	b := openBrowser(t)
	defer b.saveScreenshot(t, "")
	b.open(t, srv.url)
	if q := b.queryText(); !strings.Contains(q, `topics: ["payments.*"]`) || strings.Contains(q, "orders") {
		t.Errorf("the Follow tab on a server declaring payments.*:\n%s", q)
	}
	b.tab(t, "Publish")
	if q := b.queryText(); !strings.Contains(q, `topic: "payments.example"`) || strings.Contains(q, "orders") {
		t.Errorf("the Publish tab on a server declaring payments.*:\n%s", q)
	}
	b.run(t)
	published := b.waitForPublished(t)
	b.tab(t, "Follow")
	b.run(t)
	b.waitFor(t, "the event published from the Publish tab", published)
}

// streamButton is the sidebar's Stream button as a person sees it.
type streamButton struct{ Text, Running string }

// listItem is one row of the stream view: an event (ID set) or a mark.
type listItem struct{ Kind, ID, Text string }

// streamList returns the stream view's rows, events and marks, in order.
func (b *browser) streamList(t *testing.T) []listItem {
	t.Helper()
	items, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]listItem](
		`[...document.querySelectorAll('.rewind-stream-events > li')].map(e => e.classList.contains('rewind-event') ? {Kind: 'event', ID: e.dataset.id, Text: ''} : {Kind: e.dataset.kind, ID: '', Text: e.innerText.trim()})`))
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// waitScroll waits until cond, an expression on s (the stream view's list), holds.
func (b *browser) waitScroll(t *testing.T, what, cond string) {
	t.Helper()
	err := chromedp.Do(b.ctx, chromedp.Poll[chromedp.Void](`(s => s && (`+cond+`))(document.querySelector('.rewind-stream-events'))`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		pos, _ := chromedp.Run(b.ctx, chromedp.Evaluate[[]int](`(s => [s.scrollTop, s.clientHeight, s.scrollHeight])(document.querySelector('.rewind-stream-events'))`))
		t.Fatalf("the stream view is not %s: %v (scrollTop, clientHeight, scrollHeight: %v)", what, err, pos)
	}
}

// queryText is the active tab's operation as the editor shows it.
func (b *browser) queryText() string {
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector('.graphiql-query-editor .view-lines') || {}).innerText || ''`))
	return strings.ReplaceAll(text, "\u00a0", " ") // Monaco renders spaces as U+00A0
}

// publishTo publishes on orders.eu through the server's HTTP API.
func publishTo(t *testing.T, url string, n int) string {
	t.Helper()
	body := fmt.Sprintf(`{"query":"mutation { publish(topic: \"orders.eu\", data: %d) { id } }"}`, n)
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct{ Publish struct{ ID string } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Data.Publish.ID == "" {
		t.Fatalf("publish: HTTP %d %v", resp.StatusCode, err)
	}
	return r.Data.Publish.ID
}

// waitStatus waits until the stream view's stream has status.
func (b *browser) waitStatus(t *testing.T, status string) {
	t.Helper()
	err := chromedp.Do(b.ctx, chromedp.Poll[chromedp.Void](`document.querySelector('.rewind-stream')?.dataset.status === '`+status+`'`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		st, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector('.rewind-stream') || document.body).innerText`))
		t.Fatalf("the stream never became %s: %v\n%s", status, err, st)
	}
}

// tab opens the tab titled title.
func (b *browser) tab(t *testing.T, title string) {
	t.Helper()
	err := chromedp.Do(b.ctx,
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('.graphiql-tab-button')].find(e => e.innerText.trim() === '`+title+`').click()`),
		chromedp.Poll[chromedp.Void](`document.querySelector('.graphiql-tab-active')?.innerText.includes('`+title+`') && document.querySelector('.graphiql-query-editor')?.innerText.includes('`+title+`')`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("open tab %s: %v", title, err)
	}
}

// waitForPublished waits for the Publish tab's answer and returns the id.
func (b *browser) waitForPublished(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r struct {
			Data struct{ Publish struct{ ID string } }
		}
		// Monaco renders spaces as U+00A0.
		if json.Unmarshal([]byte(strings.ReplaceAll(b.results(), "\u00a0", " ")), &r) == nil && r.Data.Publish.ID != "" {
			return r.Data.Publish.ID
		}
		if time.Now().After(deadline) {
			t.Fatalf("no publish answer; the results pane shows:\n%s", b.results())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// streamRow is one event in the stream view.
type streamRow struct {
	N    int
	ID   string
	Live string // "true", "false", or "undefined" without a mark
	Data string // the collapsed preview of its data
}

// streamRows waits until the stream view lists n events and returns them
// in the order listed.
func (b *browser) streamRows(t *testing.T, n int) []streamRow {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]streamRow](`[...document.querySelectorAll('.rewind-event')].map(e => ({N: Number(e.querySelector('.rewind-event-n').innerText), ID: e.dataset.id, Live: e.dataset.live, Data: e.querySelector('.rewind-event-data summary').innerText}))`))
		if err == nil && len(rows) == n {
			return rows
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector('.rewind-stream') || document.body).innerText`))
			t.Fatalf("the stream view lists %d events (%v), want %d:\n%s", len(rows), err, n, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGraphiQLLoadsSchema: GraphiQL's introspection passes the server's
// default depth limit (the page sends it with six levels of ofType rather
// than graphql-js's nine), so the documentation explorer shows the schema.
func TestGraphiQLLoadsSchema(t *testing.T) {
	srv := serve(t, api.Config{})
	b := openBrowser(t)
	defer b.saveScreenshot(t, "")
	b.open(t, srv.url)
	err := chromedp.Do(b.ctx,
		chromedp.Click(chromedp.CSS(`.graphiql-sidebar button[aria-label="Show Documentation Explorer"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('.graphiql-doc-explorer')?.innerText.includes('Subscription')`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	if err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector('.graphiql-doc-explorer') || document.body).innerText`))
		t.Fatalf("the documentation explorer shows no schema: %v\n%s", err, text)
	}
}

// TestGraphiQLWithToken: against a server run with --auth=jwt, the token
// typed into GraphiQL's Headers tab authenticates its subscription's
// WebSocket as well as its HTTP requests.
func TestGraphiQLWithToken(t *testing.T) {
	key := authtest.NewHS256(t)
	v, err := jwtauth.New(jwtauth.Config{SecretFile: key.File})
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
	b.run(t)
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
	var scfg eventstore.Config
	if cfg.Events != nil {
		scfg.Check = cfg.Events.Check
	}
	store := testenv.StartNATS(t).Store(scfg)
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
	return &browser{ctx: browsertest.Open(t, 90*time.Second)}
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
