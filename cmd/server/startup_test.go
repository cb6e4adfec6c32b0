package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// baseEnv keeps an ambient configuration out of the processes tests start.
var baseEnv = []string{"ADDR=127.0.0.1:0", "NATS_URL=", "NATS_LISTEN=", "ALLOWED_ORIGINS=", "MAX_PAYLOAD=", "LOG_LEVEL=info", "REPLICAS="}

// runToExit runs the server binary with args and env and returns its exit
// code and output once it ends by itself, failing if that takes over d.
func runToExit(t *testing.T, d time.Duration, args []string, env ...string) (int, string) {
	t.Helper()
	bin := proctest.Build(t, "github.com/rewind-dev/rewind/cmd/server")
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), baseEnv...), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("server %v still running after %v:\n%s", args, d, out.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestUsageErrors: a flag the server does not know prints the error and
// one hint, not the usage around it; --help prints the usage once, on
// stdout, and exits 0.
func TestUsageErrors(t *testing.T) {
	code, out := runToExit(t, time.Minute, []string{"--port", "80"})
	if want := "server: flag provided but not defined: -port\nrun server --help for the flags\n"; code != 2 || out != want {
		t.Errorf("--port: exit %d, output:\n%s\nwant exit 2 and:\n%s", code, out, want)
	}
	code, out = runToExit(t, time.Minute, []string{"--help"})
	if code != 0 || strings.Count(out, "Usage: server") != 1 || !strings.Contains(out, "--read-timeout (READ_TIMEOUT)") {
		t.Errorf("--help: exit %d, output:\n%s", code, out)
	}
	code, out = runToExit(t, time.Minute, nil, "MAX_AGE=30x")
	if code != 2 || !strings.Contains(out, `MAX_AGE="30x": use a duration such as 90s, 15m, 12h or 30d`) {
		t.Errorf("MAX_AGE=30x: exit %d, output:\n%s", code, out)
	}
}

// TestEmbeddedReplicas: REPLICAS=3 on the embedded server stops at once
// and says what to change; it used to retry every 5 s, listening nowhere.
func TestEmbeddedReplicas(t *testing.T) {
	code, out := runToExit(t, time.Minute, nil, "REPLICAS=3", "DATA_DIR="+t.TempDir())
	if code != 2 || !strings.Contains(out, "--replicas=3 needs a NATS cluster: use --replicas=1 with the embedded server, or --nats-url") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestBadSchema: a --schema file the server cannot serve stops the start
// at once with the file, the line and the reason; so does a missing one.
func TestBadSchema(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.graphqls"
	if err := os.WriteFile(bad, []byte("type A @event(topics: \"a\", type: \"a\") {\n  n: Int\n}\nscalar Money\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runToExit(t, time.Minute, []string{"--schema", bad}, "DATA_DIR="+dir)
	if want := "--schema: invalid event schema: " + bad + ":4: scalar Money: custom scalars are not supported"; code != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d:\n%s\nwant exit 1 and %q", code, out, want)
	}
	code, out = runToExit(t, time.Minute, nil, "DATA_DIR="+dir, "SCHEMA="+dir+"/missing")
	if code != 1 || !strings.Contains(out, "--schema: invalid event schema: stat "+dir+"/missing: no such file or directory") {
		t.Errorf("missing file: exit %d:\n%s", code, out)
	}
}

// TestPermanentStoreError: JetStream refusing the stream for good
// (replicas on a server that is not clustered) stops the start at once
// with what to change, against an external server too.
func TestPermanentStoreError(t *testing.T) {
	// The store's own refusal is tested in server (TestPermanentStoreOpen).
	n := testenv.StartNATS(t)
	code, out := runToExit(t, time.Minute, nil, "NATS_URL="+n.URL(), "REPLICAS=3")
	if code != 1 || !strings.Contains(out, "--replicas=3 needs a NATS cluster") || strings.Contains(out, "retrying") {
		t.Fatalf("server: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "err=<nil>") {
		t.Errorf("a failed start logs a nil error:\n%s", out)
	}
}

// TestServesWhileStarting: while NATS is not reachable the server listens
// and answers /healthz and /readyz 503 "starting", with the reason, and
// GraphQL requests 503 UNAVAILABLE; once NATS is up it serves, and stops
// cleanly without a WARN for the connection it closes itself.
func TestServesWhileStarting(t *testing.T) {
	natsAddr := proctest.FreeAddr(t)
	bin := proctest.Build(t, "github.com/rewind-dev/rewind/cmd/server")
	env := append(baseEnv, "ADDR=:0", fmt.Sprintf("NATS_URL=nats://127.0.0.1:%d", natsAddr.Port))
	p, addr := proctest.Start(t, "rewind", bin, nil, env, regexp.MustCompile(`msg=listening addr=(\S+) graphiql=(\S+)`))
	// ADDR=:0 listens on every address; the log gives the browser one.
	if m := regexp.MustCompile(`graphiql=(\S+)`).FindStringSubmatch(p.Log.String()); m == nil || !strings.HasPrefix(m[1], "http://localhost:") {
		t.Errorf("start log: %s", p.Log)
	}
	_, port, _ := net.SplitHostPort(addr)
	base := "http://127.0.0.1:" + port
	srv := &proc{&proctest.Rewind{Proc: p, Addr: "127.0.0.1:" + port}}

	for _, path := range []string{"/healthz", "/readyz"} {
		testenv.Eventually(t, 10*time.Second, path+" says why it waits", func() bool {
			resp, body := httpGet(t, base+path, nil)
			return resp.StatusCode == 503 && strings.Contains(body, `"status":"starting"`) && strings.Contains(body, "connect to NATS")
		})
	}
	resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(`{"query":"{__typename}"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var gql struct {
		Errors []struct {
			Extensions struct{ Code string } `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &gql); err != nil || resp.StatusCode != 503 || len(gql.Errors) != 1 || gql.Errors[0].Extensions.Code != "UNAVAILABLE" {
		t.Fatalf("POST /graphql while starting: %d %s", resp.StatusCode, body)
	}

	testenv.StartNATSWith(t, func(o *server.Options) { o.Port = natsAddr.Port })
	srv.WaitHealthy(t, 30*time.Second)
	srv.publish(t, "starting", 1)
	srv.Stop(t, 15*time.Second)
	if code := srv.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, srv.Log)
	}
	if strings.Contains(srv.Log.String(), "nats disconnected") {
		t.Errorf("a clean shutdown logs a disconnect:\n%s", srv.Log)
	}
}

// TestStopWhileStarting: SIGTERM while NATS cannot be reached ends the
// server at once, exit code 0.
func TestStopWhileStarting(t *testing.T) {
	bin := proctest.Build(t, "github.com/rewind-dev/rewind/cmd/server")
	env := append(baseEnv, fmt.Sprintf("NATS_URL=nats://%s", proctest.FreeAddr(t)))
	p, _ := proctest.Start(t, "rewind", bin, nil, env, regexp.MustCompile(`NATS not reachable; retrying`))
	p.Stop(t, 10*time.Second)
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.Log)
	}
}

