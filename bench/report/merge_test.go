package report

import "testing"

func TestMerge(t *testing.T) {
	old := "# Benchmarks\n\nold header\n\n## Targets\n\n| # | w |\n|---|---|\n| 1 | old fan-out a |\n| 1 | old fan-out b |\n| 2 | old replay |\n\n" +
		"## 1. Fan-out\n\nold fan-out text\n\n## 2. Catch-up replay\n\nold replay\n\nRaw results of this run: x.\n"
	fresh := "# Benchmarks\n\nnew header\n\n## Targets\n\n| # | w |\n|---|---|\n| 1 | new fan-out a |\n| 1 | new fan-out b |\n| 1 | new typed |\n\n" +
		"## 1. Fan-out\n\nnew fan-out text\n\n### Typed\n\nnew typed\n\nRaw results of this run: y.\n"
	got, err := Merge(old, fresh, []int{1}, "> measured later")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Benchmarks\n\nold header\n\n## Targets\n\n| # | w |\n|---|---|\n| 1 | new fan-out a |\n| 1 | new fan-out b |\n| 1 | new typed |\n| 2 | old replay |\n\n" +
		"## 1. Fan-out\n\n> measured later\n\nnew fan-out text\n\n### Typed\n\nnew typed\n\n## 2. Catch-up replay\n\nold replay\n\nRaw results of this run: x.\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	// A workload the old report lacks is an error, not a silent no-op.
	if _, err := Merge(old, fresh, []int{6}, ""); err == nil {
		t.Error("merging a section neither report has succeeded")
	}

	// A workload new since the old report was written goes after the
	// section before it, before the link to the raw results.
	fresh3 := "# Benchmarks\n\n## Targets\n\n| # | w |\n|---|---|\n\n## 3. Cursor resolution\n\nnew cursor\n\nRaw results of this run: y.\n"
	got, err = Merge(old, fresh3, []int{3}, "")
	if err != nil {
		t.Fatal(err)
	}
	want = "# Benchmarks\n\nold header\n\n## Targets\n\n| # | w |\n|---|---|\n| 1 | old fan-out a |\n| 1 | old fan-out b |\n| 2 | old replay |\n\n" +
		"## 1. Fan-out\n\nold fan-out text\n\n## 2. Catch-up replay\n\nold replay\n\n## 3. Cursor resolution\n\nnew cursor\n\nRaw results of this run: x.\n"
	if got != want {
		t.Errorf("new section: got\n%s\nwant\n%s", got, want)
	}
}
