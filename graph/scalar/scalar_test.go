package scalar

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	for _, in := range []any{
		map[string]any{"a": json.Number("1.5"), "b": []any{"x", true, nil}},
		"text", json.Number("42"), true, nil, []any{},
	} {
		raw, err := UnmarshalJSON(in)
		if err != nil {
			t.Fatalf("unmarshal %v: %v", in, err)
		}
		var buf bytes.Buffer
		MarshalJSON(raw).MarshalGQL(&buf)
		if buf.String() != string(raw) || !json.Valid(buf.Bytes()) {
			t.Fatalf("%v: marshalled %q from %q", in, buf.String(), raw)
		}
	}
	if _, err := UnmarshalJSON(func() {}); err == nil {
		t.Fatal("a function is not JSON")
	}
	// Neither is a float JSON cannot write: a client never sends one (the
	// limits refuse literals past float64), but a transport might decode one.
	for _, f := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		if _, err := UnmarshalJSON([]any{f}); err == nil {
			t.Fatalf("%v is not JSON", f)
		}
	}
	var buf bytes.Buffer
	MarshalJSON(nil).MarshalGQL(&buf)
	if buf.String() != "null" {
		t.Fatalf("empty data marshals as %q", buf.String())
	}
}

// TestJSONInvalidUTF8: a value holding a string that is not UTF-8 (as a
// query's text may) is refused rather than stored with U+FFFD in its place.
func TestJSONInvalidUTF8(t *testing.T) {
	for _, in := range []any{
		"a\xffb",
		[]any{"ok", "\xc3"},
		map[string]any{"k": map[string]any{"\xed\xa0\x80": true}},
	} {
		if raw, err := UnmarshalJSON(in); err == nil {
			t.Errorf("%q: got %s, want an error", in, raw)
		}
	}
}
