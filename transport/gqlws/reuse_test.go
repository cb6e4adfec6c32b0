package gqlws_test

import (
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/wstest"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// TestIDFreeOnceFinished: on graphql-transport-ws the id of an operation
// is free again as soon as the client has its complete or error message,
// so a client that reuses it at once is not closed 4409 for a duplicate.
// Run many times over: the operation used to be forgotten only after its
// last message was written, and a quick client could come in between.
func TestIDFreeOnceFinished(t *testing.T) {
	s := startFault(t, gqlws.Config{})
	c := dialInit(t, s.url, wstest.TransportWS, nil)
	for i := range 300 {
		expectOK(t, c, "q") // next, then complete
		c.Subscribe("q", `{ nope }`, nil)
		if m := c.Read(5 * time.Second); m.Type != "error" || m.ID != "q" {
			t.Fatalf("round %d, { nope }: %s %s %s", i, m.Type, m.ID, m.Payload)
		}
	}
}
