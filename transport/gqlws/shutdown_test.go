package gqlws_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rewind-dev/rewind/internal/faultschema"
	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// TestShutdownClosesGoingAway: the server's shutdown, by Shutdown or by
// the end of its base context, closes every connection 1001 (reconnect and
// resume), idle subscriptions included, over both subprotocols; after the
// base context has ended, a new connection is closed 1001 at once.
func TestShutdownClosesGoingAway(t *testing.T) {
	for _, how := range []string{"Shutdown", "BaseContext"} {
		t.Run(how, func(t *testing.T) {
			base, cancel := context.WithCancel(context.Background())
			defer cancel()
			schema := faultschema.New()
			defer schema.Release()
			srv := &http.Server{Handler: schema.Handler(gqlws.New(gqlws.Config{})), ReadHeaderTimeout: 5 * time.Second}
			if how == "BaseContext" {
				srv.BaseContext = func(net.Listener) context.Context { return base }
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			defer srv.Close()
			url := "http://" + ln.Addr().String()

			var clients []*wstest.Client
			for _, proto := range protos {
				c := dialInit(t, url, proto, nil)
				c.Subscribe("idle", "subscription { idle }", nil)
				if m := c.Read(5 * time.Second); !wstest.IsData(m) {
					t.Fatalf("%s: got %s, want the idle subscription's result", proto, m.Type)
				}
				clients = append(clients, c, dialInit(t, url, proto, nil))
			}
			if how == "Shutdown" {
				ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
				defer stop()
				go func() { _ = srv.Shutdown(ctx) }()
			} else {
				cancel()
			}
			for _, c := range clients {
				expectClose(t, c, websocket.CloseGoingAway)
			}
			if how == "BaseContext" {
				late := wstest.Dial(t, url, wstest.TransportWS, nil)
				expectClose(t, late, websocket.CloseGoingAway)
				_ = srv.Close()
			}
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
}
