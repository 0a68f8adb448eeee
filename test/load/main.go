package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// settings are the command-line flags.
type settings struct {
	root          string
	out           string
	mcpguardBin   string
	audit         string
	keep          bool
	users         int
	stepDuration  time.Duration
	warmup        time.Duration
	fixedRate     float64
	rates         []float64
	maxP99        time.Duration
	maxErrorRate  float64
	maxInflight   int
	extraPolicies int
	stampede      int
	memUsers      int
	tokenLifetime time.Duration
	cores         float64
	mcpguardEnv   []string
	exchangeRate  float64
	// exchangeTool and flowTool are where the allowed and denied calls
	// of the exchange-only phase and of the phases through HTTP go:
	// toolRunScript or toolCallAWS.
	exchangeTool, flowTool string
	// exchangeRounds is how many times the exchange-only phase measures
	// each server, alternating (bare, mcpguard, mcpguard, bare, …).
	exchangeRounds int
	// exchangeOnly skips the full-flow and saturation phases.
	exchangeOnly bool
	// cpuProfile, when set, is where mcpguard's CPU profile of the
	// measured exchange-only step is written (pprof format).
	cpuProfile string
}

// envList collects repeated NAME=VALUE flags.
type envList []string

func (l *envList) String() string { return strings.Join(*l, " ") }

func (l *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not NAME=VALUE", v)
	}
	*l = append(*l, v)
	return nil
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("rate %q: want a positive number", f)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rates")
	}
	return out, nil
}

