package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestPermanentStoreOpen: JetStream refusing the stream for good
// (replicas on a server that is not clustered) stops the start at once
// with what to change (cmd/server's TestPermanentStoreError runs the
// process against it).
func TestPermanentStoreOpen(t *testing.T) {
	n := testenv.StartNATS(t)
	nc := n.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := openStore(ctx, nc, eventstore.Config{Replicas: 3}, slog.New(slog.DiscardHandler), nil)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "--replicas=3 needs a NATS cluster, and this NATS server is not clustered") {
		t.Fatalf("openStore with 3 replicas on one server: %v (ctx %v)", err, ctx.Err())
	}
}

func TestBrowserURL(t *testing.T) {
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080",
		"0.0.0.0:8080":   "http://localhost:8080",
		"127.0.0.1:9000": "http://127.0.0.1:9000",
		"[::1]:9000":     "http://[::1]:9000",
		"10.1.2.3:80":    "http://10.1.2.3:80",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := browserURL(tcp); got != want {
			t.Errorf("browserURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

// TestPermanentErrors: the JetStream refusals a retry cannot heal stop the
// start, with the API error kept; those that pass are retried.
func TestPermanentErrors(t *testing.T) {
	cfg := eventstore.Config{Stream: "REWIND", Replicas: 3}
	wrap := func(code jetstream.ErrorCode) error {
		return fmt.Errorf("create stream REWIND: %w", &jetstream.APIError{ErrorCode: code, Description: "x"})
	}
	for code, want := range map[jetstream.ErrorCode]string{
		codeReplicasNotSupported:                         "--replicas=3 needs a NATS cluster",
		codeInsufficientResources:                        "needs that many JetStream servers",
		codeClusterNoPeers:                               "needs that many JetStream servers",
		codeStreamSubjectOverlap:                         "another stream",
		jetstream.JSErrCodeStreamNameInUse:               "pass another --stream",
		codeStorageExceeded:                              "JetStream limits",
		codeStreamMaxBytesRequired:                       "set --max-bytes",
		jetstream.JSErrCodeJetStreamNotEnabledForAccount: "not enabled for this NATS account",
	} {
		err := permanent(wrap(code), cfg)
		var apiErr *jetstream.APIError
		if err == nil || !strings.Contains(err.Error(), want) || !errors.As(err, &apiErr) || apiErr.ErrorCode != code {
			t.Errorf("code %d: %v, want a permanent error saying %q", code, err, want)
		}
	}
	for _, err := range []error{
		wrap(10008), // JetStream system temporarily unavailable
		wrap(jetstream.JSErrCodeJetStreamNotEnabled), // no responders yet
		context.DeadlineExceeded,
		fmt.Errorf("look up stream: %w", nats.ErrTimeout),
	} {
		if got := permanent(err, cfg); got != nil {
			t.Errorf("%v is retried, got %v", err, got)
		}
	}
	if err := permanent(fmt.Errorf("x: %w", eventstore.ErrStreamMismatch), cfg); !errors.Is(err, eventstore.ErrStreamMismatch) {
		t.Errorf("stream mismatch: %v", err)
	}
}
