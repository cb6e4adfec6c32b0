package render

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// TestAppendRequoted: an escaped stored string is written as decoding it
// (encoding/json) and quoting it (gqlgen's writeQuotedString) would.
func TestAppendRequoted(t *testing.T) {
	for _, raw := range []string{
		`"a \"q\" \\ \/ \u00e9 \t \n \r \b \f \u001f \u007f"`, `"\ud83d\ude00 and é"`, `"lone \ud83d surrogate"`,
		`"\udc00 low first"`, `"\u0000"`, `"end \\"`, `"mixed \uD83D\uDE00"`,
	} {
		var s string
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		graphql.MarshalString(s).MarshalGQL(&want)
		got, ok := appendRequoted(nil, []byte(raw))
		if !ok || string(got) != want.String() {
			t.Errorf("%s: got %s (%v), want %s", raw, got, ok, want.String())
		}
	}
	for _, bad := range []string{`"\x"`, `"\u12"`, `"abc`, `"\"`} {
		if _, ok := appendRequoted(nil, []byte(bad)); ok {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestLeavesAsGqlgen: each leaf is written as gqlgen's own marshaler
// writes the value it decodes to (the reference), escapes, numbers and
// times included.
func TestLeavesAsGqlgen(t *testing.T) {
	marshal := func(m graphql.Marshaler) string {
		var b bytes.Buffer
		m.MarshalGQL(&b)
		return b.String()
	}
	cases := []struct {
		leaf leafKind
		raw  string
		want string
	}{
		{leafString, `"plain"`, marshal(graphql.MarshalString("plain"))},
		{leafString, `"a \"q\" \\ \/ \u00e9 \t \u001f \ud83d\ude00 é"`, marshal(graphql.MarshalString("a \"q\" \\ / \u00e9 \t \u001f \U0001F600 é"))},
		{leafID, `"01X"`, marshal(graphql.MarshalID("01X"))},
		{leafID, `42`, marshal(graphql.MarshalID("42"))},
		{leafInt, `-7`, marshal(graphql.MarshalInt(-7))},
		{leafInt, `3.0`, marshal(graphql.MarshalInt(3))},
		{leafInt, `1e3`, marshal(graphql.MarshalInt(1000))},
		{leafFloat, `12.50`, marshal(graphql.MarshalFloat(12.5))},
		{leafFloat, `1000000`, marshal(graphql.MarshalFloat(1e6))},
		{leafFloat, `0.1`, marshal(graphql.MarshalFloat(0.1))},
		{leafFloat, `1e21`, marshal(graphql.MarshalFloat(1e21))},
		{leafFloat, `5`, marshal(graphql.MarshalFloat(5))},
		{leafBoolean, `false`, marshal(graphql.MarshalBoolean(false))},
		{leafTime, `"2026-11-25T21:30:00.120+01:00"`, marshal(graphql.MarshalTime(time.Date(2026, 11, 25, 21, 30, 0, 120e6, time.FixedZone("", 3600))))},
		{leafJSON, `{"a": [1, 2]}`, `{"a": [1, 2]}`},
	}
	for _, c := range cases {
		got, reason := appendLeaf(nil, &vtype{leaf: c.leaf, name: "T"}, []byte(c.raw))
		if reason != "" || string(got) != c.want {
			t.Errorf("%d %s: got %s (%s), want %s", c.leaf, c.raw, got, reason, c.want)
		}
	}
	for _, c := range []struct {
		leaf leafKind
		raw  string
	}{
		{leafInt, `1.5`}, {leafInt, `"1"`}, {leafInt, `1e300`}, {leafInt, `2147483648`}, {leafFloat, `"1"`}, {leafBoolean, `1`},
		{leafString, `1`}, {leafTime, `"yesterday"`}, {leafID, `true`}, {leafEnum, `"XL"`},
	} {
		if _, reason := appendLeaf(nil, &vtype{leaf: c.leaf, name: "T", enum: map[string]bool{"S": true}}, []byte(c.raw)); reason == "" {
			t.Errorf("%d %s: accepted", c.leaf, c.raw)
		}
	}
}
