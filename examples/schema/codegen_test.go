// Package schema tests the example event schema with the tools a frontend
// uses: graphql-codegen against a running server, and tsc.
package schema

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/internal/proctest"
)

// npx runs a command of the folder's installed npm packages.
func npx(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join("node_modules", ".bin", args[0]), args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCodegenAndTSC: graphql-codegen (typescript + typescript-operations)
// generates types from a server started with orders.graphqls, by
// introspection; tsc compiles them with operations using a typed
// subscription with fragments on the union and a typed publish, and
// refuses a misuse of them.
func TestCodegenAndTSC(t *testing.T) {
	dir := "codegen"
	proctest.NPMInstall(t, dir)
	srv := proctest.StartRewind(t, "rewind", "DATA_DIR="+t.TempDir(), "SCHEMA=orders.graphqls")
	if out, err := npx(t, dir, []string{"SCHEMA_URL=" + srv.URL()}, "graphql-codegen", "--config", "codegen.yml"); err != nil {
		t.Fatalf("graphql-codegen: %v\n%s", err, out)
	}
	for file, wants := range map[string][]string{
		"types.ts":      {"export type OrderPlacedEvent = {", "orderPlaced: OrderPlacedEvent;", "export type OrderEvent = OrderPlaced | OrderShipped;", "trackingCode?: Maybe<Scalars['String']['output']>;"},
		"operations.ts": {"export type OrderPlacedInput", "export type OrderEventsSubscription", "__typename: 'OrderShipped'", "carrier: string"},
	} {
		gen, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range wants {
			if !strings.Contains(string(gen), want) {
				t.Errorf("%s lacks %q", file, want)
			}
		}
	}
	if out, err := npx(t, dir, nil, "tsc", "--noEmit", "-p", "."); err != nil {
		t.Fatalf("tsc on the generated types and use.ts: %v\n%s", err, out)
	}
	out, err := npx(t, dir, nil, "tsc", "--noEmit", "-p", "wrong")
	if err == nil {
		t.Fatalf("tsc accepted wrong.ts:\n%s", out)
	}
	for _, want := range []string{"wrong.ts(8,", "orderId", "wrong.ts(15,"} {
		if !strings.Contains(out, want) {
			t.Errorf("tsc's refusal lacks %q:\n%s", want, out)
		}
	}
}
