// Command instructions counts the instructions one ext_proc exchange costs,
// for the bare server and for mcpguard, with valgrind's callgrind: a
// deterministic measure beside the benchmarks' timings, which move by tens
// of percent on a shared machine.
//
// It compiles the gateway package's test binary once and runs
// BenchmarkExchange/bare and BenchmarkExchange/mcpguard under
// `valgrind --tool=callgrind`, each at two fixed iteration counts (N1 and
// N2, `-test.benchtime Nx`: with b.Loop the benchmark function runs once and
// its loop runs exactly N times). callgrind dumps its counts on entry to
// testing.(*B).loopSlowPath, which b.Loop calls exactly twice (before the
// first iteration and after the last), so the parts between the first and
// the last dump hold the N exchanges and nothing of the setup (callgrind may
// see one more entry, which only splits the loop's part; see readParts).
// The setup is not constant (the fake identity provider generates an RSA
// key, whose prime search varies by hundreds of millions of instructions
// from run to run), so the whole-program difference alone does not cancel
// it. The instructions per
// exchange are (Ir(N2) - Ir(N1)) / (N2 - N1) of those loop parts, which also
// cancels what the first and last iterations add (pools filled, stacks
// grown).
//
// Each run has GOMAXPROCS=1 (valgrind runs one thread at a time anyway) and
// GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1: valgrind's virtual CPU
// advertises RDTSCP, which it cannot execute on a host without it, so the
// runtime's cputicks (taken when a runtime lock is contended) would die on
// SIGILL; and callgrind aborts on the SIGURG signals of asynchronous
// preemption. Each GC mode is measured separately: GOGC=off gives the
// instructions of the exchange itself (allocation included, the
// collector's marking excluded), reproducible to about 0.2 %; GOGC=100 adds
// the collector, whose share follows the bytes allocated and varies by a
// few per cent, because a whole collection falls inside or outside the
// shorter run depending on where the setup left the heap.
//
// With -cache (the default) callgrind also simulates this host's level 1
// instruction and data caches and its per-core level 2 cache (as
// valgrind's "last level": the shared level 3 cache of a VM's host is
// shared with other tenants, so a miss in the private caches is what one
// exchange can be charged with). The geometry is read from
// /sys/devices/system/cpu/cpu0/cache. The misses per exchange are computed
// like the instructions and show how much memory and code an exchange
// touches, which the instruction count does not: a change that touches
// more cache lines costs time the count does not see.
//
// Results are printed as a table and written to <out>/results.json.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// loopFunc is where callgrind dumps its counts: b.Loop's slow path, entered
// once before the first iteration and once after the last.
const loopFunc = "testing.(*B).loopSlowPath"

// benchmarks are the sub-benchmarks of gateway's BenchmarkExchange measured.
var benchmarks = []string{"bare", "mcpguard"}

type settings struct {
	root    string
	out     string
	goCmd   string
	n1, n2  int
	repeat  int
	gcModes []string
	keep    bool
	cache   bool
}

func parseFlags(args []string, stderr io.Writer) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("instructions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.root, "root", ".", "the repository's root")
	fs.StringVar(&s.out, "out", "bench/instructions", "directory for results.json (relative to -root)")
	fs.StringVar(&s.goCmd, "go", "go", "the go command that builds the test binary")
	fs.IntVar(&s.n1, "n1", 200, "the smaller iteration count")
	fs.IntVar(&s.n2, "n2", 1200, "the larger iteration count")
	fs.IntVar(&s.repeat, "repeat", 2, "runs of each (benchmark, count, GC mode); 2 or more report the spread")
	gc := fs.String("gc", "off,100", "GOGC values to measure, comma-separated (off: no collection)")
	fs.BoolVar(&s.keep, "keep", false, "keep the callgrind output files and logs (their directory is printed)")
	fs.BoolVar(&s.cache, "cache", true, "simulate this host's L1 instruction, L1 data and L2 caches (callgrind --cache-sim) and report their misses per exchange; about doubles the time")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() != 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.n1 < 1 || s.n2 <= s.n1 {
		return s, fmt.Errorf("want 1 <= -n1 < -n2, have %d and %d", s.n1, s.n2)
	}
	if s.repeat < 1 {
		return s, fmt.Errorf("-repeat %d: want at least 1", s.repeat)
	}
	var err error
	if s.gcModes, err = parseGCModes(*gc); err != nil {
		return s, err
	}
	return s, nil
}

