// Package scalar implements Rewind's JSON and Time scalars for gqlgen.
// JSON: stored bytes go out exactly as stored, and input must be JSON in
// valid UTF-8 (nothing is silently replaced with U+FFFD). Time: RFC 3339
// out; in, also a date or a duration before now, as replayctl reads them.
package scalar

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalJSON writes a stored JSON value as it is, without re-encoding.
func MarshalJSON(v json.RawMessage) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		if len(v) == 0 {
			_, _ = io.WriteString(w, "null")
			return
		}
		_, _ = w.Write(v)
	})
}

// UnmarshalJSON accepts any JSON value from a query or its variables.
func UnmarshalJSON(v any) (json.RawMessage, error) {
	if !validUTF8(v) {
		return nil, errors.New("not a JSON value: a string in it is not valid UTF-8 (JSON text is UTF-8, RFC 8259)")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not a JSON value: %w", err)
	}
	return b, nil
}

// validUTF8 reports whether every string in v, keys included, is valid
// UTF-8. A string from a query's text may hold any bytes, and json.Marshal
// would silently turn the invalid ones into U+FFFD: data other than what
// was sent.
func validUTF8(v any) bool {
	switch v := v.(type) {
	case string:
		return utf8.ValidString(v)
	case []any:
		for _, e := range v {
			if !validUTF8(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range v {
			if !utf8.ValidString(k) || !validUTF8(e) {
				return false
			}
		}
	}
	return true
}
