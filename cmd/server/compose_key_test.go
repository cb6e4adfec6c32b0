package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/readmetest"
)

// TestComposeKeyRecipe runs the README's commands for the compose file's
// JWT key and a token (all but docker's), with a real server in place of
// the compose services: the key they make is one the server accepts, and
// the token they sign is one it honours.
func TestComposeKeyRecipe(t *testing.T) {
	block := readmetest.Block(t, "../../README.md", "compose-key")
	key, rest, ok := strings.Cut(block, "docker compose up")
	if !ok {
		t.Fatalf("the recipe does not start the compose file:\n%s", block)
	}
	_, token, _ := strings.Cut(rest, "\n")

	dir := t.TempDir()
	sh(t, dir, key)
	srv := proctest.StartRewind(t, "rewind", "DATA_DIR="+t.TempDir(), "AUTH=jwt", "JWT_SECRET_FILE="+filepath.Join(dir, "secrets", "jwt_secret"))
	out := sh(t, dir, strings.ReplaceAll(token, "http://127.0.0.1:8080", "http://"+srv.Addr))
	if !strings.Contains(out, `{"data":{"topics":[]}}`) {
		t.Fatalf("the recipe's request with its token got %q, want the (empty) topics", out)
	}
	// And the server does require a token.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL(), strings.NewReader(`{"query":"{ topics { name } }"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: HTTP %d, want 401", resp.StatusCode)
	}
}

// sh runs script with bash in dir and returns its output; openssl and curl
// are needed, as the README's recipe uses them.
func sh(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash (openssl and curl are needed): %v\n%s\n%s", err, script, out)
	}
	return string(out)
}
