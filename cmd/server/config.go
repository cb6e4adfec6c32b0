package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// config is everything the server reads from flags and the environment.
type config struct {
	addr           string
	dataDir        string
	natsURL        string
	natsListen     string
	allowedOrigins string
	maxPayload     int
	logLevel       string

	// Connecting to an external NATS.
	natsCreds    string
	natsUser     string
	natsPassword string
	natsToken    string
	natsCA       string
	natsCert     string
	natsKey      string

	// The stream.
	stream     string
	replicas   int
	maxAge     time.Duration
	maxMsgs    int64
	maxBytes   int64
	duplicates time.Duration
}

// flagEnv maps each flag to the environment variable that sets it when
// the flag is not given.
var flagEnv = map[string]string{
	"addr": "ADDR", "data-dir": "DATA_DIR", "nats-url": "NATS_URL", "nats-listen": "NATS_LISTEN",
	"allowed-origins": "ALLOWED_ORIGINS", "max-payload": "MAX_PAYLOAD", "log-level": "LOG_LEVEL",
	"nats-creds": "NATS_CREDS", "nats-user": "NATS_USER", "nats-password": "NATS_PASSWORD",
	"nats-token": "NATS_TOKEN", "nats-ca": "NATS_CA", "nats-cert": "NATS_CERT", "nats-key": "NATS_KEY",
	"stream": "STREAM", "replicas": "REPLICAS", "max-age": "MAX_AGE", "max-msgs": "MAX_MSGS",
	"max-bytes": "MAX_BYTES", "duplicate-window": "DUPLICATE_WINDOW",
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", ":8080", "HTTP listen address")
	fs.StringVar(&c.dataDir, "data-dir", "./data", "the embedded JetStream's data folder")
	fs.StringVar(&c.natsURL, "nats-url", "", "NATS server or cluster URLs, comma-separated; empty embeds a JetStream server")
	fs.StringVar(&c.natsListen, "nats-listen", "", "also serve the embedded NATS on this host:port, e.g. for the admin CLI")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", "", "browser origins allowed to open WebSockets, comma-separated, * for any; empty: same host and localhost")
	fs.IntVar(&c.maxPayload, "max-payload", 0, "largest event data in bytes; 0: 1 MiB, or less if the NATS server's max_payload leaves less room")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.natsCreds, "nats-creds", "", "NATS credentials file (JWT and NKey seed)")
	fs.StringVar(&c.natsUser, "nats-user", "", "NATS user (with --nats-password)")
	fs.StringVar(&c.natsPassword, "nats-password", "", "NATS password")
	fs.StringVar(&c.natsToken, "nats-token", "", "NATS authentication token")
	fs.StringVar(&c.natsCA, "nats-ca", "", "CA certificate file to verify the NATS servers (TLS)")
	fs.StringVar(&c.natsCert, "nats-cert", "", "client certificate file for NATS (with --nats-key)")
	fs.StringVar(&c.natsKey, "nats-key", "", "client private key file for NATS")
	fs.StringVar(&c.stream, "stream", "REWIND", "JetStream stream name")
	fs.IntVar(&c.replicas, "replicas", 1, "stream replicas: 1 embedded, 3 recommended on a cluster")
	fs.DurationVar(&c.maxAge, "max-age", 0, "drop events older than this (e.g. 720h); 0 keeps them")
	fs.Int64Var(&c.maxMsgs, "max-msgs", 0, "keep at most this many events; 0: no limit")
	fs.Int64Var(&c.maxBytes, "max-bytes", 0, "keep at most this many bytes of events; 0: no limit")
	fs.DurationVar(&c.duplicates, "duplicate-window", 2*time.Minute, "window in which a retried append or idempotency key stores nothing new")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: server [flags]\n\nEvery flag can also be set by the environment variable in brackets.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(fs.Output(), "  --%s (%s)\n    \t%s", f.Name, flagEnv[f.Name], f.Usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" {
				fmt.Fprintf(fs.Output(), " (default %s)", f.DefValue)
			}
			fmt.Fprintln(fs.Output())
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	// The environment fills in what the command line did not set; an empty
	// variable counts as unset, as compose files often write X=${X}.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key := flagEnv[f.Name]
		if v := os.Getenv(key); v != "" && !given[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c config) validate() error {
	var errs []error
	if c.maxPayload < 0 {
		errs = append(errs, errors.New("--max-payload cannot be negative"))
	}
	if c.replicas < 1 || c.replicas > 5 {
		errs = append(errs, errors.New("--replicas must be 1 to 5"))
	}
	if c.maxAge < 0 || c.maxMsgs < 0 || c.maxBytes < 0 || c.duplicates < 0 {
		errs = append(errs, errors.New("--max-age, --max-msgs, --max-bytes and --duplicate-window cannot be negative"))
	}
	if c.maxAge > 0 && c.duplicates > c.maxAge {
		errs = append(errs, errors.New("--duplicate-window cannot be longer than --max-age"))
	}
	if (c.natsUser == "") != (c.natsPassword == "") {
		errs = append(errs, errors.New("--nats-user and --nats-password go together"))
	}
	if (c.natsCert == "") != (c.natsKey == "") {
		errs = append(errs, errors.New("--nats-cert and --nats-key go together"))
	}
	if n := count(c.natsCreds != "", c.natsUser != "", c.natsToken != ""); n > 1 {
		errs = append(errs, errors.New("use one of --nats-creds, --nats-user/--nats-password and --nats-token"))
	}
	external := c.natsCreds + c.natsUser + c.natsToken + c.natsCA + c.natsCert
	if c.natsURL == "" && external != "" {
		errs = append(errs, errors.New("NATS credentials and TLS options need --nats-url"))
	}
	if c.natsURL != "" && c.natsListen != "" {
		errs = append(errs, errors.New("--nats-listen is for the embedded server; it cannot be used with --nats-url"))
	}
	return errors.Join(errs...)
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
