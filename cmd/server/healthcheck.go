package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rewind-dev/rewind/internal/flagvalue"
)

// healthcheck is `server healthcheck`: a probe for container health
// checks, as the image has no shell, curl or wget. It GETs /readyz and
// exits 0 when the answer is 200 and 1 otherwise (bad flags included:
// Docker reserves exit code 2).
func healthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	target, timeout, err := parseHealthcheck(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: server healthcheck [--url URL] [--timeout 3s]\n\n"+
			"GETs the server's readiness endpoint and exits 0 on 200, 1 otherwise.\n"+
			"--url defaults to http://127.0.0.1:PORT/readyz, PORT from $ADDR (default :8080).")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "server healthcheck:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintln(stderr, "server healthcheck:", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "server healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	line := fmt.Sprintf("%s: %d %s", target, resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, line)
		return 1
	}
	fmt.Fprintln(stdout, line)
	return 0
}

// parseHealthcheck reads healthcheck's flags. The default URL is /readyz
// on the port the server listens on by the same environment ($ADDR).
func parseHealthcheck(args []string) (target string, timeout time.Duration, err error) {
	fs := flag.NewFlagSet("server healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	timeout = 3 * time.Second
	fs.StringVar(&target, "url", "", "the readiness URL to GET")
	fs.Var(flagvalue.NewDuration(&timeout), "timeout", "time limit of the request")
	if err := fs.Parse(args); err != nil {
		return "", 0, err
	}
	if fs.NArg() > 0 {
		return "", 0, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if timeout <= 0 {
		return "", 0, errors.New("--timeout must be positive")
	}
	if target == "" {
		addr := os.Getenv(flagEnv["addr"])
		if addr == "" {
			addr = ":8080"
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", 0, fmt.Errorf("ADDR=%q: %w", addr, err)
		}
		// The probe runs beside the server: loopback reaches it whatever
		// host it listens on, unless that is one particular address.
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		return "http://" + net.JoinHostPort(host, port) + "/readyz", timeout, nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", 0, fmt.Errorf("--url %q: want an http:// or https:// URL", target)
	}
	return target, timeout, nil
}
