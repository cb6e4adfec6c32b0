package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/replay"
	api "github.com/rewind-dev/rewind/server"
)

// TestInvalidUTF8Stored: data holding bytes that are not UTF-8 is refused
// on every transport and nothing is stored; before, JSON decoding turned
// them into U+FFFD and the event was stored other than it was sent.
func TestInvalidUTF8Stored(t *testing.T) {
	e := start(t, api.Config{}, replay.Config{})
	mutation := "mutation { publish(topic: \\\"t\\\", data: \\\"a\xffb\\\") { id } }"

	resp, err := http.Post(e.url, "application/json", strings.NewReader(`{"query":"`+mutation+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var r gqlResponse
	decodeBody(t, resp, &r)
	if resp.StatusCode != http.StatusBadRequest || !slices.Equal(codes(r), []string{"BAD_USER_INPUT"}) {
		t.Errorf("POST: %d %v", resp.StatusCode, codes(r))
	}

	get := e.url + "?query=" + url.QueryEscape("mutation { publish(topic: \"t\", data: \"a\xffb\") { id } }")
	resp, err = http.Get(get)
	if err != nil {
		t.Fatal(err)
	}
	decodeBody(t, resp, &r)
	if resp.StatusCode != http.StatusBadRequest || !slices.Equal(codes(r), []string{"BAD_USER_INPUT"}) {
		t.Errorf("GET: %d %v", resp.StatusCode, codes(r))
	}

	resp, err = http.Post(e.base+"/publish-message?message="+url.QueryEscape("a\xffb"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/publish-message: %d, want 400", resp.StatusCode)
	}

	for _, proto := range []string{wstest.TransportWS, wstest.LegacyWS} {
		c := wstest.Dial(t, e.url, proto, nil)
		c.Init()
		frame := `{"id":"1","type":"` + map[string]string{wstest.TransportWS: "subscribe", wstest.LegacyWS: "start"}[proto] +
			`","payload":{"query":"` + mutation + `"}}`
		if err := c.Conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if proto == wstest.TransportWS {
			expectClose(t, c, 4400, "Invalid message")
			continue
		}
		if m := c.Read(5 * time.Second); m.Type != "connection_error" {
			t.Errorf("legacy: %s, want connection_error", m.Type)
		}
	}

	if ids := e.historyIDs(t, "", "t"); len(ids) != 0 {
		t.Errorf("stored %d events from invalid UTF-8", len(ids))
	}
	if ids := e.historyIDs(t, "", "messages"); len(ids) != 0 {
		t.Errorf("stored %d messages from invalid UTF-8", len(ids))
	}
}

func decodeBody(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode (status %d): %v", resp.StatusCode, err)
	}
}
