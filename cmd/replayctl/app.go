package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"

	"github.com/rewind-dev/rewind/eventschema"
	"github.com/rewind-dev/rewind/eventstore"
	"github.com/rewind-dev/rewind/internal/flagvalue"
	"github.com/rewind-dev/rewind/internal/natsflag"
	"github.com/rewind-dev/rewind/natsconn"
	"github.com/rewind-dev/rewind/natsembed"
)

// app is one invocation: its streams, connection settings and what it
// opened, closed by close.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	cmd     *command
	conn    connFlags
	closers []func()
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, conn: defaultConnFlags()}
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// isTerminal reports whether v is a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// interactive reports whether a person is probably at the keyboard: then
// commands that append ask for --yes.
func (a *app) interactive() bool {
	return isTerminal(a.stdin) || isTerminal(a.stdout) || isTerminal(a.stderr)
}

// connFlags are the server's connection flags, accepted before or after
// the command and read from the same environment variables.
type connFlags struct {
	nats            natsconn.Config // an external NATS
	dataDir, stream string
	schema          []string // typed event declarations that appends are checked against
	set             map[string]bool
}

var connEnv = natsflag.WithEnv(map[string]string{"data-dir": "DATA_DIR", "stream": "STREAM", "schema": "SCHEMA"})

func defaultConnFlags() connFlags {
	return connFlags{dataDir: "./data", stream: eventstore.DefaultStream, set: map[string]bool{}}
}

// register adds the connection flags to fs with their current values as
// defaults, so that flags given before the command carry over.
func (c *connFlags) register(fs *flag.FlagSet) {
	if c.set == nil {
		*c = defaultConnFlags()
	}
	natsflag.Bind(fs, &c.nats, "open the embedded JetStream in --data-dir")
	fs.StringVar(&c.dataDir, "data-dir", c.dataDir, "the embedded JetStream's `folder`, when no server uses it")
	fs.StringVar(&c.stream, "stream", c.stream, "JetStream stream `name`")
	fs.Var(flagvalue.NewStrings(&c.schema), "schema", "the server's typed event declarations (`file or folder`, repeatable): import and replay --to topic: check events against them")
}

func (c *connFlags) noteSet(fs *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
}

// fromEnv sets the connection flags given neither before nor after the
// command from the environment; an empty variable counts as unset.
func (c *connFlags) fromEnv(fs *flag.FlagSet) error {
	for name, key := range connEnv {
		if v := os.Getenv(key); v != "" && !c.set[name] {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s=%q: %w", key, v, err)
			}
		}
	}
	return nil
}

func (c *connFlags) validate() error {
	if err := c.nats.Validate(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// where names the store for messages.
func (c *connFlags) where() string {
	if c.nats.URL != "" {
		return fmt.Sprintf("stream %s at %s", c.stream, natsconn.Redacted(c.nats.URL))
	}
	return fmt.Sprintf("stream %s in %s", c.stream, c.dataDir)
}

// errNoStream: the stream does not exist (yet). errNoData: --data-dir
// holds no JetStream files (yet).
var (
	errNoStream = errors.New("no such stream")
	errNoData   = errors.New("no JetStream data")
)

// openMode says what open may do when the stream is missing.
type openMode int

const (
	mustExist openMode = iota
	mayCreate          // import into a new server
)

// open connects to NATS (or starts the embedded server on --data-dir) and
// opens the event store on the existing stream with its own settings, so
// that opening it changes nothing.
func (a *app) open(ctx context.Context, mode openMode) (*eventstore.Store, error) {
	nc, err := a.connect(mode)
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cfg, err := eventstore.LoadConfig(octx, nc, a.conn.stream)
	switch {
	case errors.Is(err, eventstore.ErrStreamNotFound) && mode == mayCreate:
		cfg = eventstore.Config{Stream: a.conn.stream}
	case errors.Is(err, eventstore.ErrStreamNotFound):
		return nil, fmt.Errorf("%s: %w (nothing was published yet, or --stream is wrong)", a.conn.where(), errNoStream)
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s: %w", a.conn.where(), err)
	}
	if cfg.Check, err = a.check(); err != nil {
		return nil, err
	}
	store, err := eventstore.Open(octx, nc, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("open %s: %w", a.conn.where(), err)
	}
	return store, nil
}

// check returns the check of --schema's declared event types, nil without
// a schema.
func (a *app) check() (func(eventstore.Event) error, error) {
	events, err := a.events()
	if events == nil || err != nil {
		return nil, err
	}
	return events.Check, nil
}

// events loads --schema's declared event types; nil without a schema.
func (a *app) events() (*eventschema.Schema, error) {
	if len(a.conn.schema) == 0 {
		return nil, nil
	}
	events, err := eventschema.Load(a.conn.schema...)
	if err != nil {
		return nil, usagef("--schema: %v", err)
	}
	return events, nil
}

func (a *app) connect(mode openMode) (*nats.Conn, error) {
	c := &a.conn
	opts := []nats.Option{
		nats.Name("replayctl"),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}
	if c.nats.URL != "" {
		opts = append(opts, c.nats.Options()...)
		nc, err := nats.Connect(c.nats.URL, opts...)
		if err != nil {
			return nil, fmt.Errorf("cannot reach NATS at %s: %w", natsconn.Redacted(c.nats.URL), err)
		}
		a.closers = append(a.closers, nc.Close)
		return nc, nil
	}

	if _, err := os.Stat(filepath.Join(c.dataDir, "jetstream")); err != nil && mode == mustExist {
		return nil, fmt.Errorf("%w in %s: pass the server's --data-dir, or --nats-url to reach a running server", errNoData, c.dataDir)
	}
	ns, err := natsembed.Start(natsembed.Config{DataDir: c.dataDir})
	var locked *natsembed.LockedError
	if errors.As(err, &locked) {
		holder := "probably by a running Rewind server"
		if locked.PID != 0 {
			holder = fmt.Sprintf("by process %d, probably a running Rewind server", locked.PID)
		}
		return nil, fmt.Errorf("%s is in use %s: connect to the server instead, "+
			"with --nats-url nats://HOST:PORT, after starting it with --nats-listen HOST:PORT (e.g. 127.0.0.1:4222)", c.dataDir, holder)
	}
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, ns.Shutdown)
	nc, err := ns.Connect(opts...)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, nc.Close)
	return nc, nil
}