func parseGCModes(v string) ([]string, error) {
	var out []string
	for _, m := range strings.Split(v, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if m != "off" {
			if n, err := strconv.Atoi(m); err != nil || n <= 0 {
				return nil, fmt.Errorf("GC mode %q: want off or a positive GOGC percentage", m)
			}
		}
		if slices.Contains(out, m) {
			return nil, fmt.Errorf("GC mode %q given twice", m)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("no GC modes")
	}
	return out, nil
}

// Run is one valgrind run of one benchmark at one iteration count.
type Run struct {
	N       int   `json:"n"`
	Repeat  int   `json:"repeat"`
	LoopIr  int64 `json:"loop_ir"`
	TotalIr int64 `json:"total_ir"`
	// LoopMisses is the simulated cache misses of the loop (with -cache).
	LoopMisses *Misses `json:"loop_misses,omitempty"`
	// Parts is the number of callgrind dumps: 3, or more when callgrind
	// saw a return into loopFunc as an entry (see readParts).
	Parts    int     `json:"parts"`
	AllocsOp int64   `json:"allocs_per_op"`
	BytesOp  int64   `json:"bytes_per_op"`
	WallSec  float64 `json:"wall_seconds"`
}

// Bench is one benchmark's figures in one GC mode.
type Bench struct {
	// PerExchange is the mean over the repeats of
	// (LoopIr(N2) - LoopIr(N1)) / (N2 - N1).
	PerExchange float64 `json:"instructions_per_exchange"`
	// Each is that figure for each repeat; Spread is max - min of Each.
	Each     []float64 `json:"per_repeat"`
	Spread   float64   `json:"spread"`
	AllocsOp int64     `json:"allocs_per_op"`
	BytesOp  int64     `json:"bytes_per_op"`
	// Misses is the mean over the repeats of the simulated cache misses
	// per exchange, computed like PerExchange (with -cache).
	Misses *Misses `json:"misses_per_exchange,omitempty"`
	Runs   []Run   `json:"runs"`
}

// Misses is callgrind's simulated cache misses: L1I is its I1mr; L1D its
// D1mr + D1mw (reads and writes); L2 its ILmr + DLmr + DLmw, the misses of
// the cache given as its last level, which is the host's L2 (see Cache).
type Misses struct {
	L1I float64 `json:"l1i"`
	L1D float64 `json:"l1d"`
	L2  float64 `json:"l2"`
}

// missesOf reads the miss events of a dump's counts; nil without them.
func missesOf(ev map[string]int64) *Misses {
	if _, ok := ev["I1mr"]; !ok {
		return nil
	}
	return &Misses{
		L1I: float64(ev["I1mr"]),
		L1D: float64(ev["D1mr"] + ev["D1mw"]),
		L2:  float64(ev["ILmr"] + ev["DLmr"] + ev["DLmw"]),
	}
}

// Mode is the figures of one GC mode.
type Mode struct {
	GOGC       string            `json:"gogc"`
	Benchmarks map[string]*Bench `json:"benchmarks"`
	// Ratio is mcpguard / bare and Difference mcpguard - bare, per exchange.
	Ratio      float64 `json:"ratio"`
	Difference float64 `json:"difference"`
}

// Report is results.json.
type Report struct {
	Date     string   `json:"date"`
	Commit   string   `json:"commit"`
	Go       string   `json:"go"`
	Valgrind string   `json:"valgrind"`
	HostCPU  string   `json:"host_cpu"`
	GuestCPU string   `json:"valgrind_cpu"`
	Command  string   `json:"command"`
	Env      []string `json:"env"`
	N1       int      `json:"n1"`
	N2       int      `json:"n2"`
	Repeat   int      `json:"repeat"`
	// Cache is the simulated caches' geometry (with -cache).
	Cache   string  `json:"cache_simulated,omitempty"`
	Modes   []*Mode `json:"modes"`
	WallSec float64 `json:"wall_seconds"`
}

// runEnv is the environment of every valgrind run, on top of the caller's
// (whose GOMAXPROCS, GODEBUG, GOGC and GOMEMLIMIT are replaced or dropped).
func runEnv(gogc string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOMAXPROCS", "GODEBUG", "GOGC", "GOMEMLIMIT":
			continue
		}
		env = append(env, kv)
	}
	return append(env, fixedEnv(gogc)...)
}

