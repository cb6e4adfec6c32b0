package eventfilter

import (
	"encoding/json"
	"testing"
)

// BenchmarkMatch: one event's data decoded, then ten distinct filters
// evaluated on it, as the hub does per live event; and the decode alone.
func BenchmarkMatch(b *testing.B) {
	data := json.RawMessage(`{"k":3,"status":"paid","total":12.5,"customer":{"country":"FR"},"items":[{"sku":"a1","qty":2}]}`)
	var filters []*Filter
	for _, s := range []string{
		`{"path":"k","eq":3}`, `{"path":"status","eq":"paid"}`, `{"path":"total","gte":10}`,
		`{"path":"customer.country","in":["FR","DE","IT"]}`, `{"path":"items.0.qty","lt":5}`,
		`{"and":[{"path":"status","eq":"paid"},{"path":"total","gte":10}]}`, `{"not":{"path":"k","eq":4}}`,
		`{"path":"missing","exists":false}`, `{"path":"k","ne":9}`, `{"or":[{"path":"k","eq":1},{"path":"k","eq":3}]}`,
	} {
		f, err := Parse([]byte(s))
		if err != nil {
			b.Fatal(err)
		}
		filters = append(filters, f)
	}
	b.Run("decode+10-filters", func(b *testing.B) {
		for b.Loop() {
			d := NewDoc(data)
			for _, f := range filters {
				if !f.Match(d) {
					b.Fatal("no match")
				}
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			NewDoc(data).value()
		}
	})
}
