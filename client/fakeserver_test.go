package client_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gorilla/websocket"
)

// flakyServer is a stand-in for Rewind that speaks just enough
// graphql-transport-ws for the examples to run without a server: it holds
// events on one topic and, like a server restarted under its subscribers,
// closes each connection with 1001 (going away) after sending perConn
// events. A client that resumes after the last id it delivered therefore
// sees every event once, in order.
type flakyServer struct {
	*httptest.Server
	events  []map[string]any
	perConn int
}

func startFlakyServer(n, perConn int) *flakyServer {
	s := &flakyServer{perConn: perConn}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		s.events = append(s.events, map[string]any{
			// Ids sort in stream order, as ULIDs do, and all sort after
			// client.Zero.
			"id": fmt.Sprintf("01KDX%021d", i), "topic": "orders", "type": "message",
			"data": map[string]int{"n": i}, "time": t0.Add(time.Duration(i) * time.Second),
		})
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (s *flakyServer) serve(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{Subprotocols: []string{"graphql-transport-ws"}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	defer ws.Close()
	var m wsMessage
	if ws.ReadJSON(&m) != nil || m.Type != "connection_init" {
		return
	}
	if ws.WriteJSON(wsMessage{Type: "connection_ack"}) != nil {
		return
	}
	if ws.ReadJSON(&m) != nil || m.Type != "subscribe" {
		return
	}
	var sub struct {
		Variables struct {
			After string `json:"after"`
		} `json:"variables"`
	}
	if json.Unmarshal(m.Payload, &sub) != nil {
		return
	}
	sent := 0
	for _, ev := range s.events {
		if ev["id"].(string) <= sub.Variables.After {
			continue
		}
		payload, _ := json.Marshal(map[string]any{"data": map[string]any{"events": ev}})
		if ws.WriteJSON(wsMessage{Type: "next", ID: m.ID, Payload: payload}) != nil {
			return
		}
		if sent++; sent == s.perConn {
			_ = ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(time.Second))
			return
		}
	}
	// Nothing more to send: hold the connection until the client leaves.
	for ws.ReadJSON(&m) == nil {
	}
}
