package eventstore_test

import (
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
)

// FuzzParseID: cursor parsing never panics, accepts exactly the 26
// characters of a ULID whose time is not after 9999, and a parsed id prints
// back as its input.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"00000000000000000000000000", "01M8AB89FQ5872B2PCN7G5GKBA", "01m8ab89fq5872b2pcn7g5gkba", "nope", "", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "76EZ91ZPZZZZZZZZZZZZZZZZZZ", "76EZ91ZQ000000000000000000", "01M8AB89FQ5872B2PCN7G5GKBAX"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := eventstore.ParseID(s)
		if err != nil {
			return
		}
		if len(s) != 26 || id.String() != strings.ToUpper(s) || id.Time() > 253_402_300_799_999 {
			t.Fatalf("ParseID(%q) = %s", s, id)
		}
	})
}
