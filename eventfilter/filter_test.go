package eventfilter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const order = `{"status":"paid","total":12.5,"count":3,"big":9007199254740993,"note":null,
 "customer":{"country":"FR","tags":["vip","eu"]},"items":[{"sku":"a1","qty":2},{"sku":"b2","qty":1}],
 "at":"2026-12-01T10:00:00Z","atNano":"2026-12-01T10:00:00.5+01:00","num":"12","flag":true}`

// at is order's at in Unix seconds.
const at = 1796119200

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		where string
		want  bool
	}{
		// eq and ne on every kind of value.
		{`{"path":"status","eq":"paid"}`, true},
		{`{"path":"status","eq":"open"}`, false},
		{`{"path":"total","eq":12.5}`, true},
		{`{"path":"count","eq":3.0}`, true}, // numbers compare as numbers
		{`{"path":"count","eq":3e0}`, true},
		{`{"path":"count","eq":"3"}`, false}, // a string is not a number
		{`{"path":"num","eq":12}`, false},
		{`{"path":"num","eq":"12"}`, true},
		{`{"path":"big","eq":9007199254740993}`, true}, // integers exactly
		{`{"path":"big","eq":9007199254740992}`, false},
		{`{"path":"flag","eq":true}`, true},
		{`{"path":"note","eq":null}`, true},
		{`{"path":"status","eq":null}`, false},
		{`{"path":"customer","eq":{"tags":["vip","eu"],"country":"FR"}}`, true}, // key order does not matter
		{`{"path":"customer","eq":{"country":"FR"}}`, false},
		{`{"path":"customer.tags","eq":["vip","eu"]}`, true},
		{`{"path":"customer.tags","eq":["eu","vip"]}`, false}, // array order does
		{`{"path":"status","ne":"open"}`, true},
		{`{"path":"status","ne":"paid"}`, false},
		{`{"path":"count","ne":"3"}`, true},
		// Paths: nested keys and array indexes.
		{`{"path":"customer.country","eq":"FR"}`, true},
		{`{"path":"items.1.sku","eq":"b2"}`, true},
		{`{"path":"items.2.sku","exists":true}`, false},
		{`{"path":"items.01.sku","exists":true}`, false},
		{`{"path":"items.-1.sku","exists":true}`, false},
		{`{"path":"customer.tags.0","eq":"vip"}`, true},
		{`{"path":"status.x","exists":true}`, false}, // into a string
		// in.
		{`{"path":"status","in":["open","paid"]}`, true},
		{`{"path":"status","in":["open"]}`, false},
		{`{"path":"count","in":[1,3.0]}`, true},
		{`{"path":"customer.tags","in":[["vip","eu"]]}`, true},
		// Numbers and times.
		{`{"path":"total","gt":12}`, true},
		{`{"path":"total","gt":12.5}`, false},
		{`{"path":"total","gte":12.5}`, true},
		{`{"path":"total","lt":13}`, true},
		{`{"path":"total","lte":12.4}`, false},
		{`{"path":"num","gt":1}`, false}, // a numeric string is not a number
		{`{"path":"flag","gt":0}`, false},
		{`{"path":"customer","gt":0}`, false},
		{fmt.Sprintf(`{"path":"at","gte":%d}`, at), true},
		{fmt.Sprintf(`{"path":"at","gt":%d}`, at), false},
		{fmt.Sprintf(`{"path":"at","lt":%d.001}`, at), true},
		{fmt.Sprintf(`{"path":"atNano","gt":%d}`, at-3600), true}, // 09:00:00.5Z
		{fmt.Sprintf(`{"path":"atNano","lt":%d.6}`, at-3600), true},
		{fmt.Sprintf(`{"path":"atNano","lte":%d.4}`, at-3600), false},
		{`{"path":"status","gt":0}`, false}, // not a time
		// Absent paths match only exists: false and ne.
		{`{"path":"missing","exists":false}`, true},
		{`{"path":"missing","exists":true}`, false},
		{`{"path":"missing","ne":1}`, true},
		{`{"path":"missing","eq":null}`, false},
		{`{"path":"missing","in":[null]}`, false},
		{`{"path":"missing","gt":0}`, false},
		{`{"path":"missing","lte":0}`, false},
		{`{"path":"note","exists":true}`, true}, // null is present
		{`{"not":{"path":"missing","eq":1}}`, true},
		// Combinations.
		{`{"and":[{"path":"status","eq":"paid"},{"path":"total","gte":10}]}`, true},
		{`{"and":[{"path":"status","eq":"paid"},{"path":"total","gte":20}]}`, false},
		{`{"or":[{"path":"status","eq":"open"},{"path":"total","gte":10}]}`, true},
		{`{"or":[{"path":"status","eq":"open"},{"path":"total","gte":20}]}`, false},
		{`{"not":{"path":"status","eq":"paid"}}`, false},
		{`{"and":[{"or":[{"path":"customer.country","in":["DE","FR"]},{"path":"flag","eq":false}]},{"not":{"path":"items.0.qty","lt":2}}]}`, true},
	} {
		t.Run(tc.where, func(t *testing.T) {
			f, err := Parse([]byte(tc.where))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.MatchData(json.RawMessage(order)); got != tc.want {
				t.Fatalf("on %s: %v, want %v", order, got, tc.want)
			}
			// The key is a Spec of the same filter.
			again, err := Parse([]byte(f.Key()))
			if err != nil {
				t.Fatalf("key %s: %v", f.Key(), err)
			}
			if again.Key() != f.Key() || again.MatchData(json.RawMessage(order)) != tc.want {
				t.Fatalf("key %s is not the same filter", f.Key())
			}
		})
	}
}

