package rewindjs_test

import (
	"testing"

	"github.com/rewind-dev/rewind/internal/readmetest"
)

// TestREADMESnippets: the main README's error-handling snippets are the
// ones in this package's README, which the browser tests run
// (TestBrowserCursorErrors builds them into its pages).
func TestREADMESnippets(t *testing.T) {
	tested := readmetest.Blocks(t, "README.md")
	for _, name := range []string{"cursor-error-plain", "cursor-error-apollo", "cursor-error-urql"} {
		if tested[name] == "" {
			t.Errorf("clients/js/README.md has no tested snippet %s", name)
		}
	}
	main := readmetest.Blocks(t, "../../README.md")
	for _, name := range []string{"cursor-error-apollo", "cursor-error-urql"} {
		if main[name] != tested[name] {
			t.Errorf("the main README's snippet %s differs from clients/js/README.md's, which the browser tests run:\n%s\nwant:\n%s", name, main[name], tested[name])
		}
	}
}
