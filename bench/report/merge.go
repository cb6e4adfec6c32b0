package report

import (
	"fmt"
	"strings"
)

// Workloads numbers each workload as its section and target rows do.
var Workloads = map[string]int{"fanout": 1, "replay": 2, "cursor": 3, "conns": 4, "publish": 5, "mixed": 6, "durable": 7, "cluster": 8}

// Merge puts the sections and target rows of the workloads numbered nums
// from fresh, a report of a run of those workloads only, into old, a
// report of a full run, and keeps everything else of old: a run of one
// workload then updates BENCHMARKS.md without discarding the others'
// figures. note, if set, is put under each replaced section's heading (to
// say when that section was measured). A section old lacks (a workload
// new since old was written) goes after the section numbered before it.
func Merge(old, fresh string, nums []int, note string) (string, error) {
	for _, n := range nums {
		heading := fmt.Sprintf("## %d. ", n)
		fi, fj, ok := section(fresh, heading)
		if !ok {
			return "", fmt.Errorf("merge: the new report has no section %q", heading)
		}
		oi, oj, ok := section(old, heading)
		if !ok {
			_, prev, found := section(old, fmt.Sprintf("## %d. ", n-1))
			if !found {
				return "", fmt.Errorf("merge: the old report has neither section %q nor the one before it", heading)
			}
			oi, oj = prev, prev
		}
		body := fresh[fi:fj]
		if note != "" {
			if k := strings.Index(body, "\n\n"); k >= 0 {
				body = body[:k+2] + note + "\n\n" + body[k+2:]
			}
		}
		old = old[:oi] + body + old[oj:]
		old = mergeRows(old, fresh, fmt.Sprintf("| %d | ", n))
	}
	return old, nil
}

// section finds the span of the section that starts with heading: up to
// the next heading or the link to the raw results.
func section(md, heading string) (int, int, bool) {
	i := strings.Index(md, heading)
	if i < 0 || (i > 0 && md[i-1] != '\n') {
		return 0, 0, false
	}
	end := len(md)
	rest := md[i+len(heading):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		end = i + len(heading) + j + 1
	} else if j := strings.Index(rest, "\nRaw results of this run"); j >= 0 {
		end = i + len(heading) + j + 1
	}
	return i, end, true
}

// mergeRows replaces old's target rows that start with prefix by fresh's,
// where the first of them was (or after the last row, if old had none).
func mergeRows(old, fresh, prefix string) string {
	oi, oj, ok := section(old, "## Targets")
	if !ok {
		return old
	}
	fi, fj, ok := section(fresh, "## Targets")
	if !ok {
		return old
	}
	var rows []string
	for _, l := range strings.SplitAfter(fresh[fi:fj], "\n") {
		if strings.HasPrefix(l, prefix) {
			rows = append(rows, l)
		}
	}
	var out []string
	placed, last := false, -1
	for _, l := range strings.SplitAfter(old[oi:oj], "\n") {
		switch {
		case strings.HasPrefix(l, prefix):
			if !placed {
				out, placed = append(out, rows...), true
			}
			continue
		case strings.HasPrefix(l, "| "):
			last = len(out)
		}
		out = append(out, l)
	}
	if !placed && last >= 0 {
		out = append(out[:last+1], append(rows, out[last+1:]...)...)
	}
	return old[:oi] + strings.Join(out, "") + old[oj:]
}