func fixedEnv(gogc string) []string {
	return []string{"GOMAXPROCS=1", "GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1", "GOGC=" + gogc}
}

func main() {
	s, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "instructions:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "instructions:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, s settings, stdout io.Writer) error {
	start := time.Now()
	valgrind, err := exec.LookPath("valgrind")
	if err != nil {
		return errors.New("valgrind is not installed (Debian: apt-get install valgrind; `make instructions` installs it)")
	}
	root, err := filepath.Abs(s.root)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "mcpguard-instructions-")
	if err != nil {
		return err
	}
	if s.keep {
		fmt.Fprintln(stdout, "callgrind output and logs in", work)
	} else {
		defer os.RemoveAll(work)
	}
	var cacheArgs []string
	var cacheDesc string
	if s.cache {
		if cacheArgs, cacheDesc, err = hostCaches(sysCacheDir); err != nil {
			return fmt.Errorf("-cache: %w (run with -cache=false to count instructions only)", err)
		}
	}
	bin := filepath.Join(work, "gateway.test")
	fmt.Fprintln(stdout, "building the gateway test binary")
	build := exec.CommandContext(ctx, s.goCmd, "test", "-c", "-o", bin, "./gateway") // #nosec G204 -- the operator's go command
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go test -c ./gateway: %w", err)
	}

	rep := &Report{
		Date:     time.Now().UTC().Format(time.RFC3339),
		Commit:   output(ctx, root, "git", "describe", "--tags", "--always", "--dirty"),
		Go:       runtime.Version(),
		Valgrind: output(ctx, root, valgrind, "--version"),
		HostCPU:  hostCPU(),
		Command: fmt.Sprintf("valgrind %s --dump-before='%s' gateway.test -test.run '^$' "+
			"-test.bench 'BenchmarkExchange/<name>$' -test.benchtime <N>x -test.benchmem -test.timeout 0",
			strings.Join(append([]string{"--tool=callgrind"}, cacheArgs...), " "), loopFunc),
		Cache:  cacheDesc,
		Env:    fixedEnv("<mode>"),
		N1:     s.n1,
		N2:     s.n2,
		Repeat: s.repeat,
	}
	modes := map[string]*Mode{}
	for _, gogc := range s.gcModes {
		m := &Mode{GOGC: gogc, Benchmarks: map[string]*Bench{}}
		for _, b := range benchmarks {
			m.Benchmarks[b] = &Bench{}
		}
		modes[gogc] = m
		rep.Modes = append(rep.Modes, m)
	}
	// Repeats outermost, so that a change of the machine's state during
	// the measurement shows as a spread rather than as a bias of one
	// benchmark.
	for r := 1; r <= s.repeat; r++ {
		for _, gogc := range s.gcModes {
			for _, b := range benchmarks {
				for _, n := range []int{s.n1, s.n2} {
					tag := fmt.Sprintf("%s-gc%s-n%d-r%d", b, gogc, n, r)
					res, cpu, err := callgrind(ctx, valgrind, cacheArgs, bin, filepath.Join(root, "gateway"), work, tag, b, n, gogc)
					if err != nil {
						return err
					}
					res.Repeat = r
					if rep.GuestCPU == "" {
						rep.GuestCPU = cpu
					}
					fmt.Fprintf(stdout, "  %-8s GOGC=%-4s N=%-5d run %d: loop %d Ir, %.0f s\n", b, gogc, n, r, res.LoopIr, res.WallSec)
					modes[gogc].Benchmarks[b].Runs = append(modes[gogc].Benchmarks[b].Runs, res)
				}
			}
		}
	}
	for _, m := range rep.Modes {
		for _, b := range m.Benchmarks {
			b.summarize(s.n1, s.n2)
		}
		bare, guard := m.Benchmarks["bare"], m.Benchmarks["mcpguard"]
		m.Difference = guard.PerExchange - bare.PerExchange
		if bare.PerExchange > 0 {
			m.Ratio = guard.PerExchange / bare.PerExchange
		}
	}
	rep.WallSec = math.Round(time.Since(start).Seconds())
	writeTable(stdout, rep)
	outDir := s.out
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(root, outDir)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	path := filepath.Join(outDir, "results.json")
	if err := os.WriteFile(path, js.Bytes(), 0o644); err != nil { // #nosec G306 -- a report
		return err
	}
	fmt.Fprintln(stdout, "wrote", path)
	return nil
}

