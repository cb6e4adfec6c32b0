// Command replayctl is Rewind's admin CLI: it lists topics and events,
// tails topics with the subscriptions' replay-then-live semantics, replays
// a range of events to stdout, a webhook or another topic, exports and
// imports events with their ids, and shows the stream's state. It talks to
// JetStream directly through the eventstore and replay packages, and
// changes data only in `replay --to topic:...` and `import`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1 // the command could not do its work
	exitUsage       = 2 // bad flags, arguments or ids
	exitInterrupted = 130
)

// command is one subcommand.
type command struct {
	name    string
	args    string // after the flags, in the usage line
	summary string
	details string
	example string
	run     func(ctx context.Context, a *app, args []string) error
}

func commands() []*command {
	return []*command{
		topicsCommand(), eventsCommand(), tailCommand(), replayCommand(),
		exportCommand(), importCommand(), statsCommand(), checkCommand(), traceCommand(),
	}
}

// run is the whole program with its surroundings passed in, so that tests
// run it in-process. It returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	defer a.close()
	err := a.dispatch(ctx, args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "replayctl: %v\n", err)
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "replayctl: interrupted")
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "replayctl: %v\n", err)
		return exitFailure
	}
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct {
	msg  string
	hint string // e.g. "run 'replayctl events --help'"
}

func (e *usageError) Error() string {
	if e.hint == "" {
		return e.msg
	}
	return e.msg + "\n" + e.hint
}

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	global := flag.NewFlagSet("replayctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	global.Usage = func() {}
	a.conn.register(global)
	if i := commandIndex(global, args); i > 0 {
		// Flags before the command are the command's too: --table topics
		// is topics --table. (Its flag set holds the connection flags.)
		args = append(append(args[i:i+1:i+1], args[:i]...), args[i+1:]...)
	}
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printUsage(a.stdout)
			return err
		}
		return &usageError{msg: err.Error(), hint: "run 'replayctl --help' for usage"}
	}
	a.conn.noteSet(global)
	rest := global.Args()
	if len(rest) == 0 {
		a.printUsage(a.stderr)
		return &usageError{msg: "no command given"}
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			a.printUsage(a.stdout)
			return nil
		}
		name, rest = rest[0], []string{"--help"}
	}
	i := slices.IndexFunc(commands(), func(c *command) bool { return c.name == name })
	if i < 0 {
		return &usageError{msg: fmt.Sprintf("unknown command %q", name), hint: "run 'replayctl --help' for the commands"}
	}
	cmd := commands()[i]
	a.cmd = cmd
	return cmd.run(ctx, a, rest)
}

// commandIndex is the position in args of the command: the first argument
// that is not a flag or a flag's value, or -1. A flag that global does not
// define is taken for a boolean when a command's name follows it, and
// otherwise for a flag with a value: a value that is also a command's name
// (--topic stats stats) needs the --flag=value form before the command.
func commandIndex(global *flag.FlagSet, args []string) int {
	isCommand := func(s string) bool {
		return s == "help" || slices.ContainsFunc(commands(), func(c *command) bool { return c.name == s })
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return -1 // the flag package's end of flags: leave it to Parse
		}
		if len(arg) < 2 || arg[0] != '-' {
			return i
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if hasValue || i+1 == len(args) {
			continue
		}
		if f := global.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				i++ // its value
			}
			continue
		}
		if !isCommand(args[i+1]) && !strings.HasPrefix(args[i+1], "-") {
			i++ // the value of a command's flag
		}
	}
	return -1
}

func (a *app) printUsage(w io.Writer) {
	fmt.Fprint(w, `replayctl: Rewind's admin CLI. Inspect, tail, replay, export and import events.

Usage: replayctl [flags] COMMAND [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nConnection flags (before or after the command, like every command's flags):\n")
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	var c connFlags
	c.register(fs)
	printFlags(w, fs, func(string) bool { return true })
	fmt.Fprint(w, `
Without --nats-url, replayctl opens the embedded JetStream in --data-dir, which
works only while no server uses that folder; to reach a running server, start it
with --nats-listen 127.0.0.1:4222 and pass --nats-url nats://127.0.0.1:4222.

Output is a table on a terminal and NDJSON when piped (or with --json).
Exit codes: 0 done, 1 failed, 2 bad usage, 130 interrupted.
Run 'replayctl COMMAND --help' for a command's flags and an example.
`)
}

// flagSet returns the command's flag set, with the connection flags.
func (a *app) flagSet(cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.conn.register(fs)
	return fs
}

// parse parses a command's flags, then fills unset connection flags from
// the environment. It prints the command's help for -h and --help.
func (a *app) parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		a.printCommandUsage(a.stdout, fs)
		return err
	}
	if err != nil {
		return &usageError{msg: err.Error(), hint: fmt.Sprintf("run 'replayctl %s --help' for usage", a.cmd.name)}
	}
	a.conn.noteSet(fs)
	if err := a.conn.fromEnv(fs); err != nil {
		return &usageError{msg: err.Error()}
	}
	return a.conn.validate()
}

func (a *app) printCommandUsage(w io.Writer, fs *flag.FlagSet) {
	c := a.cmd
	fmt.Fprintf(w, "Usage: replayctl %s [flags]", c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, "\n\n%s.\n", strings.ToUpper(c.summary[:1])+c.summary[1:])
	if c.details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.details))
	}
	fmt.Fprintf(w, "\nExample:\n%s\n\nFlags:\n", c.example)
	printFlags(w, fs, func(name string) bool { _, conn := connEnv[name]; return !conn })
	fmt.Fprint(w, "\nConnection flags: see 'replayctl --help'.\n")
}

// printFlags lists the flags keep selects, with their environment
// variables when they have one.
func printFlags(w io.Writer, fs *flag.FlagSet, keep func(string) bool) {
	fs.VisitAll(func(f *flag.Flag) {
		if !keep(f.Name) {
			return
		}
		fmt.Fprintf(w, "  --%s", f.Name)
		if name, _ := flag.UnquoteUsage(f); name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		if env := connEnv[f.Name]; env != "" {
			fmt.Fprintf(w, " (%s)", env)
		}
		_, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "\n    \t%s", usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
