package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-dev/rewind/auth/jwtauth"
	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/graph"
	"github.com/rewind-dev/rewind/graph/document"
	"github.com/rewind-dev/rewind/internal/flagvalue"
	"github.com/rewind-dev/rewind/internal/metrics"
	"github.com/rewind-dev/rewind/internal/natsflag"
	"github.com/rewind-dev/rewind/replay"
	"github.com/rewind-dev/rewind/server"
	"github.com/rewind-dev/rewind/transport/connlimit"
	"github.com/rewind-dev/rewind/transport/gqlws"
)

// config is everything the server reads from flags and the environment:
// the flags bind straight into the server's configuration, and what is
// not one of its settings (how to log, the key files, the schema files,
// the embedded server's fsync) is beside it.
type config struct {
	server server.Config

	logLevel  string
	logFormat string
	// natsSync is the embedded JetStream's fsync: "always" or an interval.
	natsSync string
	// authMode is none or jwt, with jwt's key files and claims.
	authMode string
	jwt      jwtauth.Config
	// schema are the typed event declarations' files and folders.
	schema []string
}

// flagEnv maps each flag to the environment variable that sets it when
// the flag is not given.
var flagEnv = natsflag.WithEnv(map[string]string{
	"addr": "ADDR", "data-dir": "DATA_DIR", "nats-listen": "NATS_LISTEN",
	"allowed-origins": "ALLOWED_ORIGINS", "max-payload": "MAX_PAYLOAD", "log-level": "LOG_LEVEL",
	"stream": "STREAM", "replicas": "REPLICAS", "max-age": "MAX_AGE", "max-msgs": "MAX_MSGS",
	"max-bytes": "MAX_BYTES", "keep-per-topic": "KEEP_PER_TOPIC", "duplicate-window": "DUPLICATE_WINDOW",
	"auth": "AUTH", "jwt-secret-file": "JWT_SECRET_FILE", "jwt-public-key-file": "JWT_PUBLIC_KEY_FILE",
	"jwt-jwks-file": "JWT_JWKS_FILE", "jwt-issuer": "JWT_ISSUER", "jwt-audience": "JWT_AUDIENCE",
	"publish-rate": "PUBLISH_RATE", "max-connections": "MAX_CONNECTIONS",
	"max-connections-per-address": "MAX_CONNECTIONS_PER_ADDRESS", "max-subscriptions": "MAX_SUBSCRIPTIONS",
	"init-timeout": "INIT_TIMEOUT", "max-depth": "MAX_DEPTH", "max-complexity": "MAX_COMPLEXITY",
	"max-storage-reads": "MAX_STORAGE_READS", "client-reads": "CLIENT_READS",
	"max-response-bytes": "MAX_RESPONSE_BYTES", "max-tokens": "MAX_TOKENS", "max-fields": "MAX_FIELDS",
	"max-overlaps": "MAX_OVERLAPS", "max-filter-cost": "MAX_FILTER_COST",
	"introspection": "INTROSPECTION", "nats-sync": "NATS_SYNC", "group-commit": "GROUP_COMMIT",
	"log-format": "LOG_FORMAT", "shutdown-delay": "SHUTDOWN_DELAY",
	"read-timeout": "READ_TIMEOUT", "idle-timeout": "IDLE_TIMEOUT", "schema": "SCHEMA",
	"federation": "FEDERATION",
})

// usageHint follows an error in a command line the flag package reads.
const usageHint = "run server --help for the flags"

