package rewindjs_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/authtest"
	"github.com/rewind-dev/rewind/internal/proctest"
)

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// TestNodeClient runs the package's Node tests (test/*.test.mjs, node
// --test) against a real server: resuming across SIGKILL restarts over
// WebSocket and SSE, cursor persistence, fatal close codes and expired or
// unknown cursors, refused credentials. The server keeps 2 events per
// topic, so that a cursor can expire.
func TestNodeClient(t *testing.T) {
	dir := prepare(t)
	srv := startRestartable(t, "KEEP_PER_TOPIC=2")
	ctl := control(t, srv)
	// A second server with JWT authentication, for the codes it answers
	// with: 4403 without a token, FORBIDDEN outside the token's grants.
	key := authtest.NewHS256(t)
	authed := proctest.StartRewind(t, "rewind-jwt", "DATA_DIR="+t.TempDir(), "AUTH=jwt", "JWT_SECRET_FILE="+key.File)
	token := key.Token(t, "node-test", authtest.Grants{Subscribe: []string{"secure.>"}}, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	files, err := filepath.Glob(filepath.Join(dir, "test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test/*.test.mjs in %s (%v)", dir, err)
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test", "--test-concurrency=1", "--test-reporter=spec"}, files...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REWIND_URL="+srv.URL(), "REWIND_CONTROL="+ctl.URL, "REWIND_AUTH_URL="+authed.URL(), "REWIND_TOKEN="+token)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = ctl.run(t, cmd)
	t.Logf("node --test:\n%s", out.String())
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
	if !strings.Contains(out.String(), "ℹ pass ") || strings.Contains(out.String(), "ℹ pass 0\n") {
		t.Fatalf("node --test ran no test")
	}
}

// TestTypes compiles test/types/usage.ts: the client's types follow a
// graphql-codegen TypedDocumentNode (data and variables), and the Apollo
// link and urql exchange accept the client.
func TestTypes(t *testing.T) {
	dir := prepare(t)
	if err := npm(dir, "run", "typecheck"); err != nil {
		t.Fatal(err)
	}
}
