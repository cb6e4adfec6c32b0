package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rewind-dev/rewind/codes"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/replay"
)

func TestErrorPresenterCodes(t *testing.T) {
	present := ErrorPresenter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tc := range []struct {
		err     error
		code    string
		message string // "" keeps the error's own
	}{
		{fmt.Errorf("x: %w", eventstore.ErrInvalidTopic), codes.BadUserInput, ""},
		{fmt.Errorf("x: %w", eventstore.ErrInvalidEvent), codes.BadUserInput, ""},
		{badInput("first must be positive"), codes.BadUserInput, ""},
		{fmt.Errorf("x: %w", eventstore.ErrInvalidStart), codes.BadUserInput, ""},
		{fmt.Errorf("afterId: %w", eventstore.ErrCursorNotFound), codes.CursorNotFound, ""},
		{fmt.Errorf("afterId: %w", eventstore.ErrCursorExpired), codes.CursorExpired, ""},
		{eventstore.ErrPayloadTooLarge, codes.PayloadTooLarge, ""},
		{replay.ErrSlowConsumer, codes.SlowConsumer, ""},
		{fmt.Errorf("append: %w: timeout", eventstore.ErrUnavailable), codes.Unavailable, ""},
		{errors.New("disk on fire"), codes.Internal, "internal error"},
		{&gqlerror.Error{Message: "cannot coerce"}, codes.BadUserInput, "cannot coerce"},
		{&gqlerror.Error{Message: "x", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}, "GRAPHQL_VALIDATION_FAILED", "x"},
	} {
		got := present(context.Background(), tc.err)
		if got.Extensions["code"] != tc.code {
			t.Errorf("%v: code %v, want %s", tc.err, got.Extensions["code"], tc.code)
		}
		if want := tc.message; want != "" && got.Message != want {
			t.Errorf("%v: message %q, want %q", tc.err, got.Message, want)
		}
		if tc.message == "" && got.Message != tc.err.Error() {
			t.Errorf("%v: message %q hides the cause", tc.err, got.Message)
		}
	}
	if _, err := eventstore.ParseID("short"); codes.Of(err) != codes.BadUserInput {
		t.Errorf("a malformed id maps to %q", codes.Of(err))
	}
}

func TestToMessage(t *testing.T) {
	id := ulid.Make()
	for _, tc := range []struct{ data, want string }{
		{`{"content":"hi"}`, "hi"},
		{`"bare"`, "bare"},
		{`{"other":1}`, `{"other":1}`},
		{`42`, `42`},
	} {
		m := toMessage(&eventstore.Event{ID: id, Data: json.RawMessage(tc.data)})
		if m.Content != tc.want || m.ID != id.String() || !m.Timestamp.Equal(ulid.Time(id.Time())) {
			t.Errorf("toMessage(%s) = %+v, want content %q", tc.data, m, tc.want)
		}
	}
}