func parseFlags(args []string) (config, error) {
	var c config
	s := &c.server
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	// The flag package prints its error and the whole usage on a mistake;
	// main prints the error once, with a hint, instead.
	fs.SetOutput(io.Discard)
	durationVar := func(p *time.Duration, name string, value time.Duration, usage string) {
		*p = value
		fs.Var(flagvalue.NewDuration(p), name, usage)
	}
	fs.StringVar(&s.Addr, "addr", server.DefaultAddr, "HTTP listen address")
	fs.StringVar(&s.NATS.Embedded.DataDir, "data-dir", "./data", "the embedded JetStream's data folder")
	natsflag.Bind(fs, &s.NATS, "embed a JetStream server in --data-dir")
	fs.StringVar(&s.NATS.Embedded.Listen, "nats-listen", "", "also serve the embedded NATS on this host:port, e.g. for the admin CLI")
	fs.Var(flagvalue.NewStrings(&s.WebSocket.AllowedOrigins), "allowed-origins", "browser origins allowed to open WebSockets, comma-separated, * for any; empty: same host and localhost")
	fs.Var(flagvalue.NewSize(&s.Store.MaxPayload), "max-payload", "largest event data, in bytes or with a unit (512KiB, 2MiB: binary; 2MB: 10^6); 0: 1 MiB, or less if the NATS server's max_payload leaves less room")
	fs.StringVar(&c.logLevel, "log-level", "info", logLevels)
	fs.StringVar(&c.logFormat, "log-format", "text", "text (key=value lines, for people) or json (one object a line, for log collectors)")
	durationVar(&s.ShutdownDelay, "shutdown-delay", 0, "at SIGTERM, answer 503 on /readyz this long before closing connections, so that load balancers stop sending clients first")
	fs.StringVar(&c.authMode, "auth", "none", "none (anyone may do anything: local use only) or jwt")
	fs.StringVar(&c.jwt.SecretFile, "jwt-secret-file", "", "HS256 shared secret file (at least 32 bytes)")
	fs.StringVar(&c.jwt.PublicKeyFile, "jwt-public-key-file", "", "PEM public key file for RS256, EdDSA or ES256 tokens")
	fs.StringVar(&c.jwt.JWKSFile, "jwt-jwks-file", "", "JSON Web Key Set file; tokens name their key by kid")
	fs.StringVar(&c.jwt.Issuer, "jwt-issuer", "", "required iss claim, if set")
	fs.StringVar(&c.jwt.Audience, "jwt-audience", "", "required aud claim, if set")
	fs.Float64Var(&s.PublishRate, "publish-rate", 0, "appends per second allowed to each token (bursts of twice that); 0: no limit")
	fs.IntVar(&s.Connections.Max, "max-connections", connlimit.DefaultMax, "long-lived connections in total, WebSockets and SSE streams together")
	fs.IntVar(&s.Connections.PerAddress, "max-connections-per-address", connlimit.DefaultPerAddress, "long-lived connections (WebSockets and SSE streams) from one client address")
	fs.IntVar(&s.WebSocket.MaxSubscriptions, "max-subscriptions", gqlws.DefaultMaxSubscriptions, "operations on one WebSocket connection")
	durationVar(&s.ReadTimeout, "read-timeout", server.DefaultReadTimeout, "time a client has to send a whole request, headers and body (WebSockets and SSE streams are not cut by it)")
	durationVar(&s.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "time a keep-alive connection may wait for its next request")
	durationVar(&s.WebSocket.InitTimeout, "init-timeout", gqlws.DefaultInitTimeout, "time a WebSocket has to send connection_init")
	fs.IntVar(&s.Limits.MaxDepth, "max-depth", graph.DefaultMaxDepth, "deepest selection nesting of an operation")
	fs.IntVar(&s.Limits.MaxComplexity, "max-complexity", graph.DefaultMaxCost, "largest operation cost: a page of history costs its size times its selection, a replay what it reads (see README)")
	fs.IntVar(&s.Limits.MaxStorageReads, "max-storage-reads", graph.DefaultMaxStorageReads, "most fields of one operation that read storage (event, events, topics, subscriptions with a start point)")
	fs.Var(flagvalue.NewSize(&s.Limits.MaxResponseBytes), "max-response-bytes", fmt.Sprintf("most bytes one operation may make the server render: each subscription message, a mutation's result, a query's events together; 0: %d times --max-payload", graph.DefaultResponsePayloads))
	fs.IntVar(&s.Limits.Document.MaxTokens, "max-tokens", document.DefaultMaxTokens, "most lexical tokens of a GraphQL document, checked before it is validated")
	fs.IntVar(&s.Limits.Document.MaxFields, "max-fields", document.DefaultMaxFields, "most fields and fragment spreads of a GraphQL document, as written, checked before it is validated")
	fs.IntVar(&s.Limits.Document.MaxOverlaps, "max-overlaps", document.DefaultMaxOverlaps, "most pairs of fields sharing a response name that validation may compare (its work grows with the square of repeats), checked before it is validated")
	fs.IntVar(&s.Hub.MaxFilterCost, "max-filter-cost", replay.DefaultMaxFilterCost, "filter work one principal's distinct live where filters may ask per event, in the steps of the cost model (see README, Security)")
	fs.IntVar(&s.ClientReads, "client-reads", server.DefaultClientReads, "storage reads one client runs at once: an HTTP request, or a WebSocket or SSE stream with all its subscriptions")
	fs.BoolFunc("introspection", "answer __schema and __type queries (GraphiQL needs them) (default true)", func(v string) error {
		on, err := flagvalue.ParseBool(v)
		s.Limits.DisableIntrospection = !on
		return err
	})
	fs.Var(flagvalue.NewBool(&s.Federation), "federation", "serve the Apollo Federation v2 subgraph contract (_service, _entities; Event and typed envelopes as entities) for a gateway (see README, Behind a gateway)")
	fs.StringVar(&c.natsSync, "nats-sync", natsflag.DefaultSync, "embedded JetStream: fsync every write (always, safe against power loss) or at an interval such as 2m (faster, loses the last writes on power loss)")
	fs.BoolFunc("group-commit", "store appends made while another is being stored together, as one JetStream atomic batch with one fsync (default true); false: one publish per event", func(v string) error {
		on, err := flagvalue.ParseBool(v)
		s.Store.DisableGroupCommit = !on
		return err
	})
	fs.StringVar(&s.Store.Stream, "stream", eventstore.DefaultStream, "JetStream stream name")
	fs.IntVar(&s.Store.Replicas, "replicas", 1, "stream replicas: 1 embedded, 3 recommended on a cluster")
	durationVar(&s.Store.MaxAge, "max-age", 0, "drop events older than this (e.g. 30d or 12h); 0 keeps them")
	fs.Int64Var(&s.Store.MaxMsgs, "max-msgs", 0, "keep at most this many events; 0: no limit")
	fs.Var(flagvalue.NewSize(&s.Store.MaxBytes), "max-bytes", "keep at most this many bytes of events (e.g. 10GiB, or 10GB for 10^10); 0: no limit")
	fs.Int64Var(&s.Store.MaxMsgsPerSubject, "keep-per-topic", 0, "keep at most this many events of each topic, the newest; 0: no limit")
	durationVar(&s.Store.Duplicates, "duplicate-window", eventstore.DefaultDuplicates, "window in which a retried append or idempotency key stores nothing new (100ms or more)")
	fs.Var(flagvalue.NewStrings(&c.schema), "schema", "typed event declarations: a .graphqls file or a folder of them, repeatable or comma-separated (see README, Typed events)")
	fs.Usage = func() {}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		printUsage(os.Stdout, fs)
		return c, err
	} else if err != nil {
		return c, fmt.Errorf("%w\n%s", err, usageHint)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v (the only command is healthcheck)\n%s", fs.Args(), usageHint)
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
	s.PublishBurst = int(2 * s.PublishRate)
	if always, interval, err := natsflag.ParseSync(c.natsSync); err == nil {
		s.NATS.Embedded.SyncAlways, s.NATS.Embedded.SyncInterval = always, interval
	}
	return c, c.validate()
}