// summarize computes the per-exchange figures from the runs: for each
// repeat, the difference of its two loop counts over the difference of
// iterations.
func (b *Bench) summarize(n1, n2 int) {
	byRepeat := map[int]map[int]Run{}
	for _, r := range b.Runs {
		if byRepeat[r.Repeat] == nil {
			byRepeat[r.Repeat] = map[int]Run{}
		}
		byRepeat[r.Repeat][r.N] = r
		if r.N == n2 {
			b.AllocsOp, b.BytesOp = r.AllocsOp, r.BytesOp
		}
	}
	b.Each = nil
	var misses Misses
	withMisses := 0
	for rep := 1; rep <= len(byRepeat); rep++ {
		lo, okLo := byRepeat[rep][n1]
		hi, okHi := byRepeat[rep][n2]
		if !okLo || !okHi {
			continue
		}
		d := float64(n2 - n1)
		b.Each = append(b.Each, float64(hi.LoopIr-lo.LoopIr)/d)
		if lo.LoopMisses != nil && hi.LoopMisses != nil {
			withMisses++
			misses.L1I += (hi.LoopMisses.L1I - lo.LoopMisses.L1I) / d
			misses.L1D += (hi.LoopMisses.L1D - lo.LoopMisses.L1D) / d
			misses.L2 += (hi.LoopMisses.L2 - lo.LoopMisses.L2) / d
		}
	}
	if len(b.Each) == 0 {
		return
	}
	b.Misses = nil
	if withMisses > 0 {
		k := float64(withMisses)
		b.Misses = &Misses{L1I: misses.L1I / k, L1D: misses.L1D / k, L2: misses.L2 / k}
	}
	var sum float64
	for _, v := range b.Each {
		sum += v
	}
	b.PerExchange = sum / float64(len(b.Each))
	b.Spread = slices.Max(b.Each) - slices.Min(b.Each)
}

