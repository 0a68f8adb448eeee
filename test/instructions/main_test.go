package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchOut is the test binary's output under valgrind, as it prints it.
const benchOut = `goos: linux
goarch: amd64
pkg: github.com/mcpguard/mcpguard/gateway
cpu: Intel(R) Core(TM) i7-4910MQ CPU @ 2.90GHz
BenchmarkExchange/mcpguard        	    1200	  18435836 ns/op	   53919 B/op	     716 allocs/op
PASS
`

func TestParseBenchOutput(t *testing.T) {
	tests := []struct {
		name, out, bench string
		want             Run
		wantCPU          string
		wantErr          string
	}{
		{name: "result", out: benchOut, bench: "BenchmarkExchange/mcpguard",
			want: Run{N: 1200, BytesOp: 53919, AllocsOp: 716}, wantCPU: "Intel(R) Core(TM) i7-4910MQ CPU @ 2.90GHz"},
		{name: "GOMAXPROCS suffix", out: "BenchmarkExchange/bare-4   200   8187093 ns/op   27455 B/op   429 allocs/op\nPASS\n",
			bench: "BenchmarkExchange/bare", want: Run{N: 200, BytesOp: 27455, AllocsOp: 429}},
		{name: "other benchmark only", out: benchOut, bench: "BenchmarkExchange/bare", wantErr: "no result line"},
		{name: "no PASS", out: strings.TrimSuffix(benchOut, "PASS\n") + "FAIL\n", bench: "BenchmarkExchange/mcpguard", wantErr: "did not PASS"},
		{name: "no benchmem", out: "BenchmarkExchange/bare   200   8187093 ns/op\nPASS\n", bench: "BenchmarkExchange/bare", wantErr: "benchmem"},
		{name: "twice", out: "BenchmarkExchange/bare 1 1 ns/op 1 B/op 1 allocs/op\nBenchmarkExchange/bare 1 1 ns/op 1 B/op 1 allocs/op\nPASS\n",
			bench: "BenchmarkExchange/bare", wantErr: "twice"},
		{name: "prefix of another name", out: "BenchmarkExchange/barely 1 1 ns/op 1 B/op 1 allocs/op\nPASS\n",
			bench: "BenchmarkExchange/bare", wantErr: "no result line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cpu, err := parseBenchOutput(tt.out, tt.bench)
			if checkErr(t, err, tt.wantErr) {
				return
			}
			if got != tt.want || cpu != tt.wantCPU {
				t.Errorf("got %+v, cpu %q; want %+v, cpu %q", got, cpu, tt.want, tt.wantCPU)
			}
		})
	}
}

func dump(part int, total string) string {
	return dumpEvents(part, "Ir", total)
}

// cacheEvents is the events line of a run with --cache-sim=yes.
const cacheEvents = "Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw"

func dumpEvents(part int, events, total string) string {
	return "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 16264\ncmd:  /tmp/gateway.test\npart: " +
		strconv.Itoa(part) + "\n\n\ndesc: I1 cache: \ndesc: Timerange: Basic block 0 - 1\ndesc: Trigger: Program termination\n\npositions: line\nevents: " + events + "\n" +
		total + "\n\nfl=(1) ???\nfn=(1) main\n0 5\n"
}

func TestParseDump(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		part     int
		total    int64
		misses   *Misses
		wantFail bool
	}{
		{name: "summary", data: dump(2, "summary: 98165622"), part: 2, total: 98165622},
		{name: "totals", data: dump(1, "totals: 68429516"), part: 1, total: 68429516},
		{name: "cache events", data: dumpEvents(2, cacheEvents, "summary: 912836874 190383575 119884425 23056474 6575415 2707949 6128 88611 629766"),
			part: 2, total: 912836874, misses: &Misses{L1I: 23056474, L1D: 6575415 + 2707949, L2: 6128 + 88611 + 629766}},
		{name: "trailing zeros left out", data: dumpEvents(2, cacheEvents, "summary: 100 10 10 7"),
			part: 2, total: 100, misses: &Misses{L1I: 7}},
		{name: "no total", data: dump(3, ""), wantFail: true},
		{name: "bad total", data: dump(3, "summary: x"), wantFail: true},
		{name: "more totals than events", data: dump(3, "summary: 1 2"), wantFail: true},
		{name: "Ir not first", data: dumpEvents(3, "Dr Ir", "summary: 1 2"), wantFail: true},
		{name: "not a dump", data: "hello\n", wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			part, ev, err := parseDump([]byte(tt.data))
			if tt.wantFail {
				if err == nil {
					t.Fatalf("parsed %d, %v; want an error", part, ev)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if part != tt.part || ev["Ir"] != tt.total {
				t.Errorf("got part %d Ir %d, want %d %d", part, ev["Ir"], tt.part, tt.total)
			}
			m := missesOf(ev)
			if (m == nil) != (tt.misses == nil) || m != nil && *m != *tt.misses {
				t.Errorf("misses %+v, want %+v", m, tt.misses)
			}
		})
	}
}

