package client_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestModuleGraphHasNoServer holds the reason the client is its own
// module: importing it must not pull nats-server (or anything else of the
// server's) into a user's build. It reads the client module's own graph;
// GOWORK=off keeps the workspace from adding the root module, and
// -mod=mod lets go list work from go.mod alone.
func TestModuleGraphHasNoServer(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, out)
	}
	t.Logf("module graph:\n%s", out)
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "nats-io") {
			t.Errorf("the client's module graph holds %s", strings.TrimSpace(line))
		}
	}
}
