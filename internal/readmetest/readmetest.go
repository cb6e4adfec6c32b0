// Package readmetest reads the code blocks a README marks for its tests,
// so that what a README shows is what the tests run: a block is the first
// fenced block after a line `<!-- tested: NAME (any note) -->`.
package readmetest

import (
	"os"
	"regexp"
	"testing"
)

var marked = regexp.MustCompile("(?m)^<!-- tested: (\\S+)[^\\n]*-->\\n```[a-z]*\\n((?s).*?)```")

// Blocks returns file's marked blocks by name.
func Blocks(t testing.TB, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range marked.FindAllStringSubmatch(string(b), -1) {
		if _, dup := out[m[1]]; dup {
			t.Fatalf("%s marks two blocks %s", file, m[1])
		}
		out[m[1]] = m[2]
	}
	return out
}

// Block returns file's block marked name, and fails the test without one.
func Block(t testing.TB, file, name string) string {
	t.Helper()
	b, ok := Blocks(t, file)[name]
	if !ok {
		t.Fatalf("%s has no block marked <!-- tested: %s -->", file, name)
	}
	return b
}
