package main

import (
	"context"
	"testing"
	"time"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/scenario"
)

// The cluster scenarios: a three-node JetStream cluster with an R3 stream,
// two Rewind instances on it, load, and faults. Each asserts exact
// delivery: every acknowledged event reaches every resuming client once,
// in stream order.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster scenarios start five processes; run without -short")
	}
	nats := proctest.StartNATSCluster(t, 3)
	env := []string{"NATS_URL=" + nats.URLs(), "REPLICAS=3"}
	a := proctest.StartRewind(t, "rewind-a", env...)
	b := proctest.StartRewind(t, "rewind-b", env...)
	instances := scenario.NewFleet(a, b)
	parent := t // processes that outlive one scenario belong to the whole test

	t.Run("publish on A reaches subscribers on A and B", func(t *testing.T) {
		s := scenario.New(t, "s1", instances)
		s.Follow(0)
		s.Follow(1)
		s.Load(ctxFor(t, 3*time.Second), []int{0}, 200)
		t.Log(s.Verify())
	})

	t.Run("SIGKILL instance A under load; its clients resume on B", func(t *testing.T) {
		s := scenario.New(t, "s2", instances)
		s.Follow(0)
		s.Follow(0)
		s.Follow(1)
		ctx, cancel := context.WithCancel(context.Background())
		done := s.LoadAsync(ctx, []int{0, 1}, 300)
		s.WaitReceived(200)
		instances.Get(0).Kill9(t)
		s.WaitReceived(s.Published() + 200) // B keeps serving everyone
		cancel()
		<-done
		t.Log(s.Verify())
		instances.Set(0, proctest.StartRewind(parent, "rewind-a2", env...))
	})

	t.Run("SIGKILL the stream leader NATS node under load, then restart it", func(t *testing.T) {
		s := scenario.New(t, "s3", instances)
		s.Follow(0)
		s.Follow(1)
		ctx, cancel := context.WithCancel(context.Background())
		done := s.LoadAsync(ctx, []int{0, 1}, 300)
		s.WaitReceived(200)
		leader := nats.StreamLeader("REWIND")
		nats.Nodes[leader].Proc.Kill9(t)
		s.WaitReceived(s.Published() + 200)
		nats.Start(leader)
		s.WaitReceived(s.Published() + 200)
		cancel()
		<-done
		t.Log(s.Verify())
	})

	t.Run("rolling restart of every NATS node under load", func(t *testing.T) {
		s := scenario.New(t, "s4", instances)
		s.Follow(0)
		s.Follow(1)
		ctx, cancel := context.WithCancel(context.Background())
		done := s.LoadAsync(ctx, []int{0, 1}, 300)
		s.WaitReceived(200)
		for i := range nats.Nodes {
			nats.Nodes[i].Proc.Stop(t, 30*time.Second)
			nats.Start(i)
			nats.WaitCurrent(i, 60*time.Second)
			s.WaitReceived(s.Published() + 100)
		}
		cancel()
		<-done
		t.Log(s.Verify())
	})
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
