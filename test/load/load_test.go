package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    statFields
		wantErr bool
	}{
		{"plain", "4242 (mcpguard) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 100 0 0",
			statFields{user: 2500 * time.Millisecond, sys: 500 * time.Millisecond, minflt: 1000}, false},
		{"name with spaces and parens", "7 (a b) c)) R 1 7 7 0 -1 0 9 0 0 0 1 2 0 0 20 0 1 0 5 0 0",
			statFields{user: 10 * time.Millisecond, sys: 20 * time.Millisecond, minflt: 9}, false},
		{"truncated", "7 (x) R 1 7", statFields{}, true},
		{"no name", "garbage", statFields{}, true},
		{"bad utime", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 2 0", statFields{}, true},
		{"bad minflt", "7 (x) R 1 7 7 0 -1 0 - 0 0 0 1 2 0", statFields{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.stat))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("stat = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestStatusCount(t *testing.T) {
	status := "Name:\tmcpguard\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n"
	for key, want := range map[string]int64{"voluntary_ctxt_switches:": 120, "nonvoluntary_ctxt_switches:": 7, "Threads:": 0} {
		if got := statusCount([]byte(status), key); got != want {
			t.Errorf("statusCount(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestStatusKB(t *testing.T) {
	status := "Name:\tmcpguard\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t8\n"
	tests := []struct {
		key     string
		want    int64
		wantErr bool
	}{
		{"VmHWM:", 51200 << 10, false},
		{"VmRSS:", 40960 << 10, false},
		{"Threads:", 0, true},
		{"VmSwap:", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			got, err := statusKB([]byte(status), tc.key)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("statusKB = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReadProcSelf(t *testing.T) {
	u, err := readProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if u.RSS <= 0 || u.PeakRSS < u.RSS {
		t.Errorf("rss %d, peak %d", u.RSS, u.PeakRSS)
	}
	// A running Go test has touched pages and its threads have slept.
	if u.MinorFaults <= 0 || u.CtxSwitches <= 0 || u.CPU != u.User+u.Sys {
		t.Errorf("minflt %d, context switches %d, cpu %v = user %v + sys %v", u.MinorFaults, u.CtxSwitches, u.CPU, u.User, u.Sys)
	}
}

func TestMixKindOf(t *testing.T) {
	counts := map[string]int{}
	for i := range 2000 {
		counts[mixed.kindOf(i)]++
	}
	want := map[string]int{kindAllowed: 1400, kindDenied: 300, kindList: 300}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d of 2000, want %d", k, counts[k], n)
		}
	}
	for i := range 100 {
		if k := allowedOnly.kindOf(i); k != kindAllowed {
			t.Fatalf("allowedOnly request %d is %s", i, k)
		}
	}
}

func TestSaturated(t *testing.T) {
	s := settings{maxErrorRate: 0.01, maxP99: 50 * time.Millisecond}
	ok := &Step{OfferedRate: 1000, AchievedRate: 990, Latency: map[string]Summary{"all": {P99: 3}}}
	tests := []struct {
		name string
		st   *Step
		stop bool
	}{
		{"keeps up", ok, false},
		{"errors", &Step{OfferedRate: 1000, AchievedRate: 990, ErrorRate: 0.02, Latency: ok.Latency}, true},
		{"slow", &Step{OfferedRate: 1000, AchievedRate: 990, Latency: map[string]Summary{"all": {P99: 51}}}, true},
		{"falls behind", &Step{OfferedRate: 1000, AchievedRate: 800, Latency: ok.Latency}, true},
		{"missing", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := saturated(s, tc.st); (got != "") != tc.stop {
				t.Errorf("saturated = %q, want stop %v", got, tc.stop)
			}
		})
	}
}

func TestParseRates(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"500,1000, 2000", 3, false},
		{"", 0, true},
		{"100,-5", 0, true},
		{"abc", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseRates(tc.in)
			if (err != nil) != tc.wantErr || len(got) != tc.want {
				t.Errorf("parseRates(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

// TestPoolWeighsEveryExchange pools rounds of different lengths by their
// exchanges, not by averaging their per-request figures.
func TestPoolWeighsEveryExchange(t *testing.T) {
	p := newPool()
	p.add(&Step{Mode: modeBare, Server: "bare", Seconds: 10, Sent: 1000, OK: 1000, ServerCPU: 0.5, AllocsPerRequest: 100, AllocBytesPerRequest: 1000, GCPerRequest: 40})
	p.add(&Step{Mode: modeBare, Server: "bare", Seconds: 10, Sent: 3000, OK: 2999, Errors: 1, ServerCPU: 0.9, AllocsPerRequest: 200, AllocBytesPerRequest: 3000, GCPerRequest: 20})
	p.lat.record(kindAllowed, 2*time.Millisecond)
	st := p.step(modeBare, 1000)
	want := Step{CPUPerRequest: 1.4 / 4000 * 1e6, AllocsPerRequest: 175, AllocBytesPerRequest: 2500, GCPerRequest: 25, OK: 3999, Errors: 1, Sent: 4000}
	if st.CPUPerRequest != want.CPUPerRequest || st.AllocsPerRequest != want.AllocsPerRequest || st.AllocBytesPerRequest != want.AllocBytesPerRequest ||
		st.GCPerRequest != want.GCPerRequest ||
		st.OK != want.OK || st.Errors != want.Errors || st.Sent != want.Sent || st.Server != "bare" {
		t.Errorf("pooled %+v", st)
	}
	if l := st.Latency[kindAllowed]; l.Count != 1 || l.P50 != 2 {
		t.Errorf("pooled latency %+v", l)
	}
}

func TestRoundRatios(t *testing.T) {
	steps := []*Step{
		{Round: 1, Mode: modeBare, CPUPerRequest: 500}, {Round: 1, Mode: modeMCPGuard, CPUPerRequest: 600},
		{Round: 2, Mode: modeMCPGuard, CPUPerRequest: 700}, {Round: 2, Mode: modeBare, CPUPerRequest: 500},
	}
	if got, want := roundRatios(steps), "600/500 µs = 1.20×; 700/500 µs = 1.40×"; got != want {
		t.Errorf("roundRatios = %q, want %q", got, want)
	}
}