// printUsage lists the flags with their variables and defaults.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: server [flags]\n       server healthcheck [--url URL]\n\n"+
		"Every flag can also be set by the environment variable in brackets.\n"+
		"Durations: 90s, 15m, 12h, 30d, 1d12h. Sizes: bytes, or KiB/MiB/GiB (2^10, 2^20, 2^30)\n"+
		"or kB/MB/GB (10^3, 10^6, 10^9).\n\n")
	fs.VisitAll(func(f *flag.Flag) {
		_, usage := flag.UnquoteUsage(f) // the shared NATS flags quote their value's name
		fmt.Fprintf(w, "  --%s (%s)\n    \t%s", f.Name, flagEnv[f.Name], usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintln(w, "\nserver healthcheck GETs the server's /readyz and exits 0 when it answers 200, 1 otherwise:\n"+
		"a container health check for images without a shell. --url defaults to /readyz on $ADDR's port.")
}

// minDuplicates is JetStream's shortest deduplication window.
const minDuplicates = 100 * time.Millisecond

// logLevels is the help and the error of --log-level.
const logLevels = "debug, info, warn or error"

func (c config) validate() error {
	s := c.server
	var errs []error
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(c.logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level=%q: use %s", c.logLevel, logLevels))
	}
	if s.ReadTimeout <= 0 || s.IdleTimeout <= 0 {
		errs = append(errs, errors.New("--read-timeout and --idle-timeout must be positive"))
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format=%q: use text or json", c.logFormat))
	}
	st := s.Store
	if st.MaxPayload < 0 {
		errs = append(errs, errors.New("--max-payload cannot be negative"))
	}
	if st.Replicas < 1 || st.Replicas > 5 {
		errs = append(errs, errors.New("--replicas must be 1 to 5"))
	}
	if st.MaxAge < 0 || st.MaxMsgs < 0 || st.MaxBytes < 0 || st.MaxMsgsPerSubject < 0 || st.Duplicates < 0 {
		errs = append(errs, errors.New("--max-age, --max-msgs, --max-bytes, --keep-per-topic and --duplicate-window cannot be negative"))
	}
	if st.Duplicates >= 0 && st.Duplicates < minDuplicates {
		errs = append(errs, fmt.Errorf("--duplicate-window=%s: JetStream always deduplicates appends, over 100ms at least, and Rewind's retried appends rely on it (0 would silently mean 2m): leave the flag out for the default of 2m, or give 100ms or more", st.Duplicates))
	}
	if st.MaxAge > 0 && st.Duplicates > st.MaxAge {
		errs = append(errs, errors.New("--duplicate-window cannot be longer than --max-age"))
	}
	keys := count(c.jwt.SecretFile != "", c.jwt.PublicKeyFile != "", c.jwt.JWKSFile != "")
	switch c.authMode {
	case "none":
		if keys > 0 {
			errs = append(errs, errors.New("JWT key options need --auth=jwt"))
		}
	case "jwt":
		if keys != 1 {
			errs = append(errs, errors.New("--auth=jwt needs one of --jwt-secret-file, --jwt-public-key-file and --jwt-jwks-file"))
		}
	default:
		errs = append(errs, fmt.Errorf("--auth=%q: use none or jwt", c.authMode))
	}
	l := s.Limits
	if s.PublishRate < 0 || s.Connections.Max < 1 || s.Connections.PerAddress < 1 || s.WebSocket.MaxSubscriptions < 1 ||
		s.WebSocket.InitTimeout <= 0 || l.MaxDepth < 1 || l.MaxComplexity < 1 || l.MaxStorageReads < 1 || s.ClientReads < 1 ||
		s.Hub.MaxFilterCost < 1 || l.Document.MaxTokens < 1 || l.Document.MaxFields < 1 || l.Document.MaxOverlaps < 1 || l.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("limits must be positive (--publish-rate may be 0: no limit; --max-response-bytes 0: its default)"))
	}
	if _, _, err := natsflag.ParseSync(c.natsSync); err != nil {
		errs = append(errs, err)
	} else if err := s.Validate(); err != nil {
		// What the server checks itself: NATS, replicas on the embedded
		// server, the shutdown delay.
		errs = append(errs, err)
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

// serverConfig is the server's whole configuration: the flags' with the
// typed events loaded, the JWT key loaded, log, and metrics on a registry
// of their own.
func (c config) serverConfig(log *slog.Logger) (server.Config, error) {
	cfg := c.server
	cfg.Logger = log
	cfg.Metrics = metrics.New(prometheus.NewRegistry())
	if len(c.schema) > 0 {
		events, err := eventschema.Load(c.schema...)
		if err != nil {
			return cfg, fmt.Errorf("--schema: %w", err)
		}
		cfg.Events = events
	}
	if c.authMode == "none" {
		return cfg, nil
	}
	v, err := jwtauth.New(c.jwt)
	if err != nil {
		// validate saw to it that exactly one key flag is set.
		flag := "--jwt-jwks-file"
		switch {
		case c.jwt.SecretFile != "":
			flag = "--jwt-secret-file"
		case c.jwt.PublicKeyFile != "":
			flag = "--jwt-public-key-file"
		}
		return cfg, fmt.Errorf("%s: %w", flag, err)
	}
	cfg.Auth = v
	return cfg, nil
}
