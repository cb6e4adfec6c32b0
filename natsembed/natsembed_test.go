package natsembed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Config{DataDir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second server on the same data dir: %v, want ErrLocked", err)
	}
	s.Shutdown()
	s, err = Start(Config{DataDir: dir})
	if err != nil {
		t.Fatalf("after shutdown: %v", err)
	}
	s.Shutdown()
}

// TestDataDirLockNamesHolder: the refusal names the process holding the
// folder, read from the lock file.
func TestDataDirLockNamesHolder(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	_, err = Start(Config{DataDir: dir})
	var locked *LockedError
	if !errors.As(err, &locked) || locked.PID != os.Getpid() || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second server on the same data dir: %v, want a LockedError naming pid %d", err, os.Getpid())
	}
}

// TestListenInUse: a taken Listen address fails Start at once with
// ErrListen and the cause, and releases the data dir.
func TestListenInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	start := time.Now()
	_, err = Start(Config{DataDir: dir, Listen: l.Addr().String()})
	if !errors.Is(err, ErrListen) || !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("Start on a taken port: %v, want ErrListen, EADDRINUSE and the address", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to fail", d) // not a timing assertion: it waited 30s before the fix
	}
	s, err := Start(Config{DataDir: dir})
	if err != nil {
		t.Fatalf("data dir still locked after the failed start: %v", err)
	}
	s.Shutdown()
}

// TestStartFatal: an error nats-server reports only to its logger ends
// Start at once. A port taken between the check and the server's own
// listen is one; so is an unusable store folder, used here.
func TestStartFatal(t *testing.T) {
	dir := t.TempDir()
	// JetStream's folder is a file: JetStream cannot start.
	if err := os.WriteFile(filepath.Join(dir, "jetstream"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := Start(Config{DataDir: dir})
		if err == nil {
			s.Shutdown()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("started on an unusable folder")
		}
		t.Log(err)
	case <-time.After(20 * time.Second):
		t.Fatal("Start still waiting 20s later")
	}
}
