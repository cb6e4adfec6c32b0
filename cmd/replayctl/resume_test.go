package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rewind-dev/rewind/eventstore"
)

// shellWords splits a command line as a POSIX shell does for what
// shellQuote writes: words separated by spaces, 'single quotes' and
// "double quotes" kept together.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == ' ':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				t.Fatalf("unbalanced quote in %q", line)
			}
			w.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// resumeLine returns the command of stderr's "resume with:" hint.
func resumeLine(t *testing.T, stderr string) []string {
	t.Helper()
	m := regexp.MustCompile(`resume with: (.*)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no resume hint:\n%s", stderr)
	}
	words := shellWords(t, m[1])
	if len(words) == 0 || words[0] != "replayctl" {
		t.Fatalf("resume hint %q is not a replayctl command", m[1])
	}
	return words[1:]
}

// TestResumeHintPastes: the hint tail prints carries the connection flags
// given (before or after the command) and the command's own, so that
// running it goes on exactly after the last event printed.
func TestResumeHintPastes(t *testing.T) {
	f := newFixture(t)
	// A second stream, so that forgetting --stream would read the wrong one.
	other := f.nats.Store(eventstore.Config{Stream: "OTHER", SubjectPrefix: "other"})
	var evs []eventstore.Event
	for i := range 5 {
		ev, err := other.Append(context.Background(), eventstore.Event{Topic: "orders.eu", Type: "created", Data: []byte(`{"n":` + string(rune('0'+i)) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	first := cli(t, nil, "--nats-url", f.url, "tail", "--stream", "OTHER", "--topic", "orders.eu", "--json",
		"--after", "00000000000000000000000000", "--limit", "2").ok(t)
	if !strings.Contains(first.stderr, "stopped after 2 events; last id "+evs[1].ID.String()) {
		t.Fatalf("stderr:\n%s", first.stderr)
	}
	args := resumeLine(t, first.stderr)
	for _, want := range []string{"--nats-url", f.url, "--stream", "OTHER"} {
		if !strings.Contains(strings.Join(args, " "), want) {
			t.Errorf("resume hint %q lacks %s", args, want)
		}
	}
	second := cli(t, nil, args...).ok(t)
	if got := lineIDs(lines[eventLine](t, second.stdout)); !equal(got, ids(evs[2:4])) {
		t.Fatalf("the pasted hint %q printed %v, want %v", args, got, ids(evs[2:4]))
	}
	// One event: singular.
	third := cli(t, nil, append(resumeLine(t, second.stderr)[:len(args)-2], "--after", evs[3].ID.String(), "--limit", "1")...).ok(t)
	if !strings.Contains(third.stderr, "stopped after 1 event; last id "+evs[4].ID.String()) {
		t.Errorf("stderr:\n%s", third.stderr)
	}
}

// TestResumeHintHidesSecrets: a NATS password in the hint is a reference
// to NATS_PASSWORD, not the password.
func TestResumeHintHidesSecrets(t *testing.T) {
	a := newApp(nil, nil, nil)
	a.cmd = tailCommand()
	fs := a.flagSet(a.cmd)
	fs.String("topic", "", "")
	if err := fs.Parse([]string{"--nats-url", "nats://h:4222", "--nats-user", "u", "--nats-password", "p4ss", "--topic", "a b"}); err != nil {
		t.Fatal(err)
	}
	a.conn.noteSet(fs)
	got := a.resumeCommand(fs, "--after", "X")
	want := `replayctl --nats-password "$NATS_PASSWORD" --nats-url nats://h:4222 --nats-user u tail --topic 'a b' --after X`
	if got != want {
		t.Errorf("resume hint\n %s\nwant\n %s", got, want)
	}
}

// TestImportDryRunEmptyFolder: a dry run into a data folder with nothing
// in it yet checks the file and counts, as the import itself would store.
func TestImportDryRunEmptyFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(t.TempDir(), "in.ndjson")
	line := `{"id":"01M8AB89FYVCMXQY5JACWVPNP9","topic":"orders.us","type":"created","data":{"n":1}}`
	if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "--data-dir", dir, "import", "--dry-run", path).ok(t)
	if !strings.Contains(r.stderr, "would import 1 event, skipped 0") {
		t.Errorf("dry run: %s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err == nil {
		t.Errorf("the dry run created JetStream's files in %s", dir)
	}
	r = cli(t, nil, "--data-dir", dir, "import", "--yes", path).ok(t)
	if !strings.Contains(r.stderr, "imported 1 event") {
		t.Errorf("import: %s", r.stderr)
	}
}