// TestAddressesInUse: --addr, --nats-listen and --data-dir in use fail
// the start at once, naming the flag, the address and the reason, and for
// the data folder the process that holds it.
func TestAddressesInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()

	code, out := runToExit(t, time.Minute, nil, "ADDR="+taken, "DATA_DIR="+t.TempDir())
	if want := fmt.Sprintf("--addr %s: address already in use", taken); code != 1 || !strings.Contains(out, want) {
		t.Errorf("ADDR in use: exit %d, want %q:\n%s", code, want, out)
	}
	code, out = runToExit(t, time.Minute, nil, "NATS_LISTEN="+taken, "DATA_DIR="+t.TempDir())
	if want := fmt.Sprintf("--nats-listen %s: address already in use", taken); code != 1 || !strings.Contains(out, want) {
		t.Errorf("NATS_LISTEN in use: exit %d, want %q:\n%s", code, want, out)
	}

	dir := t.TempDir()
	first := startServer(t, dir)
	code, out = runToExit(t, time.Minute, nil, "DATA_DIR="+dir)
	if want := fmt.Sprintf("--data-dir %s is in use by process %d", dir, first.Cmd.Process.Pid); code != 1 || !strings.Contains(out, want) {
		t.Errorf("data dir in use: exit %d, want %q:\n%s", code, want, out)
	}
}

