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
	Runs     []Run     `json:"runs"`
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
	Modes    []*Mode  `json:"modes"`
	WallSec  float64  `json:"wall_seconds"`
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
		Command: fmt.Sprintf("valgrind --tool=callgrind --dump-before='%s' gateway.test -test.run '^$' "+
			"-test.bench 'BenchmarkExchange/<name>$' -test.benchtime <N>x -test.benchmem -test.timeout 0", loopFunc),
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
					res, cpu, err := callgrind(ctx, valgrind, bin, filepath.Join(root, "gateway"), work, tag, b, n, gogc)
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
	for rep := 1; rep <= len(byRepeat); rep++ {
		lo, okLo := byRepeat[rep][n1]
		hi, okHi := byRepeat[rep][n2]
		if okLo && okHi {
			b.Each = append(b.Each, float64(hi.LoopIr-lo.LoopIr)/float64(n2-n1))
		}
	}
	if len(b.Each) == 0 {
		return
	}
	var sum float64
	for _, v := range b.Each {
		sum += v
	}
	b.PerExchange = sum / float64(len(b.Each))
	b.Spread = slices.Max(b.Each) - slices.Min(b.Each)
}

// callgrind runs one benchmark at one iteration count and returns its counts.
func callgrind(ctx context.Context, valgrind, bin, dir, work, tag, bench string, n int, gogc string) (Run, string, error) {
	out := filepath.Join(work, tag+".callgrind")
	logPath := filepath.Join(work, tag+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return Run{}, "", err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, valgrind, "--tool=callgrind", // #nosec G204 -- fixed arguments
		"--callgrind-out-file="+out, "--dump-before="+loopFunc,
		bin, "-test.run", "^$", "-test.bench", "BenchmarkExchange/"+bench+"$",
		"-test.benchtime", strconv.Itoa(n)+"x", "-test.benchmem", "-test.timeout", "0")
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
	if res.LoopIr, res.TotalIr, res.Parts, err = readParts(out); err != nil {
		return fail(err)
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
// entry to loopFunc, and out at termination) and returns the Ir of the
// loop, the run's total and the number of parts. The loop is every part
// but the first (before b.Loop's first call) and the last (after its last
// call): callgrind follows calls by the stack pointer, and when Go
// switches goroutines inside loopFunc (ResetTimer and StopTimer stop the
// world to read the memory statistics) it can see a second entry into the
// function that is a return, which splits a part in two without moving
// anything out of the loop.
func readParts(out string) (loop, total int64, n int, err error) {
	files, err := filepath.Glob(out + ".*")
	if err != nil {
		return 0, 0, 0, err
	}
	files = append(files, out)
	parts := map[int]int64{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("callgrind dump: %w (did the benchmark reach b.Loop?)", err)
		}
		part, ir, err := parseDump(data)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		if _, dup := parts[part]; dup {
			return 0, 0, 0, fmt.Errorf("%s: part %d twice", filepath.Base(f), part)
		}
		parts[part] = ir
	}
	n = len(parts)
	if n < 3 {
		return 0, 0, 0, fmt.Errorf("%d callgrind parts: %s was not entered twice", n, loopFunc)
	}
	for p := 1; p <= n; p++ {
		ir, ok := parts[p]
		if !ok {
			return 0, 0, 0, fmt.Errorf("callgrind part %d of %d missing", p, n)
		}
		total += ir
		if p > 1 && p < n {
			loop += ir
		}
	}
	return loop, total, n, nil
}

// parseDump reads the header of a callgrind output file: its part number
// and its total ("summary:", or "totals:" in older formats) of the first
// event, Ir.
func parseDump(data []byte) (int, int64, error) {
	part, total := -1, int64(-1)
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
				return 0, 0, fmt.Errorf("part %q: %w", val, err)
			}
			part = p
		case "summary", "totals":
			t, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("%s %q: %w", key, val, err)
			}
			total = t
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if part < 0 || total < 0 {
		return 0, 0, errors.New("no part number or no total: not a callgrind dump")
	}
	return part, total, nil
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
	fmt.Fprintf(w, "\nvalgrind's CPU: %s; host: %s; %s; %s; wall %.0f s\n\n", rep.GuestCPU, rep.HostCPU, rep.Go, rep.Valgrind, rep.WallSec)
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
