package flagvalue

import (
	"errors"
	"flag"
	"io"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "15m", want: 15 * time.Minute},
		{in: "720h", want: 720 * time.Hour},
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "2d30m", want: 48*time.Hour + 30*time.Minute},
		{in: "0", want: 0},
		{in: "0d", want: 0},
		{in: "-1d", want: -24 * time.Hour},
		{in: "abc", err: true},
		{in: "a month", err: true},
		{in: "30", err: true},
		{in: "d", err: true},
		{in: "1e3d", err: true},
		{in: "1d-1h", err: true},
		{in: "42088d", want: 42088 * 24 * time.Hour},
		{in: "106752d", err: true},
		{in: "106751d", want: 106751 * 24 * time.Hour},
		{in: "106751d24h", err: true},
		{in: "1d1d", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err {
			if !errors.Is(err, ErrDuration) {
				t.Errorf("ParseDuration(%q) = %v, %v; want ErrDuration", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if ErrDuration.Error() != "use a duration such as 90s, 15m, 12h or 30d" {
		t.Errorf("the error says %q", ErrDuration)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "1048576", want: 1 << 20},
		{in: "2MiB", want: 2 << 20},
		{in: "2mib", want: 2 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "1GiB", want: 1 << 30},
		{in: "2MB", want: 2_000_000},
		{in: "2M", want: 2_000_000},
		{in: "1.5kB", want: 1500},
		{in: "10 GB", want: 10_000_000_000},
		{in: "0", want: 0},
		{in: "64B", want: 64},
		{in: "-1", err: true},
		{in: "lots", err: true},
		{in: "2XB", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err {
			if !errors.Is(err, ErrSize) {
				t.Errorf("ParseSize(%q) = %v, %v; want ErrSize", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestFlags: each value works as a flag, keeps its default, and a boolean
// needs no argument.
func TestFlags(t *testing.T) {
	d, n, n32, b := 2*time.Minute, 0, int32(0), true
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(NewDuration(&d), "age", "")
	fs.Var(NewSize(&n), "size", "")
	fs.Var(NewSize(&n32), "small", "")
	fs.Var(NewBool(&b), "on", "")
	if got := fs.Lookup("age").DefValue; got != "2m0s" {
		t.Errorf("default shown as %q", got)
	}
	if err := fs.Parse([]string{"--age=1d", "--size", "2MiB", "--on"}); err != nil {
		t.Fatal(err)
	}
	if d != 24*time.Hour || n != 2<<20 || !b {
		t.Fatalf("got %v %v %v", d, n, b)
	}
	if got := fs.Lookup("age").Value.String(); got != "1d" {
		t.Errorf("1d shown as %q", got)
	}
	if err := fs.Set("on", "yes"); !errors.Is(err, ErrBool) {
		t.Errorf("--on=yes: %v", err)
	}
	if err := fs.Set("small", "3GiB"); err == nil {
		t.Errorf("3GiB fits an int32: %d", n32)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "1.5d", "90s", "-1d", "d", "1e3d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		// What it reads, it reads back the same when written out.
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1048576", "2MiB", "2MB", "512 KiB", "-1", "1.5kB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseSize(s); err == nil && n < 0 {
			t.Fatalf("%q -> %d", s, n)
		}
	})
}
