package rewindjs_test

import (
	"os"
	"regexp"
	"testing"
)

// TestREADMESnippets: the main README's error-handling snippets are the
// ones in this package's README, which the browser tests run
// (TestBrowserCursorErrors builds them into its pages).
func TestREADMESnippets(t *testing.T) {
	tested := snippets(t, "README.md", `<!-- tested: (\S+) -->`)
	copies := snippets(t, "../../README.md", `<!-- same as clients/js/README.md: (\S+) -->`)
	if len(copies) == 0 {
		t.Fatal("the main README shows no snippet of clients/js/README.md")
	}
	for name, code := range copies {
		if tested[name] == "" {
			t.Errorf("the main README's snippet %s is not one of clients/js/README.md's tested snippets", name)
		} else if code != tested[name] {
			t.Errorf("the main README's snippet %s differs from clients/js/README.md's, which the browser tests run:\n%s\nwant:\n%s", name, code, tested[name])
		}
	}
	for _, name := range []string{"cursor-error-plain", "cursor-error-apollo", "cursor-error-urql"} {
		if tested[name] == "" {
			t.Errorf("clients/js/README.md has no tested snippet %s", name)
		}
	}
}

// snippets are the ```js blocks of file that follow a marker whose first
// group names them.
func snippets(t *testing.T, file, marker string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(marker+"\n```js\n((?s).*?)```").FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}
