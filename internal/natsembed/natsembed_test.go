package natsembed

import (
	"errors"
	"testing"
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
