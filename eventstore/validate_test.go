package eventstore_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestAppendStoresAsGiven: Append refuses what the stream would not give
// back as it was given (a type or key with white space or control
// characters at its ends, which NATS headers drop, or a line break; text
// or data that is not UTF-8, which decoders turn into U+FFFD), naming the
// rule; what it accepts reads back byte for byte.
func TestAppendStoresAsGiven(t *testing.T) {
	s := testenv.StartNATS(t).Store(eventstore.Config{})
	ctx := ctxT(t)
	for _, tc := range []struct {
		name, typ, key, data string
		want                 string // in the error
	}{
		{"type with a leading space", " created", "", `1`, "begins or ends with white space or a control character"},
		{"type with a trailing space", "created ", "", `1`, "begins or ends with white space or a control character"},
		{"type with a trailing tab", "created\t", "", `1`, "at either end"},
		{"type with a no-break space at its end", "created\u00a0", "", `1`, "at either end"},
		{"type with a leading NUL", "\x00ab", "", `1`, "at either end"},
		{"type with a line break", "a\nb", "", `1`, "line break"},
		{"type with a carriage return", "a\rb", "", `1`, "line break"},
		{"type not UTF-8", "a\xffb", "", `1`, "not valid UTF-8 at byte 1"},
		{"type too long", strings.Repeat("t", 129), "", `1`, "129 bytes, the limit is 128"},
		{"key with a trailing space", "x", "k ", `1`, "idempotency key"},
		{"key too long", "x", strings.Repeat("k", 257), `1`, "idempotency key"},
		{"data not UTF-8 in a string", "x", "", "\"ab\xffc\"", "data is not valid UTF-8 at byte 3"},
		{"data with a lone surrogate's bytes", "x", "", "[\"\xed\xa0\x80\"]", "data is not valid UTF-8 at byte 2"},
		{"data cut mid-rune", "x", "", "\"\xc3\"", "data is not valid UTF-8 at byte 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []eventstore.AppendOption
			if tc.key != "" {
				opts = append(opts, eventstore.WithIdempotencyKey(tc.key))
			}
			_, err := s.Append(ctx, eventstore.Event{Topic: "t", Type: tc.typ, Data: json.RawMessage(tc.data)}, opts...)
			if !errors.Is(err, eventstore.ErrInvalidEvent) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidEvent saying %q", err, tc.want)
			}
		})
	}
	if n := len(collect(t, s, eventstore.Query{})); n != 0 {
		t.Fatalf("refused appends stored %d events", n)
	}
	for _, typ := range []string{"order created", "élan", "a.b:c/d-e_f", "tab\tand \x01 inside", strings.Repeat("t", 128)} {
		data := `{"s":"` + strings.ReplaceAll(strings.ReplaceAll(typ, "\t", `\t`), "\x01", `\u0001`) + ` ✓"}`
		ev, err := s.Append(ctx, eventstore.Event{Topic: "t", Type: typ, Data: json.RawMessage(data)})
		if err != nil {
			t.Fatalf("type %q: %v", typ, err)
		}
		got, err := s.Get(ctx, ev.ID)
		if err != nil || got.Type != typ || string(got.Data) != data {
			t.Fatalf("type %q: read back %q %s, %v", typ, got.Type, got.Data, err)
		}
	}
}
