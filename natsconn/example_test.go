package natsconn_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/rewind-dev/rewind/natsconn"
)

// Settings that cannot work together are refused before connecting.
func ExampleConfig_Validate() {
	err := natsconn.Config{Token: "t"}.Validate()
	fmt.Println(err)
	// Output: NATS credentials and TLS options need --nats-url
}

// No URL: Connect starts a JetStream server embedded in the process.
func ExampleConnect() {
	dir, err := os.MkdirTemp("", "natsconn-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	var cfg natsconn.Config
	cfg.Embedded.DataDir = dir
	nc, err := natsconn.Connect(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	fmt.Println("embedded:", nc.Embedded != nil, "connected:", nc.IsConnected())
	// Output: embedded: true connected: true
}
