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
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || cpu != tt.wantCPU {
				t.Errorf("got %+v, cpu %q; want %+v, cpu %q", got, cpu, tt.want, tt.wantCPU)
			}
		})
	}
}

func dump(part int, total string) string {
	return "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 16264\ncmd:  /tmp/gateway.test\npart: " +
		strconv.Itoa(part) + "\n\n\ndesc: I1 cache: \ndesc: Timerange: Basic block 0 - 1\ndesc: Trigger: Program termination\n\npositions: line\nevents: Ir\n" +
		total + "\n\nfl=(1) ???\nfn=(1) main\n0 5\n"
}

func TestParseDump(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		part     int
		total    int64
		wantFail bool
	}{
		{name: "summary", data: dump(2, "summary: 98165622"), part: 2, total: 98165622},
		{name: "totals", data: dump(1, "totals: 68429516"), part: 1, total: 68429516},
		{name: "no total", data: dump(3, ""), wantFail: true},
		{name: "bad total", data: dump(3, "summary: x"), wantFail: true},
		{name: "not a dump", data: "hello\n", wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			part, total, err := parseDump([]byte(tt.data))
			if tt.wantFail {
				if err == nil {
					t.Fatalf("parsed %d, %d; want an error", part, total)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if part != tt.part || total != tt.total {
				t.Errorf("got part %d total %d, want %d %d", part, total, tt.part, tt.total)
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
			loop, sum, parts, err := readParts(out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
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

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
		check   func(settings) bool
	}{
		{args: nil, check: func(s settings) bool {
			return s.n1 == 200 && s.n2 == 1200 && s.repeat == 2 && strings.Join(s.gcModes, ",") == "off,100"
		}},
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