// TestMessagesNameTheFix: configuration mistakes a newcomer makes stop the
// server with a message that names the flag and what to write instead.
func TestMessagesNameTheFix(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "secret")
	if err := os.WriteFile(short, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dateTime := filepath.Join(dir, "orders.graphqls")
	if err := os.WriteFile(dateTime, []byte("type OrderPlaced @event(topics: \"orders.*\", type: \"placed\") {\n  orderId: ID!\n  at: DateTime\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		code int
		args []string
		env  []string
		want string
	}{
		{"a port alone in ADDR", 2, nil, []string{"ADDR=27187"},
			`--addr "27187": not host:port: use :27187 (every interface) or 127.0.0.1:27187 (this machine only)`},
		{"a short JWT secret", 1, nil, []string{"AUTH=jwt", "JWT_SECRET_FILE=" + short},
			"--jwt-secret-file: jwt secret file " + short + " holds 9 bytes (white space at the ends trimmed): HS256 needs at least 32; make one with: openssl rand -hex 32 > " + short},
		{"a custom scalar in --schema", 1, []string{"--schema", dateTime}, nil,
			dateTime + ":3: OrderPlaced.at: type DateTime is declared nowhere: custom scalars are not supported; use one of String, Int, Float, Boolean, ID, Time, JSON"},
		{"MAX_PAYLOAD over the embedded server's", 2, nil, []string{"MAX_PAYLOAD=100MiB"},
			"at most 8387584 bytes (its max_payload, 8388608 bytes, less 1024 for headers); set --max-payload to 8191KiB or less"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runToExit(t, time.Minute, tc.args, append([]string{"DATA_DIR=" + t.TempDir()}, tc.env...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tc.code, tc.want)
			}
		})
	}

	// NATS that does not answer: the server waits, and its log names the
	// URL it tries (without the password) and the ways out.
	bin := proctest.Build(t, "github.com/rewind-dev/rewind/cmd/server")
	natsURL := fmt.Sprintf("nats://rewind:s3cret@%s", proctest.FreeAddr(t))
	p, _ := proctest.Start(t, "rewind", bin, nil, append(baseEnv, "NATS_URL="+natsURL), regexp.MustCompile(`NATS not reachable; retrying`))
	p.Stop(t, 10*time.Second)
	log := p.Log.String()
	for _, want := range []string{"url=nats://rewind:xxxxx@127.0.0.1:", "correct --nats-url (NATS_URL), or leave it empty to embed NATS"} {
		if !strings.Contains(log, want) {
			t.Errorf("the retry log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "s3cret") {
		t.Errorf("the log shows the NATS password:\n%s", log)
	}
}

// TestSchemaLoggedAtStart: the start log says what --schema declared.
func TestSchemaLoggedAtStart(t *testing.T) {
	bin := proctest.Build(t, "github.com/rewind-dev/rewind/cmd/server")
	env := append(baseEnv, "DATA_DIR="+t.TempDir(), "SCHEMA=../../examples/schema/orders.graphqls")
	p, _ := proctest.Start(t, "rewind", bin, nil, env, regexp.MustCompile(`msg=listening addr=(\S+)`))
	p.Stop(t, 10*time.Second)
	want := `msg="typed events loaded" files=../../examples/schema/orders.graphqls types="OrderPlaced (placed on orders.*), OrderShipped (shipped on orders.*)" unions=OrderEvent topics=orders.*`
	if !strings.Contains(p.Log.String(), want) {
		t.Errorf("the start log lacks\n%s\n:\n%s", want, p.Log)
	}
}
