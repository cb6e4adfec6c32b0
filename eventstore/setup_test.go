package eventstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestStreamSettings: opening with new settings updates what JetStream can
// change in place and refuses, naming them, what it cannot.
func TestStreamSettings(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := ctxT(t)
	n.Store(eventstore.Config{})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	_, err := eventstore.Open(ctx, n.Connect(), eventstore.Config{MaxMsgs: 1000, MaxAge: time.Hour, Duplicates: time.Minute, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(n.Connect())
	s, _ := js.Stream(ctx, "REWIND")
	cfg := s.CachedInfo().Config
	if cfg.MaxMsgs != 1000 || cfg.MaxAge != time.Hour || cfg.Duplicates != time.Minute {
		t.Fatalf("settings not updated: %+v", cfg)
	}
	for _, want := range []string{"max messages -1 -> 1000", "max age 0s -> 1h0m0s", "duplicate window 2m0s -> 1m0s"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not report %q:\n%s", want, logs.String())
		}
	}
	_, err = eventstore.Open(ctx, n.Connect(), eventstore.Config{Storage: jetstream.MemoryStorage, SubjectPrefix: "other"})
	if !errors.Is(err, eventstore.ErrStreamMismatch) || !strings.Contains(err.Error(), "storage is File, configured Memory") ||
		!strings.Contains(err.Error(), "subjects are [events.>], configured [other.>]") {
		t.Fatalf("immutable changes: %v", err)
	}
	// A replica count the server cannot provide is a clear error, not a hang.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := eventstore.Open(cctx, n.Connect(), eventstore.Config{Replicas: 3}); err == nil || !strings.Contains(err.Error(), "replicas 1 -> 3") {
		t.Fatalf("replicas beyond the cluster: %v", err)
	}
}
