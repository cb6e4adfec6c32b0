package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/scenario"
)

// TestCrashLoop: the server is SIGKILLed and restarted 20 times while
// events are published at a steady rate and 50 clients resume with their
// cursors. Every acknowledged event reaches every client exactly once, in
// order.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server 21 times; run without -short")
	}
	const restarts, clients = 20, 50
	env := []string{"DATA_DIR=" + t.TempDir(), "ADDR=" + proctest.FreeAddr(t).String()} // the same address each time
	instances := scenario.NewFleet(proctest.StartRewind(t, "rewind-0", env...))
	s := scenario.New(t, "crash", instances)
	for range clients {
		s.Follow(0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := s.LoadAsync(ctx, []int{0}, 100)
	for i := range restarts {
		s.WaitReceived(s.Published() + 20) // the server serves again before it dies again
		instances.Get(0).Kill9(t)
		instances.Set(0, proctest.StartRewind(t, fmt.Sprintf("rewind-%d", i+1), env...))
	}
	s.WaitReceived(s.Published() + 20)
	cancel()
	<-done
	t.Log(s.Verify())
}

// TestBrokerRestart: the external NATS server is SIGKILLed and restarted
// under load; the live tail recovers by itself and clients lose nothing.
func TestBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a nats-server process; run without -short")
	}
	nats := proctest.StartNATSCluster(t, 1)
	instances := scenario.NewFleet(proctest.StartRewind(t, "rewind", "NATS_URL="+nats.URLs()))
	s := scenario.New(t, "broker", instances)
	for range 10 {
		s.Follow(0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := s.LoadAsync(ctx, []int{0}, 200)
	for range 3 {
		s.WaitReceived(s.Published() + 100)
		nats.Nodes[0].Proc.Kill9(t)
		nats.Start(0)
	}
	s.WaitReceived(s.Published() + 100)
	cancel()
	<-done
	t.Log(s.Verify())
}