func parseFlags(args []string, stderr io.Writer) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.root, "root", ".", "module root (examples/policies is found from it)")
	fs.StringVar(&s.out, "out", "bench/load", "folder for results.json and the plots")
	fs.StringVar(&s.mcpguardBin, "mcpguard", "", "mcpguard binary to run; empty builds cmd/mcpguard of the module in the working directory")
	fs.StringVar(&s.audit, "audit", "", "audit_config.output for mcpguard; empty means a file in the run's temporary folder")
	fs.BoolVar(&s.keep, "keep", false, "keep the temporary folder (config, logs, audit trail)")
	fs.IntVar(&s.users, "users", 300, "users in the traffic, each with a token and an MCP session")
	fs.DurationVar(&s.stepDuration, "step", 10*time.Second, "measured duration of each step (5 s gave p99 ratios from 1.9 to 3.7 between runs of the same code on a 2-core VM)")
	fs.DurationVar(&s.warmup, "warmup", time.Second, "unmeasured traffic before each step, at its rate")
	fs.Float64Var(&s.fixedRate, "rate", 1000, "rate of the allowed-only phase the CPU and latency targets are read from (requests/s)")
	rates := fs.String("rates", "500,1000,2000,3000,4000,6000,8000,10000", "offered rates of the saturation search, ascending (requests/s)")
	fs.DurationVar(&s.maxP99, "max-p99", 50*time.Millisecond, "the saturation search stops once mcpguard's p99 passes this")
	fs.Float64Var(&s.maxErrorRate, "max-errors", 0.01, "the saturation search stops once mcpguard's error rate passes this")
	fs.IntVar(&s.maxInflight, "max-inflight", 2000, "outstanding requests at most; more are counted as dropped")
	fs.IntVar(&s.extraPolicies, "policies", 1000, "extra Cedar policies, scoped to other tools and actions, loaded beside the examples")
	fs.IntVar(&s.stampede, "stampede", 1000, "simultaneous first requests of one new user (0 skips)")
	fs.IntVar(&s.memUsers, "mem-users", 20000, "users whose credentials are cached for the memory measurement (0 skips)")
	fs.DurationVar(&s.tokenLifetime, "token-lifetime", 2*time.Hour, "lifetime of the minted tokens")
	fs.Float64Var(&s.cores, "cores", 2, "cores the capacity estimate assumes mcpguard has to itself")
	fs.StringVar(&s.exchangeTool, "exchange-tool", toolRunScript, "the AWS tool of the exchange-only phase's calls: run_script (aws___run_script, today's) or call_aws (the legacy aws___call_aws, as in runs before 2026-12-02)")
	fs.StringVar(&s.flowTool, "flow-tool", toolCallAWS, "the AWS tool of the full-flow and saturation phases' calls: call_aws, or run_script, whose scripts the fake AWS MCP Server interprets in the load's own process (on 2 shared cores it then cannot keep up with 1 000 requests/s)")
	fs.IntVar(&s.exchangeRounds, "exchange-rounds", 3, "measured steps of each server in the exchange-only phase, alternating bare and mcpguard so that a drift of the machine's speed falls on both; the figures pool every round")
	fs.Float64Var(&s.exchangeRate, "exchange-rate", 1000, "rate of the exchange-only phase: envoysim's ext_proc client driven directly, no HTTP and no upstream (0 skips)")
	fs.BoolVar(&s.exchangeOnly, "exchange-only", false, "skip the full-flow and saturation phases (the stampede and memory phases run unless set to 0)")
	fs.StringVar(&s.cpuProfile, "cpuprofile", "", "write mcpguard's CPU profile of its first measured exchange-only step to this file, and its allocation profiles before and after the step to FILE.allocs-before and FILE.allocs-after (mcpguard then serves /debug/pprof on its admin listener); the bare server's go to FILE.bare, FILE.bare.allocs-before and FILE.bare.allocs-after")
	var env envList
	fs.Var(&env, "mcpguard-env", "NAME=VALUE added to mcpguard's environment (repeatable), e.g. GOMEMLIMIT=140MiB")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	s.mcpguardEnv = env
	var err error
	if s.rates, err = parseRates(*rates); err != nil {
		return s, err
	}
	if s.users < 1 || s.maxInflight < 1 || s.stepDuration <= 0 || s.fixedRate <= 0 {
		return s, fmt.Errorf("users, max-inflight, step and rate must be positive")
	}
	for _, t := range []string{s.exchangeTool, s.flowTool} {
		if t != toolRunScript && t != toolCallAWS {
			return s, fmt.Errorf("tool %q: want %s or %s", t, toolRunScript, toolCallAWS)
		}
	}
	if s.exchangeRounds < 1 {
		return s, fmt.Errorf("-exchange-rounds %d: want at least 1", s.exchangeRounds)
	}
	return s, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "bare" {
		if err := runBare(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "load bare:", err)
			os.Exit(1)
		}
		return
	}
	s, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	if err := run(ctx, s, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// run performs every phase and writes the results.
func run(ctx context.Context, s settings, w io.Writer) error {
	res := &Results{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Settings: settingsJSON(s)}
	logf(w, "starting fakes, mcpguard (%d extra policies) and the bare ext_proc server", s.extraPolicies)
	e, err := start(ctx, s)
	if err != nil {
		return err
	}
	defer e.close()
	res.Startup = Startup{Seconds: e.startup.Seconds(), ExtraPolicies: e.policyCount}
	logf(w, "mcpguard ready %.0f ms after exec", e.startup.Seconds()*1000)

	logf(w, "opening %d users' MCP sessions (first requests: one STS call each)", s.users)
	stsBefore := len(e.st.STS.Calls())
	if err := e.openUsers(ctx); err != nil {
		return err
	}
	res.Warm = Warm{Users: s.users, STSCalls: len(e.st.STS.Calls()) - stsBefore}

	if s.exchangeRate > 0 {
		logf(w, "ext_proc exchange only (no HTTP, no upstream), allowed tools/call of %s, %.0f requests/s, %d × %s per mode, alternating", s.exchangeTool, s.exchangeRate, s.exchangeRounds, s.stepDuration)
		pooled := map[string]*pool{modeBare: newPool(), modeMCPGuard: newPool()}
		profiled := map[string]bool{}
		for round := range s.exchangeRounds {
			// bare, mcpguard, then mcpguard, bare: a steady drift of the
			// machine's speed adds the same to both servers' totals.
			order := []string{modeBare, modeMCPGuard}
			if round%2 == 1 {
				order = []string{modeMCPGuard, modeBare}
			}
			for _, mode := range order {
				profile := !profiled[mode]
				st, err := e.exchangeStep(ctx, mode, s.exchangeRate, pooled[mode].lat, profile)
				if err != nil {
					return err
				}
				profiled[mode] = true
				st.Round = round + 1
				logStep(w, st)
				res.ExchangeRounds = append(res.ExchangeRounds, st)
				pooled[mode].add(st)
			}
		}
		for _, mode := range []string{modeBare, modeMCPGuard} {
			st := pooled[mode].step(mode, s.exchangeRate)
			res.Exchange = append(res.Exchange, st)
		}
		logf(w, "  pooled over %d rounds:", s.exchangeRounds)
		for _, st := range res.Exchange {
			logStep(w, st)
		}
	}

	if !s.exchangeOnly {
		if err := e.fullFlow(ctx, w, res); err != nil {
			return err
		}
	}

	if s.stampede > 0 {
		logf(w, "%d simultaneous first requests of one new user", s.stampede)
		if res.Stampede, err = e.stampede(ctx, s.stampede); err != nil {
			return err
		}
		logf(w, "  STS calls: %d, answers other than 200: %d", res.Stampede.STSCalls, res.Stampede.Non200)
	}
	if s.memUsers > 0 {
		logf(w, "caching credentials for %d more users", s.memUsers)
		if res.Memory, err = e.memory(ctx, s.memUsers, w); err != nil {
			return err
		}
		logf(w, "  RSS %.1f → %.1f MiB: %.0f bytes per user", mib(res.Memory.RSSBefore), mib(res.Memory.RSSAfter), res.Memory.BytesPerUser)
	}
	if u, err := e.guard.usage(); err == nil {
		res.MCPGuard = ProcessTotals{CPUSeconds: u.CPU.Seconds(), PeakRSS: u.PeakRSS, RSS: u.RSS}
	}
	res.summarize(s)
	if err := os.MkdirAll(s.out, 0o755); err != nil {
		return err
	}
	if err := res.write(filepath.Join(s.out, "results.json")); err != nil {
		return err
	}
	// The plot is of the saturation search; -exchange-only has none.
	if len(res.Mixed) > 0 {
		if err := plotLatency(res, filepath.Join(s.out, "latency")); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	res.printTargets(w)
	logf(w, "wrote %s", filepath.Join(s.out, "results.json"))
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func logStep(w io.Writer, st *Step) {
	all := st.Latency["all"]
	cpu := ""
	if st.Server != "" {
		cpu = fmt.Sprintf(" cpu %.0f µs/req", st.CPUPerRequest)
		if st.AllocsPerRequest > 0 {
			cpu += fmt.Sprintf(" allocs %.0f/req %.1f KB/req", st.AllocsPerRequest, st.AllocBytesPerRequest/1e3)
		}
		if st.Phase == "exchange" {
			cpu += fmt.Sprintf(" (user %.0f sys %.0f gc %.0f µs, %.2f faults, %.2f switches /req)", st.UserPerRequest, st.SysPerRequest, st.GCPerRequest, st.FaultsPerRequest, st.CtxSwitchesPerRequest)
		}
	}
	logf(w, "  %-8s %6.0f rps offered %6.0f done  p50 %6.3f  p99 %6.3f  p99.9 %6.3f ms  errors %d dropped %d  sts %d%s",
		st.Mode, st.OfferedRate, st.AchievedRate, all.P50, all.P99, all.P999, st.Errors, st.Dropped, st.STSCalls, cpu)
	for _, s := range st.ErrorSamples {
		logf(w, "    %s", s)
	}
}

// saturated says why the search must stop after mcpguard's step st, or ""
// when mcpguard kept up.
func saturated(s settings, st *Step) string {
	if st == nil {
		return "no mcpguard step"
	}
	if st.ErrorRate > s.maxErrorRate {
		return fmt.Sprintf("mcpguard error rate %.2f%% > %.2f%%", st.ErrorRate*100, s.maxErrorRate*100)
	}
	if p99 := st.Latency["all"].P99; p99 > float64(s.maxP99.Microseconds())/1000 {
		return fmt.Sprintf("mcpguard p99 %.1f ms > %s", p99, s.maxP99)
	}
	if st.AchievedRate < 0.9*st.OfferedRate {
		return fmt.Sprintf("mcpguard completed %.0f of %.0f requests/s", st.AchievedRate, st.OfferedRate)
	}
	return ""
}

// fullFlow runs the allowed-only phase and the saturation search.
func (e *env) fullFlow(ctx context.Context, w io.Writer, res *Results) error {
	s := e.s
	logf(w, "allowed tools/call of %s only, %.0f requests/s, %s per mode", s.flowTool, s.fixedRate, s.stepDuration)
	for _, mode := range modes {
		st, err := e.step(ctx, "allowed", mode, allowedOnly, s.fixedRate)
		if err != nil {
			return err
		}
		logStep(w, st)
		res.Allowed = append(res.Allowed, st)
	}

	logf(w, "saturation search with the mixed traffic (70%% allowed, 15%% denied, 15%% tools/list)")
	for _, rate := range s.rates {
		var guard *Step
		for _, mode := range modes {
			st, err := e.step(ctx, "mixed", mode, mixed, rate)
			if err != nil {
				return err
			}
			logStep(w, st)
			res.Mixed = append(res.Mixed, st)
			if mode == modeMCPGuard {
				guard = st
			}
		}
		if reason := saturated(s, guard); reason != "" {
			res.Saturation.StoppedAt, res.Saturation.Reason = rate, reason
			logf(w, "stopping: %s", reason)
			break
		}
		res.Saturation.Sustained = rate
	}
	return nil
}
