package scalar

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzJSON: any JSON a client sends as data comes back as valid JSON with
// the same meaning.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"x",null]`, `"text"`, `1e400`, `{"a":{"b":[{}]}}`, `"\u0000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dec := json.NewDecoder(bytes.NewReader(in))
		dec.UseNumber() // as gqlgen decodes variables
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		raw, err := UnmarshalJSON(v)
		if err != nil {
			return
		}
		var out bytes.Buffer
		MarshalJSON(raw).MarshalGQL(&out)
		if !json.Valid(out.Bytes()) {
			t.Fatalf("%q became invalid JSON %q", in, out.Bytes())
		}
		var back any
		d2 := json.NewDecoder(&out)
		d2.UseNumber()
		if err := d2.Decode(&back); err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(back)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s came back as %s", a, b)
		}
	})
}
