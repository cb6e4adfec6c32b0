package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStreamMismatch: the stream exists with settings JetStream cannot
// change in place (storage, retention policy, subjects).
var ErrStreamMismatch = errors.New("stream settings cannot be changed in place")

// ensureStream creates the stream or brings an existing one to want.
// Settings JetStream can change in place are updated, each logged; the
// ones it cannot are reported together as ErrStreamMismatch, and nothing
// is changed then.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	stream, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if stream, err = js.CreateStream(ctx, want); err != nil {
			return nil, fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		log.Info("stream created", "stream", want.Name, "replicas", want.Replicas, "storage", want.Storage.String())
		return stream, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", want.Name, err)
	}
	cur := stream.CachedInfo().Config

	var fixed []string
	if cur.Storage != want.Storage {
		fixed = append(fixed, fmt.Sprintf("storage is %s, configured %s", cur.Storage, want.Storage))
	}
	if cur.Retention != want.Retention {
		fixed = append(fixed, fmt.Sprintf("retention policy is %s, configured %s", cur.Retention, want.Retention))
	}
	if !slices.Equal(cur.Subjects, want.Subjects) {
		fixed = append(fixed, fmt.Sprintf("subjects are %v, configured %v", cur.Subjects, want.Subjects))
	}
	if len(fixed) > 0 {
		return nil, fmt.Errorf("stream %s: %s (recreate the stream, or migrate its events, to change these): %w",
			want.Name, strings.Join(fixed, "; "), ErrStreamMismatch)
	}

	// Start from the current config so that settings Rewind does not manage
	// (metadata, placement, sources) are kept.
	upd := cur
	var changes []string
	set := func(name string, from, to any, apply func()) {
		if fmt.Sprint(from) != fmt.Sprint(to) {
			changes = append(changes, fmt.Sprintf("%s %v -> %v", name, from, to))
			apply()
		}
	}
	set("replicas", cur.Replicas, want.Replicas, func() { upd.Replicas = want.Replicas })
	set("max age", cur.MaxAge, want.MaxAge, func() { upd.MaxAge = want.MaxAge })
	set("max messages", cur.MaxMsgs, want.MaxMsgs, func() { upd.MaxMsgs = want.MaxMsgs })
	set("max bytes", cur.MaxBytes, want.MaxBytes, func() { upd.MaxBytes = want.MaxBytes })
	set("max messages per topic", cur.MaxMsgsPerSubject, want.MaxMsgsPerSubject, func() { upd.MaxMsgsPerSubject = want.MaxMsgsPerSubject })
	set("duplicate window", cur.Duplicates, want.Duplicates, func() { upd.Duplicates = want.Duplicates })
	set("max message size", cur.MaxMsgSize, want.MaxMsgSize, func() { upd.MaxMsgSize = want.MaxMsgSize })
	set("discard policy", cur.Discard, want.Discard, func() { upd.Discard = want.Discard })
	set("allow direct", cur.AllowDirect, want.AllowDirect, func() { upd.AllowDirect = want.AllowDirect })
	// Atomic publish is only ever turned on: a store with group commit
	// disabled does not take it away from other writers that batch.
	const atomic = "allow atomic publish"
	if want.AllowAtomicPublish {
		set(atomic, cur.AllowAtomicPublish, true, func() { upd.AllowAtomicPublish = true })
	}
	if len(changes) == 0 {
		return stream, nil
	}
	if stream, err = js.UpdateStream(ctx, upd); err != nil {
		return nil, fmt.Errorf("update stream %s (%s): %w", want.Name, strings.Join(changes, ", "), err)
	}
	for _, c := range changes {
		// A NATS server older than 2.12 ignores the setting; Open reports
		// that, so it is not logged here as done.
		if strings.HasPrefix(c, atomic) && !stream.CachedInfo().Config.AllowAtomicPublish {
			continue
		}
		log.Info("stream setting updated", "stream", want.Name, "change", c)
	}
	return stream, nil
}
