package netfault

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Relay forwards TCP connections to a target through the test process,
// on its address on the bridge, and can delay every byte, each way. It
// stands in for netem's delay, which kernels without sch_netem (this
// project's CI machines among them) refuse: latency is added where the
// bytes pass instead of where the packets do, so it applies to the
// connections made through the relay only.
type Relay struct {
	l      net.Listener
	target string
	delay  atomic.Int64 // time.Duration added to each direction

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Relay starts a relay to target (host:port) that ends with the test.
func (n *Net) Relay(t testing.TB, target string) *Relay {
	t.Helper()
	l, err := net.Listen("tcp", n.subnet+".254:0")
	if err != nil {
		t.Fatalf("relay to %s: %v", target, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &Relay{l: l, target: target, ctx: ctx, stop: stop}
	context.AfterFunc(ctx, func() { l.Close() })
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		stop()
		r.wg.Wait()
	})
	return r
}

// Addr is the relay's host:port.
func (r *Relay) Addr() string { return r.l.Addr().String() }

// SetDelay makes every byte relayed from now on arrive d later, in each
// direction (a round trip takes 2d longer); 0 relays at once.
func (r *Relay) SetDelay(d time.Duration) { r.delay.Store(int64(d)) }

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		in, err := r.l.Accept()
		if err != nil {
			return
		}
		var d net.Dialer
		out, err := d.DialContext(r.ctx, "tcp", r.target)
		if err != nil {
			in.Close()
			continue
		}
		// Either side ending, or the relay, ends both.
		ctx, cancel := context.WithCancel(r.ctx)
		context.AfterFunc(ctx, func() {
			in.Close()
			out.Close()
		})
		r.wg.Add(2)
		go func() {
			defer r.wg.Done()
			r.pipe(ctx, cancel, out, in)
		}()
		go func() {
			defer r.wg.Done()
			r.pipe(ctx, cancel, in, out)
		}()
	}
}

// chunk is bytes read from one side, due at the other at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies from src to dst, each chunk held until its read time plus
// the delay then in force; order is kept. It ends both sides (cancel)
// when either fails.
func (r *Relay) pipe(ctx context.Context, cancel context.CancelFunc, dst io.Writer, src io.Reader) {
	defer cancel()
	chunks := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range chunks {
			if wait := time.Until(c.due); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			if _, err := dst.Write(c.b); err != nil {
				cancel()
				return
			}
		}
	}()
	defer func() {
		close(chunks)
		<-done
	}()
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case chunks <- chunk{b: buf[:n], due: time.Now().Add(time.Duration(r.delay.Load()))}:
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			return // EOF or a closed side: the protocols relayed never half-close
		}
	}
}
