package main

import (
	"fmt"
	"io"
	"time"
)

// progress shows how far long work has come (events done, rate, ETA) on
// one rewritten line of a terminal, at most a few times a second. It
// writes nothing when stderr is not a terminal.
type progress struct {
	w     io.Writer // nil: quiet
	label string
	total int64 // 0: unknown, no ETA
	now   func() time.Time

	n           int64
	start, last time.Time
	shown       bool
}

const progressEvery = 250 * time.Millisecond

func (a *app) progress(label string, total int64) *progress {
	p := &progress{label: label, total: total, now: time.Now}
	if isTerminal(a.stderr) {
		p.w = a.stderr
	}
	p.start = p.now()
	p.last = p.start
	return p
}

func (p *progress) add(n int) {
	p.n += int64(n)
	if p.w == nil {
		return
	}
	if now := p.now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(now))
		p.shown = true
	}
}

// line is the progress text at now.
func (p *progress) line(now time.Time) string {
	elapsed := now.Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.n) / elapsed.Seconds()
	}
	s := fmt.Sprintf("%s: %s events, %s/s", p.label, formatCount(p.n), formatCount(int64(rate)))
	if p.total > 0 {
		s += fmt.Sprintf(", %d%%", min(100, p.n*100/p.total))
		if rate > 0 && p.n < p.total {
			eta := time.Duration(float64(p.total-p.n) / rate * float64(time.Second)).Round(time.Second)
			s += fmt.Sprintf(", ETA %s", eta)
		}
	}
	return s
}

// done clears the progress line.
func (p *progress) done() {
	if p.w != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
