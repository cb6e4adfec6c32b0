package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/testenv"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
	"github.com/rewind-dev/rewind/transport/connlimit"
)

// transportAttacks are documents that took the server down or might:
// a Float literal out of float64's range (gqlparser panicked on it while
// gqlgen created the operation's context, on a goroutine with no
// recovery), an Int literal out of range, a list literal nested deeper
// than the parser allows.
var transportAttacks = map[string]string{
	"1e400":       `mutation { publish(topic: "x", data: 1e400) { id } }`,
	"huge Int":    `subscription { count(target: 99999999999999999999) }`,
	"deep list":   `mutation { publish(topic: "x", data: ` + strings.Repeat("[", 5000) + "1" + strings.Repeat("]", 5000) + `) { id } }`,
	"1e400 query": `{ events(topic: "t", first: 1e400) { edges { cursor } } }`,
}

// wsErrorCodes sends doc as operation id and returns the extensions.code of
// the errors it ends with; it fails the test if the operation gets data.
func wsErrorCodes(t *testing.T, c *wstest.Client, id, doc string) []string {
	t.Helper()
	c.Subscribe(id, doc, nil)
	for {
		m := c.Read(10 * time.Second)
		if m.ID != id {
			continue
		}
		switch {
		case m.Type == "error":
			return wstest.ErrorCodes(t, m)
		case wstest.IsData(m) && len(wstest.Decode(t, m).Errors) > 0:
			return wstest.ErrorCodes(t, m)
		}
		t.Fatalf("%s: got %s %s, want an error", id, m.Type, m.Payload)
	}
}

// sseErrorCodes sends doc over SSE with method and returns the
// extensions.code of the errors it gets: in the stream's next event, or
// in a JSON body for a request refused before the stream opened (a GET
// mutation, 405).
func sseErrorCodes(t *testing.T, endpoint, method, doc string) []string {
	t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		req, _ = http.NewRequestWithContext(t.Context(), method, endpoint+"?"+url.Values{"query": {doc}}.Encode(), nil)
	} else {
		b, _ := json.Marshal(map[string]any{"query": doc})
		req, _ = http.NewRequestWithContext(t.Context(), method, endpoint, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data []string
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data = append(data, d)
			}
		}
	} else {
		b, _ := io.ReadAll(resp.Body)
		data = append(data, string(b))
	}
	for _, d := range data {
		var r wstest.Result
		if err := json.Unmarshal([]byte(d), &r); err != nil {
			t.Fatalf("%s %s: status %d, %q is not JSON: %v", method, doc[:min(len(doc), 40)], resp.StatusCode, d, err)
		}
		if len(r.Errors) > 0 {
			return codes(r)
		}
	}
	t.Fatalf("%s: status %d, no error in %q", method, resp.StatusCode, data)
	return nil
}

