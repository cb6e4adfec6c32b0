package natsembed_test

import (
	"fmt"
	"log"
	"os"

	"github.com/rewind-dev/rewind/natsembed"
)

// Start a JetStream server whose files live in a folder, and connect to it
// in-process. Starting again on the same folder later finds the same
// streams.
func Example() {
	dir, err := os.MkdirTemp("", "natsembed-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := natsembed.Start(natsembed.Config{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()

	nc, err := srv.Connect()
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	fmt.Println("connected:", nc.IsConnected())
	// Output: connected: true
}
