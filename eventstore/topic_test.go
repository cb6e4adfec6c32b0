package eventstore

import (
	"slices"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, topic string
		want           bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a", "a.b", false},
		{"a.b", "a", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.*", "a", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{">", "a", true},
		{"*.b", "a.b", true},
		{"*.b", "a.c", false},
	} {
		if got := Match(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestMinimalPatterns(t *testing.T) {
	for _, tc := range []struct {
		in       []string
		want     []string
		disjoint bool
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, true},
		{[]string{"a.>", "a.b", "a.*"}, []string{"a.>"}, true},
		{[]string{"a", "a"}, []string{"a"}, true},
		{[]string{"a.*.c", "a.b.*"}, []string{"a.*.c", "a.b.*"}, false},
		{[]string{">", "x"}, []string{">"}, true},
	} {
		got, disjoint := minimalPatterns(tc.in)
		if !slices.Equal(got, tc.want) || disjoint != tc.disjoint {
			t.Errorf("minimalPatterns(%v) = %v, %v; want %v, %v", tc.in, got, disjoint, tc.want, tc.disjoint)
		}
	}
}

func FuzzValidatePattern(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a.*", "a.>", ">", "a..b", "a b", "*.>.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePattern(p) != nil {
			return
		}
		// A valid pattern is a valid topic once its wildcards are filled in,
		// and it matches that topic.
		topic := []byte(p)
		for i, c := range topic {
			if c == '*' || c == '>' {
				topic[i] = 'x'
			}
		}
		if err := ValidateTopic(string(topic)); err != nil {
			t.Fatalf("pattern %q valid but %q not: %v", p, topic, err)
		}
		if !Match(p, string(topic)) {
			t.Fatalf("%q does not match %q", p, topic)
		}
	})
}