// callgrind runs one benchmark at one iteration count and returns its counts.
func callgrind(ctx context.Context, valgrind string, cacheArgs []string, bin, dir, work, tag, bench string, n int, gogc string) (Run, string, error) {
	out := filepath.Join(work, tag+".callgrind")
	logPath := filepath.Join(work, tag+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return Run{}, "", err
	}
	defer logf.Close()
	args := append([]string{"--tool=callgrind"}, cacheArgs...)
	args = append(args, "--callgrind-out-file="+out, "--dump-before="+loopFunc,
		bin, "-test.run", "^$", "-test.bench", "BenchmarkExchange/"+bench+"$",
		"-test.benchtime", strconv.Itoa(n)+"x", "-test.benchmem", "-test.timeout", "0")
	cmd := exec.CommandContext(ctx, valgrind, args...) // #nosec G204 -- fixed arguments and the host's cache geometry
	cmd.Dir = dir
	cmd.Env = runEnv(gogc)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(logf, &buf)
	cmd.Stderr = cmd.Stdout
	t0 := time.Now()
	runErr := cmd.Run()
	wall := time.Since(t0).Seconds()
	fail := func(err error) (Run, string, error) {
		return Run{}, "", fmt.Errorf("%s (GOGC=%s, N=%d): %w; log %s:\n%s", bench, gogc, n, err, logPath, tail(buf.String(), 40))
	}
	if runErr != nil {
		return fail(runErr)
	}
	res, cpu, err := parseBenchOutput(buf.String(), "BenchmarkExchange/"+bench)
	if err != nil {
		return fail(err)
	}
	if res.N != n {
		return fail(fmt.Errorf("the benchmark ran %d iterations, not %d", res.N, n))
	}
	var loop map[string]int64
	if loop, res.TotalIr, res.Parts, err = readParts(out); err != nil {
		return fail(err)
	}
	res.LoopIr = loop["Ir"]
	res.LoopMisses = missesOf(loop)
	if len(cacheArgs) > 0 && res.LoopMisses == nil {
		return fail(errors.New("callgrind recorded no cache misses (--cache-sim)"))
	}
	res.WallSec = math.Round(wall*10) / 10
	return res, cpu, nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+[\d.]+ ns/op(?:\s+(\d+) B/op)?(?:\s+(\d+) allocs/op)?`)

// parseBenchOutput reads the test binary's output: the result line of the
// named benchmark (iterations, B/op, allocs/op), the "cpu:" header (the
// virtual CPU valgrind presents) and the final PASS.
func parseBenchOutput(out, name string) (Run, string, error) {
	var (
		r     Run
		cpu   string
		found bool
		pass  bool
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = strings.TrimSpace(v)
		}
		if line == "PASS" {
			pass = true
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		if found {
			return r, cpu, fmt.Errorf("%s reported twice", name)
		}
		found = true
		r.N, _ = strconv.Atoi(m[2])
		if m[3] == "" || m[4] == "" {
			return r, cpu, fmt.Errorf("%s: no B/op and allocs/op (-test.benchmem)", name)
		}
		r.BytesOp, _ = strconv.ParseInt(m[3], 10, 64)
		r.AllocsOp, _ = strconv.ParseInt(m[4], 10, 64)
	}
	switch {
	case !found:
		return r, cpu, fmt.Errorf("no result line for %s", name)
	case !pass:
		return r, cpu, errors.New("the test binary did not PASS")
	}
	return r, cpu, nil
}

// readParts reads the dumps of one run (out.1, out.2, … written on each
// entry to loopFunc, and out at termination) and returns the counts of the
// loop (every event the dumps have: Ir, and the cache events with
// --cache-sim), the run's total Ir and the number of parts. The loop is every part
// but the first (before b.Loop's first call) and the last (after its last
// call): callgrind follows calls by the stack pointer, and when Go
// switches goroutines inside loopFunc (ResetTimer and StopTimer stop the
// world to read the memory statistics) it can see a second entry into the
// function that is a return, which splits a part in two without moving
// anything out of the loop.
func readParts(out string) (loop map[string]int64, total int64, n int, err error) {
	files, err := filepath.Glob(out + ".*")
	if err != nil {
		return nil, 0, 0, err
	}
	files = append(files, out)
	parts := map[int]map[string]int64{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("callgrind dump: %w (did the benchmark reach b.Loop?)", err)
		}
		part, ev, err := parseDump(data)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		if _, dup := parts[part]; dup {
			return nil, 0, 0, fmt.Errorf("%s: part %d twice", filepath.Base(f), part)
		}
		parts[part] = ev
	}
	n = len(parts)
	if n < 3 {
		return nil, 0, 0, fmt.Errorf("%d callgrind parts: %s was not entered twice", n, loopFunc)
	}
	loop = map[string]int64{}
	for p := 1; p <= n; p++ {
		ev, ok := parts[p]
		if !ok {
			return nil, 0, 0, fmt.Errorf("callgrind part %d of %d missing", p, n)
		}
		total += ev["Ir"]
		if p > 1 && p < n {
			for k, v := range ev {
				loop[k] += v
			}
		}
	}
	return loop, total, n, nil
}

// parseDump reads the header of a callgrind output file: its part number
// and its totals ("summary:", or "totals:" in older formats) of the events
// its "events:" line names, the first of which must be Ir.
func parseDump(data []byte) (int, map[string]int64, error) {
	part := -1
	var names []string
	var totals []int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "part":
			p, err := strconv.Atoi(fields[0])
			if err != nil {
				return 0, nil, fmt.Errorf("part %q: %w", val, err)
			}
			part = p
		case "events":
			names = fields
		case "summary", "totals":
			totals = totals[:0]
			for _, f := range fields {
				t, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					return 0, nil, fmt.Errorf("%s %q: %w", key, val, err)
				}
				totals = append(totals, t)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, nil, err
	}
	if part < 0 || len(totals) == 0 {
		return 0, nil, errors.New("no part number or no total: not a callgrind dump")
	}
	if len(names) == 0 || names[0] != "Ir" {
		return 0, nil, fmt.Errorf("events %q: want Ir first", names)
	}
	if len(totals) > len(names) {
		return 0, nil, fmt.Errorf("%d totals for %d events", len(totals), len(names))
	}
	ev := make(map[string]int64, len(names))
	for i, name := range names {
		if i < len(totals) { // callgrind leaves trailing zeros out
			ev[name] = totals[i]
		} else {
			ev[name] = 0
		}
	}
	return part, ev, nil
}

func writeTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "\ninstructions per exchange (callgrind Ir, loop of N=%d minus N=%d, %d repeat(s)), %s, %s\n\n",
		rep.N2, rep.N1, rep.Repeat, rep.Commit, rep.Date)
	fmt.Fprintln(w, "| GOGC | bare | mcpguard | mcpguard − bare | mcpguard / bare | spread bare, mcpguard | allocs bare, mcpguard |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, m := range rep.Modes {
		bare, guard := m.Benchmarks["bare"], m.Benchmarks["mcpguard"]
		spread := "—"
		if rep.Repeat > 1 {
			spread = fmt.Sprintf("%s (%.2f %%), %s (%.2f %%)", thousands(bare.Spread), pct(bare.Spread, bare.PerExchange),
				thousands(guard.Spread), pct(guard.Spread, guard.PerExchange))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f× | %s | %d, %d |\n", m.GOGC, thousands(bare.PerExchange),
			thousands(guard.PerExchange), thousands(m.Difference), m.Ratio, spread, bare.AllocsOp, guard.AllocsOp)
	}
	if rep.Cache != "" {
		fmt.Fprintf(w, "\nsimulated cache misses per exchange (%s)\n\n", rep.Cache)
		fmt.Fprintln(w, "| GOGC | cache | bare | mcpguard | mcpguard − bare |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
		for _, m := range rep.Modes {
			bare, guard := m.Benchmarks["bare"].Misses, m.Benchmarks["mcpguard"].Misses
			if bare == nil || guard == nil {
				continue
			}
			for _, row := range []struct {
				name string
				b, g float64
			}{{"L1 instructions", bare.L1I, guard.L1I}, {"L1 data", bare.L1D, guard.L1D}, {"L2", bare.L2, guard.L2}} {
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", m.GOGC, row.name, thousands(row.b), thousands(row.g), thousands(row.g-row.b))
			}
		}
	}
	fmt.Fprintf(w, "\nvalgrind's CPU: %s; host: %s; %s; %s; wall %.0f s\n\n", rep.GuestCPU, rep.HostCPU, rep.Go, rep.Valgrind, rep.WallSec)
}

// sysCacheDir is where Linux describes the first CPU's caches.
const sysCacheDir = "/sys/devices/system/cpu/cpu0/cache"

// hostCaches reads the geometry of the caches under dir (one indexN
// folder per cache: level, type, size, ways_of_associativity,
// coherency_line_size) and returns callgrind's arguments simulating the
// level 1 instruction and data caches and the level 2 cache as its last
// level, and a description of them.
func hostCaches(dir string) ([]string, string, error) {
	entries, err := filepath.Glob(filepath.Join(dir, "index*"))
	if err != nil {
		return nil, "", err
	}
	type cache struct{ size, ways, line int }
	found := map[string]cache{}
	for _, e := range entries {
		read := func(name string) string {
			b, err := os.ReadFile(filepath.Join(e, name))
			if err != nil {
				return ""
			}
			return strings.TrimSpace(string(b))
		}
		var key string
		switch level, typ := read("level"), read("type"); {
		case level == "1" && typ == "Instruction":
			key = "I1"
		case level == "1" && typ == "Data":
			key = "D1"
		case level == "2" && (typ == "Unified" || typ == "Data"):
			key = "LL"
		default:
			continue
		}
		size, err := parseCacheSize(read("size"))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", e, err)
		}
		ways, err1 := strconv.Atoi(read("ways_of_associativity"))
		line, err2 := strconv.Atoi(read("coherency_line_size"))
		if err1 != nil || err2 != nil || ways <= 0 || line <= 0 {
			return nil, "", fmt.Errorf("%s: unreadable associativity or line size", e)
		}
		found[key] = cache{size, ways, line}
	}
	var args, desc []string
	for _, k := range []struct{ key, name string }{{"I1", "L1i"}, {"D1", "L1d"}, {"LL", "L2 (as last level)"}} {
		c, ok := found[k.key]
		if !ok {
			return nil, "", fmt.Errorf("no %s cache described under %s", k.name, dir)
		}
		args = append(args, fmt.Sprintf("--%s=%d,%d,%d", k.key, c.size, c.ways, c.line))
		desc = append(desc, fmt.Sprintf("%s %d KiB %d-way", k.name, c.size>>10, c.ways))
	}
	return append([]string{"--cache-sim=yes"}, args...), strings.Join(desc, ", ") + fmt.Sprintf(", %d B lines", found["D1"].line), nil
}

// parseCacheSize reads a size as Linux writes it: "48K", "2048K", "32M".
func parseCacheSize(v string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(v, "K"):
		mult, v = 1<<10, strings.TrimSuffix(v, "K")
	case strings.HasSuffix(v, "M"):
		mult, v = 1<<20, strings.TrimSuffix(v, "M")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("cache size %q", v)
	}
	return n * mult, nil
}

func pct(part, whole float64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * part / whole
}

// thousands formats a count rounded to an integer with thin spaces between
// groups of three digits, as docs/performance.md writes numbers.
func thousands(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(" ")
		}
		b.WriteRune(c)
	}
	if neg {
		return "−" + b.String()
	}
	return b.String()
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func output(ctx context.Context, dir, name string, args ...string) string {
	cmd := exec.CommandContext(ctx, name, args...) // #nosec G204 -- fixed commands
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func hostCPU() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return fmt.Sprintf("%s, %d CPUs", strings.TrimSpace(v), runtime.NumCPU())
		}
	}
	return runtime.GOARCH
}
