package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/rewind-dev/rewind/server"
)

// A server on a JetStream embedded in a temporary folder, on a free
// loopback port: publish one message over HTTP, then stop.
func Example() {
	dir, err := os.MkdirTemp("", "rewind-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	var cfg server.Config
	cfg.Addr = "127.0.0.1:0"
	cfg.NATS.Embedded.DataDir = dir
	srv, err := server.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		fmt.Println("start:", err)
		return
	}

	resp, err := http.Post("http://"+srv.Addr().String()+"/publish-message?message=hello", "", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var msg struct {
		ID        string    `json:"id"`
		Content   string    `json:"content"`
		Timestamp time.Time `json:"timestamp"`
	}
	err = json.NewDecoder(resp.Body).Decode(&msg)
	resp.Body.Close()
	fmt.Println(resp.Status, err)
	fmt.Printf("id: %d characters, content: %q, timestamp set: %v\n", len(msg.ID), msg.Content, !msg.Timestamp.IsZero())

	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// 200 OK <nil>
	// id: 26 characters, content: "hello", timestamp set: true
	// stopped: <nil>
}
