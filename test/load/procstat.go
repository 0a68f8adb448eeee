package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// Linux has fixed it at 100 on every architecture Go supports.
const clockTicks = 100

// procUsage is one reading of a process's resource use.
type procUsage struct {
	CPU     time.Duration // user + system time since the process started
	RSS     int64         // resident set size now, bytes
	PeakRSS int64         // VmHWM: the highest RSS so far, bytes
	// Mallocs and AllocBytes are the Go runtime's cumulative heap
	// allocations (objects, bytes), from the process's /metrics.
	Mallocs, AllocBytes float64
}

// readProc reads pid's CPU time and memory from /proc.
func readProc(pid int) (procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, fmt.Errorf("read stat: %w", err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procUsage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procUsage{}, fmt.Errorf("read status: %w", err)
	}
	rss, err := statusKB(status, "VmRSS:")
	if err != nil {
		return procUsage{}, err
	}
	hwm, err := statusKB(status, "VmHWM:")
	if err != nil {
		return procUsage{}, err
	}
	return procUsage{CPU: cpu, RSS: rss, PeakRSS: hwm}, nil
}

// parseStatCPU returns utime+stime from the contents of /proc/<pid>/stat.
// The command name (field 2) is parenthesised and may hold spaces, so the
// fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// After ')': state is field 3, utime field 14, stime field 15.
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("parse stat: %d fields", len(f)+2)
	}
	u, err := strconv.ParseInt(f[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse stat utime: %w", err)
	}
	s, err := strconv.ParseInt(f[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse stat stime: %w", err)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// statusKB returns the value of a "Key:   123 kB" line of
// /proc/<pid>/status, in bytes.
func statusKB(status []byte, key string) (int64, error) {
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, key)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse status %s %q", key, strings.TrimSpace(rest))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse status %s: %w", key, err)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("parse status: no %s line", key)
}
