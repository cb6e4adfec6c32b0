package gqlws

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// deadlines counts the write deadlines set on a socket.
type deadlines struct {
	net.Conn
	mu  sync.Mutex
	set int
}

func (d *deadlines) SetWriteDeadline(t time.Time) error {
	d.mu.Lock()
	d.set++
	d.mu.Unlock()
	return d.Conn.SetWriteDeadline(t)
}

// TestCorkedDeadlines: while corked, the deadlines gorilla sets before
// each frame stay off the socket, which gets one for the write that sends
// the burst, and the peer reads every frame in order; uncorked, deadlines
// reach the socket again.
func TestCorkedDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer server.Close()
	sock := &deadlines{Conn: server}
	c := &corkConn{Conn: sock, pool: &sync.Pool{New: func() any { return new([]byte) }}}

	c.cork()
	frames := []string{"one ", "two ", "three"}
	for _, f := range frames {
		// What gorilla does before each frame: a deadline, then the write.
		if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.uncork(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if sock.set != 1 {
		t.Fatalf("a corked burst of %d frames set %d write deadlines on the socket, want 1", len(frames), sock.set)
	}
	want := "one two three"
	got := make([]byte, len(want))
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != want {
		t.Fatalf("peer read %q, %v; want %q", got, err, want)
	}
	if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if sock.set != 2 {
		t.Fatalf("uncorked, a deadline did not reach the socket (%d set)", sock.set)
	}
}
