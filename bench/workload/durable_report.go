package workload

import (
	"fmt"
	"strings"
)

// Workload 7's part of BENCHMARKS.md. The report package renders the other
// workloads from Results; workload 7 runs beside the suite, so its section
// and its row of the targets table replace the placeholders report.Write
// leaves for them.

// TargetRow is workload 7's line in the targets table.
func (r *DurableResult) TargetRow() string {
	g, p, ratio := r.Ratio()
	if ratio == 0 {
		return "| 7 | durable publish (group commit), fsync always | >= 10x per-message rate, same run | no figure: see section 7 | **not met** |\n"
	}
	return fmt.Sprintf("| 7 | durable publish, %d appenders, fsync always | >= 10x per-message rate, same run | %.0f vs %.0f events/s: %.2fx | %s |\n",
		g.Appenders, g.Rate, p.Rate, ratio, met(ratio >= 10))
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// Section is workload 7's section of the report.
func (r *DurableResult) Section() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.Config
	w("## 7. Durable publish (group commit)\n\n")
	w("Rewind's append path with JetStream fsyncing before every acknowledgement (`NATS_SYNC=always`, Rewind's default), ")
	w("in the harness process against embedded nats-servers with file stores, as Rewind's server runs them. ")
	w("Each appender calls `eventstore.Store.Append` back to back, waiting for each acknowledgement. ")
	w("**per-message** is the store with group commit off (`--group-commit=false`: one JetStream publish per event), ")
	w("**group-commit** the default (appends made while one is being stored go together as one atomic batch, one fsync for all), ")
	w("and **raw-jetstream-sync** is nats.go's synchronous publish (with a message id) from as many goroutines, without Rewind. ")
	w("Each mode has its own stream; at each concurrency the modes take turns of %s, %d turns each, so that a slow spell of the shared machine or its disk weighs on all of them alike, ", c.Slice, c.Rounds)
	w("and each figure is over all of a mode's turns. At the end every stream is checked to hold exactly the events acknowledged.\n\n")
	if len(r.Errors) > 0 {
		w("Errors:\n\n")
		for _, e := range r.Errors {
			w("- %s\n", oneLineText(e))
		}
		w("\n")
	}
	w("| appenders | mode | events/s | p50 ms | p99 ms | stored by atomic batches | events per batch |\n|---|---|---|---|---|---|---|\n")
	for _, t := range r.Throughput {
		batched, per := "", ""
		if t.Mode == GroupCommit && t.Events > 0 {
			batched = fmt.Sprintf("%.0f%%", 100*float64(t.Batched)/float64(t.Events))
			if t.Batches > 0 {
				per = fmt.Sprintf("%.1f", float64(t.Batched)/float64(t.Batches))
			}
		}
		w("| %d | %s | %.0f | %.2f | %.2f | %s | %s |\n", t.Appenders, t.Mode, t.Rate, t.Latency.P50, t.Latency.P99, batched, per)
	}
	w("\nGroup commit / per message, same run:\n\n| appenders | ratio |\n|---|---|\n")
	for _, n := range c.Appenders {
		if g, p := r.Run(GroupCommit, n), r.Run(PerMessage, n); g != nil && p != nil && p.Rate > 0 {
			w("| %d | %.2fx |\n", n, g.Rate/p.Rate)
		}
	}
	w("\nAt no load: one appender waiting for each acknowledgement, so every append finds nothing in flight and group commit publishes it alone, as per-message does.\n\n")
	w("| mode | events/s | p50 ms | p99 ms | stored by atomic batches |\n|---|---|---|---|---|\n")
	for _, t := range r.Idle {
		w("| %s | %.0f | %.3f | %.3f | %d |\n", t.Mode, t.Rate, t.Latency.P50, t.Latency.P99, t.Batched)
	}
	if len(r.HTTP) > 0 {
		w("\nEnd to end: Rewind's server under workload 5's publishers (%d HTTP clients sending `publish` mutations back to back) for %s each, fsync always, group commit off and on.\n\n", c.HTTPClients, c.HTTPDuration)
		w("| group commit | events/s | p50 ms | p99 ms | server CPU | server CPU µs per publish |\n|---|---|---|---|---|---|\n")
		for _, h := range r.HTTP {
			mode := "on"
			if h.Mode == PerMessage {
				mode = "off"
			}
			if h.Err != "" {
				w("| %s | error: %s |||||\n", mode, oneLineText(h.Err))
				continue
			}
			w("| %s | %.0f | %.2f | %.2f | %.0f%% | %.1f |\n", mode, h.Rate, h.Latency.P50, h.Latency.P99, h.Server.CPUPercent, h.Server.PerItem(h.Published))
		}
	}
	w("\n")
	return b.String()
}

func oneLineText(s string) string {
	s = strings.NewReplacer("\n", " ", "|", "/").Replace(s)
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// Splice puts r's section and target row into a report written by
// report.Write, in place of the placeholders it leaves for workload 7 (or,
// if it has none, the section before the link to the raw results, and the
// row at the end of the targets table).
func (r *DurableResult) Splice(md string) string {
	if r == nil {
		return md
	}
	// The row, within the targets table.
	if t := strings.Index(md, "## Targets\n"); t >= 0 {
		end := len(md)
		if j := strings.Index(md[t+1:], "\n## "); j >= 0 {
			end = t + 1 + j + 1
		}
		lines := strings.SplitAfter(md[t:end], "\n")
		row, last := -1, -1
		for i, l := range lines {
			if strings.HasPrefix(l, "| 7 | ") {
				row = i
			} else if strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| #") && !strings.HasPrefix(l, "|---") {
				last = i
			}
		}
		switch {
		case row >= 0:
			lines[row] = r.TargetRow()
		case last >= 0:
			lines = append(lines[:last+1], append([]string{r.TargetRow()}, lines[last+1:]...)...)
		}
		md = md[:t] + strings.Join(lines, "") + md[end:]
	}

	const heading = "## 7. "
	if i := strings.Index(md, heading); i >= 0 {
		end := len(md)
		if j := strings.Index(md[i+len(heading):], "\n## "); j >= 0 {
			end = i + len(heading) + j + 1
		} else if j := strings.Index(md[i:], "\nRaw results of this run"); j >= 0 {
			end = i + j + 1
		}
		return md[:i] + r.Section() + md[end:]
	}
	if i := strings.Index(md, "Raw results of this run"); i >= 0 {
		return md[:i] + r.Section() + md[i:]
	}
	return md + "\n" + r.Section()
}
