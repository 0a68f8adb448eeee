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
	CPU  time.Duration // user + system time since the process started
	User time.Duration // user time alone
	Sys  time.Duration // system time alone
	// MinorFaults are page faults served without I/O (minflt): a page the
	// process touches for the first time, or again after the runtime gave
	// it back to the kernel.
	MinorFaults int64
	// CtxSwitches are the voluntary and involuntary context switches of
	// every thread, summed from /proc/<pid>/task/*/status.
	CtxSwitches int64
	RSS         int64 // resident set size now, bytes
	PeakRSS     int64 // VmHWM: the highest RSS so far, bytes
	// Mallocs and AllocBytes are the Go runtime's cumulative heap
	// allocations (objects, bytes), from the process's /metrics.
	Mallocs, AllocBytes float64
	// GCCPU is the Go runtime's estimate of the CPU time its garbage
	// collector has used, seconds (/cpu/classes/gc/total:cpu-seconds),
	// from the same /metrics.
	GCCPU float64
}

// readProc reads pid's CPU time and memory from /proc.
func readProc(pid int) (procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, fmt.Errorf("read stat: %w", err)
	}
	st, err := parseStat(stat)
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
	return procUsage{CPU: st.user + st.sys, User: st.user, Sys: st.sys, MinorFaults: st.minflt,
		CtxSwitches: threadSwitches(pid), RSS: rss, PeakRSS: hwm}, nil
}

// threadSwitches sums the context switches of pid's threads. A thread that
// ends between the directory listing and its read is skipped: the count is
// a diagnostic beside the CPU time, not a target.
func threadSwitches(pid int) int64 {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, t := range tasks {
		status, err := os.ReadFile(dir + "/" + t.Name() + "/status")
		if err != nil {
			continue
		}
		n += statusCount(status, "voluntary_ctxt_switches:") + statusCount(status, "nonvoluntary_ctxt_switches:")
	}
	return n
}

// statusCount returns the number on a "key:\tN" line of a status file,
// 0 when there is none.
func statusCount(status []byte, key string) int64 {
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return n
		}
	}
	return 0
}

// statFields are the fields of /proc/<pid>/stat the tool reads.
type statFields struct {
	user, sys time.Duration
	minflt    int64
}

// parseStat reads utime, stime and minflt from the contents of
// /proc/<pid>/stat. The command name (field 2) is parenthesised and may
// hold spaces, so the fields are counted from the last ')'.
func parseStat(stat []byte) (statFields, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return statFields{}, fmt.Errorf("parse stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// After ')': state is field 3, minflt field 10, utime field 14, stime
	// field 15.
	const minflt, utime, stime = 10 - 3, 14 - 3, 15 - 3
	if len(f) <= stime {
		return statFields{}, fmt.Errorf("parse stat: %d fields", len(f)+2)
	}
	var v [3]int64
	for j, k := range [...]struct {
		name string
		i    int
	}{{"minflt", minflt}, {"utime", utime}, {"stime", stime}} {
		n, err := strconv.ParseInt(f[k.i], 10, 64)
		if err != nil {
			return statFields{}, fmt.Errorf("parse stat %s: %w", k.name, err)
		}
		v[j] = n
	}
	return statFields{minflt: v[0], user: time.Duration(v[1]) * time.Second / clockTicks,
		sys: time.Duration(v[2]) * time.Second / clockTicks}, nil
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
