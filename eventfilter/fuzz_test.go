package eventfilter

import (
	"encoding/json"
	"testing"
)

// FuzzParse: no filter text crashes Parse or Match, and a filter's key is
// the same filter (same key, same verdict on the same data).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"path":"a","eq":1}`, `{"and":[{"path":"a.0","in":[1,"x",null]},{"not":{"path":"b","gte":-1.5}}]}`,
		`{"or":[{"path":"t","lt":1e300},{"path":"t","exists":false}]}`, `{"path":"a","ne":{"k":[1,{}]}}`,
	} {
		f.Add([]byte(s), []byte(`{"a":[1,{"b":2}],"t":"2026-12-01T10:00:00Z","b":-2}`))
	}
	f.Fuzz(func(t *testing.T, where, data []byte) {
		filter, err := Parse(where)
		if err != nil {
			return
		}
		again, err := Parse([]byte(filter.Key()))
		if err != nil {
			t.Fatalf("key %s does not parse: %v", filter.Key(), err)
		}
		if again.Key() != filter.Key() {
			t.Fatalf("key %s became %s", filter.Key(), again.Key())
		}
		if filter.MatchData(json.RawMessage(data)) != again.MatchData(json.RawMessage(data)) {
			t.Fatalf("key %s decides otherwise on %q", filter.Key(), data)
		}
	})
}