// TestHostileDocumentsOverEveryTransport: each hostile document, over
// graphql-transport-ws, graphql-ws, SSE POST and SSE GET, gets an error
// with an extensions.code, while a subscriber on the same server receives
// every event published before, during and after the attack, in order,
// and /healthz still answers 200.
func TestHostileDocumentsOverEveryTransport(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	live := wstest.Dial(t, e.url, wstest.TransportWS, nil)
	live.Init()
	live.Subscribe("live", wstest.EventsQuery, map[string]any{"topics": []string{"t"}})
	testenv.Eventually(t, 5*time.Second, "the live subscriber", func() bool { return e.hub.Subscribers() == 1 })

	// Events go out all along the attack.
	var published []string
	var publishErr error
	stop := make(chan struct{})
	publisher := make(chan struct{})
	go func() {
		defer close(publisher)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := publishID(e, i) // on topic t; fatal only on the test's goroutine
			if len(id) != 26 {
				publishErr = fmt.Errorf("publish %d: %s", i, id)
				return
			}
			published = append(published, id)
		}
	}()

	ws := map[string]*wstest.Client{}
	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		ws[proto] = wstest.Dial(t, e.url, proto, nil)
		ws[proto].Init()
	}
	for name, doc := range transportAttacks {
		for _, transport := range []string{wstest.TransportWS, wstest.LegacyWS, "SSE POST", "SSE GET"} {
			var got []string
			switch transport {
			case "SSE POST":
				got = sseErrorCodes(t, e.url, http.MethodPost, doc)
			case "SSE GET":
				got = sseErrorCodes(t, e.url, http.MethodGet, doc)
			default:
				got = wsErrorCodes(t, ws[transport], name, doc)
			}
			if len(got) == 0 || slices.Contains(got, "") {
				t.Errorf("%s over %s: error codes %q, want each error coded", name, transport, got)
			}
			t.Logf("%s over %s: %v", name, transport, got)
		}
	}
	// The attacked sockets still serve.
	for proto, c := range ws {
		c.Subscribe("after", `{ hello }`, nil)
		if m := c.Read(5 * time.Second); !wstest.IsData(m) {
			t.Fatalf("%s after the attack: %s %s", proto, m.Type, m.Payload)
		}
	}
	close(stop)
	<-publisher
	if publishErr != nil {
		t.Fatalf("publishing during the attack: %v", publishErr)
	}
	for i := range 5 {
		published = append(published, e.publish(t, "t", map[string]any{"after": i}).ID)
	}
	if got := idsOf(live.Collect("live", "events", len(published), 30*time.Second)); !slices.Equal(got, published) {
		t.Fatalf("the live subscriber got %d events, not the %d published in order", len(got), len(published))
	}
	if code, body := getStatus(t, e.base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz after the attack: %d %s", code, body)
	}
	t.Logf("the live subscriber received all %d events published around the attack", len(published))
}

// TestConnectionLimitSharedBySSE: WebSockets and SSE streams from one
// address count against one limit: with 5 per address, 3 sockets and 2
// streams fill it, the next of either kind is refused with 429 and a
// TOO_MANY_CONNECTIONS error, and a stream that ends frees its place.
func TestConnectionLimitSharedBySSE(t *testing.T) {
	e := start(t, api.Config{Connections: connlimit.Config{PerAddress: 5}}, replay.Config{})
	for range 3 {
		wstest.Dial(t, e.url, wstest.TransportWS, nil).Init()
	}
	streams := make([]*sseStream, 2)
	for i := range streams {
		streams[i] = openSSE(t, t.Context(), http.MethodGet, e.url, nil, liveQuery, nil)
		if streams[i].resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i, streams[i].resp.StatusCode)
		}
	}
	testenv.Eventually(t, 5*time.Second, "two SSE subscribers", func() bool { return e.hub.Subscribers() == 2 })
	refusedCode := func(resp *http.Response) string {
		t.Helper()
		defer resp.Body.Close()
		var r wstest.Result
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusTooManyRequests || len(r.Errors) != 1 {
			t.Fatalf("refusal: %d %+v %v", resp.StatusCode, r, err)
		}
		return codes(r)[0]
	}
	_, resp, err := wsDial(e.url)
	if err == nil {
		t.Fatal("a sixth connection (WebSocket) was accepted")
	}
	if code := refusedCode(resp); code != "TOO_MANY_CONNECTIONS" {
		t.Fatalf("WebSocket refusal code %s", code)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url+"?"+url.Values{"query": {liveQuery}}.Encode(), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if code := refusedCode(resp); code != "TOO_MANY_CONNECTIONS" {
		t.Fatalf("SSE refusal code %s", code)
	}
	// A stream that ends gives its place back.
	streams[0].resp.Body.Close()
	testenv.Eventually(t, 5*time.Second, "the stream's place freed", func() bool {
		c, _, err := wsDial(e.url)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// wsDial opens a WebSocket and returns the handshake's response, which
// carries the body of a refusal.
func wsDial(endpoint string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: []string{wstest.TransportWS}, HandshakeTimeout: 5 * time.Second}
	return d.Dial("ws"+strings.TrimPrefix(endpoint, "http"), nil)
}