// TestDataNotObject: data that is a scalar or an array, and data that is
// not JSON, have no paths.
func TestDataNotObject(t *testing.T) {
	f, _ := Parse([]byte(`{"path":"a","exists":false}`))
	g, _ := Parse([]byte(`{"path":"0","eq":1}`))
	for _, data := range []string{`1`, `"a"`, `null`, `[1]`, `{`, ``} {
		if !f.MatchData(json.RawMessage(data)) {
			t.Errorf("%q: a is not absent", data)
		}
	}
	if !g.MatchData(json.RawMessage(`[1]`)) {
		t.Errorf("[1]: path 0 is not 1")
	}
}

func TestKey(t *testing.T) {
	same := [][]string{
		{`{"path":"a","eq":1}`, `{"path":"a","eq":1.0}`, `{"path":"a","eq":1e0}`, `{"path":"a","eq":10e-1}`},
		{`{"path":"a","eq":{"x":1,"y":[2,"b"]}}`, `{"path":"a","eq":{"y":[2.0,"b"],"x":1}}`},
		{`{"path":"a","in":["x","y"]}`, `{"path":"a","in":["y","x","y"]}`},
		{`{"and":[{"path":"a","eq":1},{"path":"b","gt":2}]}`, `{"and":[{"path":"b","gt":2.0},{"path":"a","eq":1},{"path":"a","eq":1}]}`},
		{`{"or":[{"path":"a","exists":true},{"not":{"path":"b","lte":0}}]}`, `{"or":[{"not":{"path":"b","lte":-0}},{"path":"a","exists":true}]}`},
	}
	seen := map[string]int{}
	for i, group := range same {
		var key string
		for _, s := range group {
			f, err := Parse([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			if key == "" {
				key = f.Key()
			}
			if f.Key() != key {
				t.Errorf("%s: key %s, want %s", s, f.Key(), key)
			}
		}
		if j, dup := seen[key]; dup {
			t.Errorf("groups %d and %d share key %s", j, i, key)
		}
		seen[key] = i
	}
	for _, pair := range [][2]string{
		{`{"path":"a","eq":1}`, `{"path":"a","eq":"1"}`},
		{`{"path":"a","eq":1}`, `{"path":"a","ne":1}`},
		{`{"path":"a","gt":1}`, `{"path":"a","gte":1}`},
		{`{"and":[{"path":"a","eq":1}]}`, `{"or":[{"path":"a","eq":1}]}`},
		{`{"path":"a.b","eq":1}`, `{"path":"a","eq":{"b":1}}`},
	} {
		a, _ := Parse([]byte(pair[0]))
		b, _ := Parse([]byte(pair[1]))
		if a.Key() == b.Key() {
			t.Errorf("%s and %s share key %s", pair[0], pair[1], a.Key())
		}
	}
	var none *Filter
	if none.Key() != "" || !none.MatchData(json.RawMessage(`{}`)) {
		t.Error("a nil filter must match everything with key \"\"")
	}
}

func TestInvalid(t *testing.T) {
	deep := `{"path":"a","eq":1}`
	for range MaxDepth {
		deep = `{"not":` + deep + `}`
	}
	wide := `{"or":[` + strings.Repeat(`{"path":"a","eq":1},`, MaxNodes) + `{"path":"a","eq":1}]}`
	many := `{"path":"a","in":[` + strings.Repeat(`1,`, MaxIn) + `1]}`
	values := `{"or":[` + strings.Repeat(`{"path":"a","in":[`+strings.Repeat(`1,`, 50)+`1]},`, 6) + `{"path":"a","eq":1}]}`
	large := `{"path":"a","eq":"` + strings.Repeat("x", MaxValueBytes) + `"}`
	for _, tc := range []struct{ where, says string }{
		{`{}`, "needs a path and one operator"},
		{`{"path":"a"}`, `path "a" needs one operator`},
		{`{"eq":1}`, "needs a path"},
		{`{"path":"a","eq":1,"gt":2}`, "has eq and gt: one operator per filter (combine them with and)"},
		{`{"path":"a","and":[{"path":"a","eq":1}]}`, "and takes no path or operator"},
		{`{"and":[{"path":"a","eq":1}],"or":[{"path":"a","eq":1}]}`, "not and and or"},
		{`{"and":[]}`, "and needs at least one filter"},
		{`{"or":[{"path":"a","eq":1},{"path":"b"}]}`, "or[1]: path \"b\" needs one operator"},
		{`{"not":{"and":[{"path":"","eq":1}]}}`, "not.and[0]: a filter needs a path"},
		{`{"and":[null]}`, "and[0]: null is not a filter"},
		{`{"path":"a..b","eq":1}`, "empty segment"},
		{`{"path":".a","eq":1}`, "empty segment"},
		{`{"path":"` + strings.Repeat("a", MaxPath+1) + `","eq":1}`, "bytes, the limit is 256"},
		{`{"path":"a","in":[]}`, "in needs at least one value"},
		{deep, "nest 8 deep at most"},
		{wide, "holds 64 filters at most"},
		{many, "in lists 100 values at most"},
		{values, "compares with 256 values at most"},
		{large, "bytes of JSON at most"},
		{`{"path":"a","eq":1} x`, "text after"},
		{`{"path":"a","equals":1}`, "unknown field"},
		{`[1]`, "invalid filter"},
		{`{"path":"a","gt":"2026-01-01T00:00:00Z"}`, "invalid filter"},
	} {
		_, err := Parse([]byte(tc.where))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%.80s: got %v, want ErrInvalid saying %q", tc.where, err, tc.says)
		}
	}
	if _, err := Compile(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil spec: %v", err)
	}
}

func TestSize(t *testing.T) {
	s := &Spec{And: []*Spec{{Path: "a", In: []json.RawMessage{[]byte(`1`), []byte(`2`)}}, {Not: &Spec{Path: "b", Eq: []byte(`3`)}}}}
	// and 1, leaf a 1 + 1 segment, not 1, leaf b 1 + 1 segment; three
	// values of 3 steps each.
	nodes, values := s.Size()
	if nodes != 6 || values != 9 {
		t.Fatalf("Size: %d and %d steps, want 6 and 9", nodes, values)
	}
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if n, v := f.Size(); n != 6 || v != 9 {
		t.Fatalf("compiled Size: %d, %d", n, v)
	}
	// What makes an evaluation dear is counted: path segments, a range
	// comparison (it may parse a time), a value's length.
	for _, tc := range []struct {
		where          string
		nodes, values  int
		compiledValues int
	}{
		{`{"path":"a.b.c.d","exists":true}`, 5, 0, 0},
		{`{"path":"t","gt":1}`, 10, 0, 0},
		{`{"path":"a","eq":"` + strings.Repeat("x", 78) + `"}`, 2, 13, 13},
		{`{"path":"a","in":[1,1,2]}`, 2, 9, 6}, // a repeated value is compared once
	} {
		var spec Spec
		if err := json.Unmarshal([]byte(tc.where), &spec); err != nil {
			t.Fatal(err)
		}
		if n, v := spec.Size(); n != tc.nodes || v != tc.values {
			t.Errorf("%s: Size %d and %d, want %d and %d", tc.where, n, v, tc.nodes, tc.values)
		}
		f, err := Parse([]byte(tc.where))
		if err != nil {
			t.Fatal(err)
		}
		if n, v := f.Size(); n != tc.nodes || v != tc.compiledValues {
			t.Errorf("%s: compiled Size %d and %d, want %d and %d", tc.where, n, v, tc.nodes, tc.compiledValues)
		}
	}
	// Counting stops past the bounds, whatever the input holds.
	wide := &Spec{}
	for range 10 * MaxNodes {
		wide.Or = append(wide.Or, &Spec{Path: "a", Exists: new(bool)})
	}
	if n, _ := wide.Size(); n > 2*(MaxNodes+1) {
		t.Fatalf("Size counted %d steps for %d filters", n, len(wide.Or))
	}
	long := &Spec{Path: strings.Repeat("a.", 1<<20), Exists: new(bool)}
	if n, _ := long.Size(); n > MaxPath+2 {
		t.Fatalf("Size counted %d steps for a path of %d bytes", n, len(long.Path))
	}
}

// TestDecodedOnce: one Doc serves every filter evaluated on it.
func TestDecodedOnce(t *testing.T) {
	d := NewDoc(json.RawMessage(order))
	for _, s := range []string{`{"path":"status","eq":"paid"}`, `{"path":"total","gt":1}`, `{"not":{"path":"x","exists":true}}`} {
		f, _ := Parse([]byte(s))
		if !f.Match(d) {
			t.Fatalf("%s does not match", s)
		}
	}
	if d.decodes != 1 {
		t.Fatalf("decoded %d times", d.decodes)
	}
	// A filter that reads no path would still be evaluated on the one
	// decoding; a Doc nobody reads is never decoded.
	if NewDoc(json.RawMessage(order)).decodes != 0 {
		t.Fatal("decoded eagerly")
	}
}
