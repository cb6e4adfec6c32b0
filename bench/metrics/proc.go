package metrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times. It is
// 100 on every Linux the benchmark runs on.
const clockTick = 100

// Usage is a process's resident memory and CPU time at one moment.
type Usage struct {
	At  time.Time
	RSS int64         // bytes
	CPU time.Duration // user + system
}

// ReadUsage reads pid's RSS from /proc/<pid>/status and its CPU time from
// /proc/<pid>/stat. pid 0 is this process.
func ReadUsage(pid int) (Usage, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	u := Usage{At: time.Now()}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return u, err
	}
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return u, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			u.RSS = kb << 10
		}
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return u, err
	}
	// The command name may hold spaces; fields are counted after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("%s/stat: no command name", dir)
	}
	f := bytes.Fields(stat[i+1:])
	// After ')' field 0 is state (field 3 of stat(5)); utime and stime are
	// fields 14 and 15.
	if len(f) < 13 {
		return u, fmt.Errorf("%s/stat: %d fields", dir, len(f))
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("%s/stat: utime %q stime %q", dir, f[11], f[12])
	}
	u.CPU = time.Duration(ut+st) * time.Second / clockTick
	return u, nil
}

// CPUPercent is the CPU used between a and b, in percent of one core.
func CPUPercent(a, b Usage) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.CPU-a.CPU) / float64(wall)
}
