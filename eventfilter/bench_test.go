package eventfilter

import (
	"encoding/json"
	"fmt"
	"strings"
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

// BenchmarkWorstCases evaluates, for each kind of work Size counts, a
// filter of 64 nodes that makes the most of it on data made to match, and
// reports the time per evaluation and per step of Size: the steps' weights
// hold if ns/step stays about level across kinds.
func BenchmarkWorstCases(b *testing.B) {
	var nested any = 1
	for range 128 {
		nested = map[string]any{"a": nested}
	}
	big := map[string]any{}
	for i := range 200 {
		big[fmt.Sprintf("k%03d", i)] = fmt.Sprintf("v%03d", i)
	}
	data, err := json.Marshal(map[string]any{
		"a": nested, "n": 5, "s": "hello", "big": big,
		"t": "2026-03-01T10:00:00.123456789+02:00",
	})
	if err != nil {
		b.Fatal(err)
	}
	bigText, _ := json.Marshal(big)
	// and of 63 leaves, each passing, so that every one is evaluated.
	and := func(leaf func(j int) string) string {
		parts := make([]string, 63)
		for j := range parts {
			parts[j] = leaf(j)
		}
		return `{"and":[` + strings.Join(parts, ",") + `]}`
	}
	// or of 63 leaves, each failing.
	or := func(leaf func(j int) string) string {
		return strings.Replace(and(leaf), `"and"`, `"or"`, 1)
	}
	for _, c := range []struct{ name, spec string }{
		{"paths-128-segments", and(func(j int) string {
			return fmt.Sprintf(`{"path":"%sa","ne":%d}`, strings.Repeat("a.", 127), j)
		})},
		{"time-ranges", and(func(j int) string { return fmt.Sprintf(`{"path":"t","gt":%d}`, j) })},
		{"number-ranges", and(func(j int) string { return fmt.Sprintf(`{"path":"n","gt":%d}`, -j) })},
		{"in-numbers", or(func(j int) string { return fmt.Sprintf(`{"path":"n","in":[100,101,102,%d]}`, 200+j) })},
		{"eq-strings", or(func(j int) string { return fmt.Sprintf(`{"path":"s","eq":"hell%d"}`, j) })},
		{"eq-object-200-keys", `{"or":[{"path":"big","eq":` + strings.Replace(string(bigText), `"v199"`, `"x"`, 1) + `},{"path":"big","eq":` + string(bigText) + `}]}`},
	} {
		f, err := Parse([]byte(c.spec))
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		d := NewDoc(data)
		d.value()
		nodes, values := f.Size()
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				f.Match(d)
			}
			b.ReportMetric(float64(nodes+values), "steps")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nodes+values), "ns/step")
		})
	}
}
