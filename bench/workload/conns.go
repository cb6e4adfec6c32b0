package workload

import (
	"context"
	"fmt"
	"time"
)

// ConnsRun is workload 4 for one server: idle WebSocket connections with
// one live subscription each, and what they cost the server in memory.
type ConnsRun struct {
	Peer        string  `json:"peer"`
	Connections int     `json:"connections"`
	RSSBefore   int64   `json:"rss_before"`
	RSSAfter    int64   `json:"rss_after"`
	PerConn     float64 `json:"rss_per_connection"` // bytes
	ConnectTime float64 `json:"connect_seconds"`
	Err         string  `json:"error,omitempty"`
}

// Conns runs workload 4 against peer.
func (e *Env) Conns(ctx context.Context, peer string, n int) ConnsRun {
	r := ConnsRun{Peer: peer, Connections: n}
	if err := e.conns(ctx, peer, n, &r); err != nil {
		r.Err = err.Error()
		e.logf("connections %s: %v", peer, err)
	}
	return r
}

func (e *Env) conns(ctx context.Context, peer string, n int, r *ConnsRun) error {
	srv, err := e.Start(ctx, peer, "")
	if err != nil {
		return err
	}
	defer srv.Stop()
	const topic = "idle"
	pub := newPublisher(srv.URL, 1)
	defer pub.close()
	// A first connection and delivery warm every code path up, so that
	// the baseline holds what does not grow with connections.
	warm, err := openPool(ctx, e.Dialer, srv.URL, topic, 1)
	if err != nil {
		return err
	}
	defer warm.close()
	if err := deliverToAll(ctx, pub, topic, warm); err != nil {
		return err
	}
	before, err := srv.Usage()
	if err != nil {
		return err
	}
	start := time.Now()
	p, err := openPool(ctx, e.Dialer, srv.URL, topic, n)
	if err != nil {
		return err
	}
	defer p.close()
	r.ConnectTime = time.Since(start).Seconds()
	if err := deliverToAll(ctx, pub, topic, p); err != nil {
		return err
	}
	after, err := srv.Usage()
	if err != nil {
		return err
	}
	if peer == Rewind && e.pprofURL != "" {
		for _, name := range []string{"heap", "goroutine"} {
			if err := e.fetchProfile(ctx, name); err != nil {
				e.logf("profile: %v", err)
			}
		}
		e.profileFile, e.pprofURL = "", ""
	}
	r.RSSBefore, r.RSSAfter = before.RSS, after.RSS
	r.PerConn = float64(after.RSS-before.RSS) / float64(n)
	e.logf("connections %s: %d in %.1f s, RSS %d -> %d MiB, %.1f KiB per connection",
		peer, n, r.ConnectTime, before.RSS>>20, after.RSS>>20, r.PerConn/1024)
	return nil
}

// deliverToAll publishes until every connection of p has received an
// event: proof that every subscription is live.
func deliverToAll(ctx context.Context, pub *publisher, topic string, p *pool) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, _, err := pub.paced(ctx, topic, 1, 1000, 1); err != nil {
			return err
		}
		missing := 0
		wait := time.Now().Add(2 * time.Second)
		for {
			missing = 0
			for _, sc := range p.conns {
				sc.mu.Lock()
				if sc.count == 0 {
					missing++
				}
				sc.mu.Unlock()
			}
			if missing == 0 || time.Now().After(wait) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscriptions received nothing within 60s", missing, len(p.conns))
		}
	}
}