func TestReadParts(t *testing.T) {
	type file struct {
		suffix string
		part   int
		total  string
	}
	tests := []struct {
		name      string
		files     []file
		loop, sum int64
		parts     int
		wantErr   string
	}{
		{name: "three parts", files: []file{{".1", 1, "summary: 10"}, {".2", 2, "summary: 200"}, {"", 3, "summary: 3000"}},
			loop: 200, sum: 3210, parts: 3},
		{name: "a return seen as an entry splits the loop", files: []file{
			{".1", 1, "summary: 10"}, {".2", 2, "summary: 5"}, {".3", 3, "summary: 195"}, {"", 4, "totals: 3000"}},
			loop: 200, sum: 3210, parts: 4},
		{name: "loop never entered", files: []file{{"", 1, "summary: 10"}}, wantErr: "not entered twice"},
		{name: "entered once", files: []file{{".1", 1, "summary: 10"}, {"", 2, "summary: 10"}}, wantErr: "not entered twice"},
		{name: "part twice", files: []file{{".1", 1, "summary: 10"}, {".2", 1, "summary: 10"}, {"", 3, "summary: 1"}}, wantErr: "twice"},
		{name: "part missing", files: []file{{".1", 1, "summary: 10"}, {".2", 2, "summary: 10"}, {"", 4, "summary: 1"}}, wantErr: "missing"},
		{name: "not a dump", files: []file{{".1", 1, "summary: 10"}, {".2", 2, ""}, {"", 3, "summary: 1"}}, wantErr: "not a callgrind dump"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.callgrind")
			for _, f := range tt.files {
				if err := os.WriteFile(out+f.suffix, []byte(dump(f.part, f.total)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ev, sum, parts, err := readParts(out)
			loop := ev["Ir"]
			if checkErr(t, err, tt.wantErr) {
				return
			}
			if loop != tt.loop || sum != tt.sum || parts != tt.parts {
				t.Errorf("loop %d total %d parts %d; want %d %d %d", loop, sum, parts, tt.loop, tt.sum, tt.parts)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	b := &Bench{Runs: []Run{
		{N: 200, Repeat: 1, LoopIr: 98_000_000},
		{N: 1200, Repeat: 1, LoopIr: 568_000_000, AllocsOp: 420, BytesOp: 26000},
		{N: 200, Repeat: 2, LoopIr: 98_500_000},
		{N: 1200, Repeat: 2, LoopIr: 568_000_000, AllocsOp: 421, BytesOp: 26001},
	}}
	b.summarize(200, 1200)
	if len(b.Each) != 2 || b.Each[0] != 470_000 || b.Each[1] != 469_500 {
		t.Fatalf("per repeat %v, want [470000 469500]", b.Each)
	}
	if b.PerExchange != 469_750 || b.Spread != 500 {
		t.Errorf("mean %v spread %v, want 469750 and 500", b.PerExchange, b.Spread)
	}
	if b.AllocsOp != 421 || b.BytesOp != 26001 {
		t.Errorf("allocs %d bytes %d: want the last N2 run's", b.AllocsOp, b.BytesOp)
	}
}

func TestReadPartsSumsCacheEvents(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.callgrind")
	for i, f := range []struct{ suffix, total string }{
		{".1", "summary: 10 0 0 1 1 1 1 1 1"},
		{".2", "summary: 5 0 0 2 3 4 5 6 7"},
		{".3", "summary: 195 0 0 20 30 40 50 60 70"},
		{"", "summary: 3000 0 0 9 9 9 9 9 9"},
	} {
		if err := os.WriteFile(out+f.suffix, []byte(dumpEvents(i+1, cacheEvents, f.total)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ev, total, parts, err := readParts(out)
	if err != nil {
		t.Fatal(err)
	}
	m := missesOf(ev)
	if ev["Ir"] != 200 || total != 3210 || parts != 4 || m == nil || *m != (Misses{L1I: 22, L1D: 77, L2: 198}) {
		t.Errorf("loop %v total %d parts %d misses %+v", ev, total, parts, m)
	}
}

func TestSummarizeMisses(t *testing.T) {
	b := &Bench{Runs: []Run{
		{N: 200, Repeat: 1, LoopIr: 1000, LoopMisses: &Misses{L1I: 2000, L1D: 600, L2: 100}},
		{N: 1200, Repeat: 1, LoopIr: 2000, LoopMisses: &Misses{L1I: 12000, L1D: 3600, L2: 600}},
		{N: 200, Repeat: 2, LoopIr: 1000, LoopMisses: &Misses{L1I: 2000, L1D: 600, L2: 100}},
		{N: 1200, Repeat: 2, LoopIr: 2000, LoopMisses: &Misses{L1I: 14000, L1D: 2600, L2: 1100}},
	}}
	b.summarize(200, 1200)
	if b.Misses == nil || *b.Misses != (Misses{L1I: 11, L1D: 2.5, L2: 0.75}) {
		t.Errorf("misses per exchange %+v, want {11 2.5 0.75}", b.Misses)
	}
	b.Runs[0].LoopMisses, b.Runs[2].LoopMisses = nil, nil
	b.summarize(200, 1200)
	if b.Misses != nil {
		t.Errorf("misses %+v from runs without them", b.Misses)
	}
}

func TestHostCaches(t *testing.T) {
	type idx struct{ level, typ, size, ways, line string }
	this := []idx{{"1", "Data", "48K", "12", "64"}, {"1", "Instruction", "32K", "8", "64"}, {"2", "Unified", "2048K", "16", "64"}, {"3", "Unified", "266240K", "16", "64"}}
	tests := []struct {
		name     string
		caches   []idx
		wantArgs string
		wantErr  string
	}{
		{name: "this VM's", caches: this,
			wantArgs: "--cache-sim=yes --I1=32768,8,64 --D1=49152,12,64 --LL=2097152,16,64"},
		{name: "sizes in M", caches: []idx{{"1", "Data", "32K", "8", "64"}, {"1", "Instruction", "32K", "8", "64"}, {"2", "Unified", "1M", "16", "64"}},
			wantArgs: "--cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=1048576,16,64"},
		{name: "no L2", caches: this[:2], wantErr: "no L2"},
		{name: "no caches", caches: nil, wantErr: "no L1i"},
		{name: "bad size", caches: []idx{{"1", "Data", "lots", "8", "64"}}, wantErr: "cache size"},
		{name: "bad ways", caches: []idx{{"1", "Data", "32K", "0", "64"}}, wantErr: "associativity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, c := range tt.caches {
				d := filepath.Join(dir, "index"+strconv.Itoa(i))
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
				for name, v := range map[string]string{"level": c.level, "type": c.typ, "size": c.size, "ways_of_associativity": c.ways, "coherency_line_size": c.line} {
					if err := os.WriteFile(filepath.Join(d, name), []byte(v+"\n"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			args, desc, err := hostCaches(dir)
			if checkErr(t, err, tt.wantErr) {
				return
			}
			if got := strings.Join(args, " "); got != tt.wantArgs || desc == "" {
				t.Errorf("args %q (%q), want %q", got, desc, tt.wantArgs)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
		check   func(settings) bool
	}{
		{args: nil, check: func(s settings) bool {
			return s.n1 == 200 && s.n2 == 1200 && s.repeat == 2 && strings.Join(s.gcModes, ",") == "off,100" && s.cache
		}},
		{args: []string{"-cache=false"}, check: func(s settings) bool { return !s.cache }},
		{args: []string{"-gc", " off ", "-repeat", "1"}, check: func(s settings) bool {
			return strings.Join(s.gcModes, ",") == "off" && s.repeat == 1
		}},
		{args: []string{"-n1", "300", "-n2", "300"}, wantErr: true},
		{args: []string{"-n1", "0"}, wantErr: true},
		{args: []string{"-repeat", "0"}, wantErr: true},
		{args: []string{"-gc", "on"}, wantErr: true},
		{args: []string{"-gc", "-5"}, wantErr: true},
		{args: []string{"-gc", "off,off"}, wantErr: true},
		{args: []string{"-gc", ","}, wantErr: true},
		{args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			s, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Errorf("settings %+v", s)
			}
		})
	}
}

func TestRunEnvReplacesTheCallersSettings(t *testing.T) {
	t.Setenv("GOGC", "50")
	t.Setenv("GODEBUG", "gctrace=1")
	t.Setenv("GOMEMLIMIT", "1GiB")
	t.Setenv("GOMAXPROCS", "8")
	seen := map[string][]string{}
	for _, kv := range runEnv("off") {
		k, v, _ := strings.Cut(kv, "=")
		seen[k] = append(seen[k], v)
	}
	want := map[string]string{"GOGC": "off", "GODEBUG": "cpu.rdtscp=off,asyncpreemptoff=1", "GOMAXPROCS": "1"}
	for k, v := range want {
		if len(seen[k]) != 1 || seen[k][0] != v {
			t.Errorf("%s = %v, want exactly [%s]", k, seen[k], v)
		}
	}
	if len(seen["GOMEMLIMIT"]) != 0 {
		t.Errorf("GOMEMLIMIT passed through: %v", seen["GOMEMLIMIT"])
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1 000", 470049.6: "470 050", 1055700: "1 055 700", -586000: "−586 000"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

// checkErr fails the test unless err matches want (a substring; "" for
// no error) and reports whether an error was expected, so the case ends.
func checkErr(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want one containing %q", err, want)
	}
	return true
}
