package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mcpguard/mcpguard/sigv4"
	"github.com/mcpguard/mcpguard/test/envoysim"
)

// mix is the share of each request kind in the traffic, out of 20.
type mix map[string]int

var (
	// mixed is the saturation search's traffic: mostly allowed calls, with
	// denials and list requests.
	mixed = mix{kindAllowed: 14, kindDenied: 3, kindList: 3}
	// allowedOnly is the warm path the CPU and latency targets are about.
	allowedOnly = mix{kindAllowed: 20}
)

// kindOf picks the kind of request number i: a fixed, interleaved pattern
// so every step sends the same mix.
func (m mix) kindOf(i int) string {
	slot := i % 20
	for _, k := range kinds {
		if slot < m[k] {
			return k
		}
		slot -= m[k]
	}
	return kindAllowed
}

// expectedStatus is the answer each kind must get in each mode: through
// mcpguard a denied call is refused with 403; without it the upstream
// answers everything.
func expectedStatus(mode, kind string) int {
	if mode == modeMCPGuard && kind == kindDenied {
		return http.StatusForbidden
	}
	return http.StatusOK
}

// histogram bounds: 1 µs to 60 s, three significant digits.
const (
	histMin    = 1
	histMax    = 60_000_000
	histDigits = 3
)

// latencies collects one step's latencies per kind.
type latencies struct {
	mu    sync.Mutex
	hists map[string]*hdrhistogram.Histogram
}

func newLatencies() *latencies {
	l := &latencies{hists: map[string]*hdrhistogram.Histogram{}}
	for _, k := range append([]string{"all"}, kinds...) {
		l.hists[k] = hdrhistogram.New(histMin, histMax, histDigits)
	}
	return l
}

func (l *latencies) record(kind string, d time.Duration) {
	us := max(d.Microseconds(), histMin)
	l.mu.Lock()
	_ = l.hists[kind].RecordValue(us)
	_ = l.hists["all"].RecordValue(us)
	l.mu.Unlock()
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(h *hdrhistogram.Histogram) Summary {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// Step is one measurement: one mode at one offered rate.
type Step struct {
	Phase string `json:"phase"`
	Mode  string `json:"mode"`
	// Round numbers the exchange-only phase's alternating steps (0 for a
	// step pooled over them, and in the other phases).
	Round       int     `json:"round,omitempty"`
	OfferedRate float64 `json:"offered_rps"`
	Seconds     float64 `json:"seconds"`
	Sent        int64   `json:"sent"`
	OK          int64   `json:"ok"`
	// Errors are transport errors and unexpected statuses; Dropped are
	// requests not sent because MaxInflight were already outstanding.
	Errors       int64              `json:"errors"`
	Dropped      int64              `json:"dropped"`
	ErrorRate    float64            `json:"error_rate"`
	AchievedRate float64            `json:"achieved_rps"`
	Latency      map[string]Summary `json:"latency"`
	// Server is the ext_proc server process of the mode (none for direct).
	Server        string  `json:"server,omitempty"`
	ServerCPU     float64 `json:"server_cpu_seconds,omitempty"`
	CPUPerRequest float64 `json:"server_cpu_us_per_request,omitempty"`
	// AllocsPerRequest and AllocBytesPerRequest are the server's heap
	// allocations during the step divided by the requests completed:
	// deterministic where CPU time is noisy (exchange-only phase).
	AllocsPerRequest     float64 `json:"server_allocs_per_request,omitempty"`
	AllocBytesPerRequest float64 `json:"server_alloc_bytes_per_request,omitempty"`
	// GCPerRequest is the part of CPUPerRequest the Go runtime charges to
	// its garbage collector (its own estimate: mark workers, assists and
	// pauses), µs per request. The runtime updates the counter at the end
	// of each collection, so a step's figure can be off by one
	// collection's worth at either end; pooled rounds dilute that.
	GCPerRequest float64 `json:"server_gc_cpu_us_per_request,omitempty"`
	// Kernel-side figures per request of the exchange-only phase, beside
	// the CPU time they help explain: user and system time, minor page
	// faults and context switches of all the server's threads.
	UserPerRequest        float64  `json:"server_user_us_per_request,omitempty"`
	SysPerRequest         float64  `json:"server_sys_us_per_request,omitempty"`
	FaultsPerRequest      float64  `json:"server_minor_faults_per_request,omitempty"`
	CtxSwitchesPerRequest float64  `json:"server_context_switches_per_request,omitempty"`
	ServerRSS             int64    `json:"server_rss_bytes,omitempty"`
	ServerPeakRSS         int64    `json:"server_peak_rss_bytes,omitempty"`
	STSCalls              int      `json:"sts_calls"`
	ErrorSamples          []string `json:"error_samples,omitempty"`
}

// pool sums one server's exchange-only steps into one.
type pool struct {
	lat                   *latencies
	steps                 []*Step
	seconds, cpu          float64
	sent, ok, errors, sts int64
	allocs, allocBytes    float64
	gc                    float64
	user, sys             float64
	faults, switches      float64
	rss, peakRSS          int64
	errorSamples          []string
}

func newPool() *pool { return &pool{lat: newLatencies()} }

func (p *pool) add(st *Step) {
	p.steps = append(p.steps, st)
	done := float64(st.OK + st.Errors)
	p.seconds += st.Seconds
	p.cpu += st.ServerCPU
	p.sent += st.Sent
	p.ok += st.OK
	p.errors += st.Errors
	p.sts += int64(st.STSCalls)
	p.allocs += st.AllocsPerRequest * done
	p.allocBytes += st.AllocBytesPerRequest * done
	p.gc += st.GCPerRequest * done
	p.user += st.UserPerRequest * done
	p.sys += st.SysPerRequest * done
	p.faults += st.FaultsPerRequest * done
	p.switches += st.CtxSwitchesPerRequest * done
	p.rss, p.peakRSS = st.ServerRSS, max(p.peakRSS, st.ServerPeakRSS)
	if len(p.errorSamples) < 5 {
		p.errorSamples = append(p.errorSamples, st.ErrorSamples...)
	}
}

// step is the pooled step: totals over every round, per-request figures
// over every exchange, latencies from the merged histograms.
func (p *pool) step(mode string, rate float64) *Step {
	st := &Step{Phase: "exchange", Mode: mode, OfferedRate: rate, Seconds: p.seconds, Sent: p.sent, OK: p.ok,
		Errors: p.errors, ServerCPU: p.cpu, STSCalls: int(p.sts), ServerRSS: p.rss, ServerPeakRSS: p.peakRSS,
		ErrorSamples: p.errorSamples, Latency: map[string]Summary{}}
	if len(p.steps) > 0 {
		st.Server = p.steps[0].Server
	}
	if done := float64(p.ok + p.errors); done > 0 {
		st.CPUPerRequest = p.cpu / done * 1e6
		st.AllocsPerRequest = p.allocs / done
		st.AllocBytesPerRequest = p.allocBytes / done
		st.GCPerRequest = p.gc / done
		st.UserPerRequest, st.SysPerRequest = p.user/done, p.sys/done
		st.FaultsPerRequest, st.CtxSwitchesPerRequest = p.faults/done, p.switches/done
	}
	if p.sent > 0 {
		st.ErrorRate = float64(p.errors) / float64(p.sent)
	}
	if p.seconds > 0 {
		st.AchievedRate = float64(p.ok) / p.seconds
	}
	for k, h := range p.lat.hists {
		if h.TotalCount() > 0 {
			st.Latency[k] = summarize(h)
		}
	}
	return st
}

// prepared is one request of a step, built and signed before the step
// starts so that nothing but sending happens on the clock.
type prepared struct {
	u      *user
	kind   string
	body   string
	signed []sigv4.Header
}

// prepare builds the n requests of a step.
func (e *env) prepare(ctx context.Context, mode, tool string, m mix, n int) ([]prepared, error) {
	reqs := make([]prepared, n)
	now := time.Now()
	for i := range reqs {
		u := e.users[(i*7919)%len(e.users)]
		k := m.kindOf(i)
		p := prepared{u: u, kind: k, body: u.body(k, tool, e.ids.Add(1))}
		if mode != modeMCPGuard {
			var err error
			if p.signed, err = e.signBaseline(ctx, u, p.body, now); err != nil {
				return nil, err
			}
		}
		reqs[i] = p
	}
	return reqs, nil
}

// schedule sends requests at rate for d, open loop: request i is due at
// start + i/rate whatever happened to the earlier ones, and its latency is
// measured from that due time. It returns when every request sent has
// completed.
func (e *env) schedule(ctx context.Context, mode string, m mix, rate float64, d time.Duration, lat *latencies, st *Step) error {
	var (
		wg       sync.WaitGroup
		inflight atomic.Int64
		mu       sync.Mutex
	)
	reqs, err := e.prepare(ctx, mode, e.s.flowTool, m, int(rate*d.Seconds()))
	if err != nil {
		return err
	}
	start := time.Now()
	for i, r := range reqs {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
		if wait := time.Until(due); wait > 20*time.Microsecond {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				wg.Wait()
				return ctx.Err()
			}
		}
		if st != nil {
			st.Sent++
		}
		if inflight.Load() >= int64(e.s.maxInflight) {
			if st != nil {
				st.Dropped++
			}
			continue
		}
		inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inflight.Add(-1)
			status, _, err := e.post(ctx, mode, r.u, r.body, r.signed)
			took := time.Since(due)
			if st == nil {
				return
			}
			want := expectedStatus(mode, r.kind)
			mu.Lock()
			defer mu.Unlock()
			if transportFailed(err) || status != want {
				st.Errors++
				if len(st.ErrorSamples) < 5 {
					st.ErrorSamples = append(st.ErrorSamples, fmt.Sprintf("%s %s: status %d, want %d (%v)", mode, r.kind, status, want, err))
				}
				return
			}
			st.OK++
			lat.record(r.kind, took)
		}()
	}
	wg.Wait()
	return nil
}

// step runs one measurement: a warm-up at the same rate, then the
// measured window, with the server process's CPU read around it.
func (e *env) step(ctx context.Context, phase, mode string, m mix, rate float64) (*Step, error) {
	if e.s.warmup > 0 {
		if err := e.schedule(ctx, mode, m, rate, e.s.warmup, nil, nil); err != nil {
			return nil, err
		}
	}
	st := &Step{Phase: phase, Mode: mode, OfferedRate: rate, Latency: map[string]Summary{}}
	var srv *process
	switch mode {
	case modeMCPGuard:
		srv = e.guard
	case modeBare:
		srv = e.bare
	}
	var before procUsage
	var err error
	if srv != nil {
		st.Server = srv.name
		if before, err = srv.usage(); err != nil {
			return nil, err
		}
	}
	stsBefore := len(e.st.STS.Calls())
	lat := newLatencies()
	began := time.Now()
	if err := e.schedule(ctx, mode, m, rate, e.s.stepDuration, lat, st); err != nil {
		return nil, err
	}
	elapsed := time.Since(began)
	st.Seconds = elapsed.Seconds()
	st.STSCalls = len(e.st.STS.Calls()) - stsBefore
	if srv != nil {
		after, err := srv.usage()
		if err != nil {
			return nil, err
		}
		st.ServerCPU = (after.CPU - before.CPU).Seconds()
		if done := st.OK + st.Errors; done > 0 {
			st.CPUPerRequest = st.ServerCPU / float64(done) * 1e6
		}
		st.ServerRSS, st.ServerPeakRSS = after.RSS, after.PeakRSS
	}
	if st.Sent > 0 {
		st.ErrorRate = float64(st.Errors+st.Dropped) / float64(st.Sent)
	}
	st.AchievedRate = float64(st.OK) / elapsed.Seconds()
	for k, h := range lat.hists {
		if h.TotalCount() > 0 {
			st.Latency[k] = summarize(h)
		}
	}
	return st, ctx.Err()
}

// exchangeRequest is r as Envoy's filter chain holds it when ext_proc runs.
func exchangeRequest(r prepared, n int64) *envoysim.Request {
	return &envoysim.Request{
		Method: http.MethodPost, Scheme: "http", Authority: "127.0.0.1", Path: "/mcp",
		Headers: []envoysim.Header{
			{Key: "content-type", Value: "application/json"},
			{Key: "accept", Value: "application/json, text/event-stream"},
			{Key: "authorization", Value: "Bearer " + r.u.token},
			{Key: "mcp-session-id", Value: r.u.session},
			{Key: "mcp-protocol-version", Value: protocolVersion},
			{Key: "content-length", Value: strconv.Itoa(len(r.body))},
			{Key: "x-forwarded-for", Value: "127.0.0.1"},
			{Key: "x-forwarded-proto", Value: "http"},
			{Key: "x-request-id", Value: fmt.Sprintf("00000000-0000-4000-8000-%012d", n)},
		},
		Body: []byte(r.body),
	}
}

// upstreamAnswer is the response headers every exchange gets back.
var upstreamAnswer = []envoysim.Header{
	{Key: "content-type", Value: "application/json"},
	{Key: "x-amzn-requestid", Value: "5e2b8f0a-9c3d-4e71-b6a4-2d8c0f1e7a93"},
	{Key: "content-length", Value: "96"},
}

// exchangeStep measures the ext_proc exchange alone: the request headers,
// buffered body and response headers of allowed tools/calls on one stream
// each, open loop at rate, against mode's server process. Nothing else
// runs in the load process, so the latency is the exchange's and the
// server CPU is what one exchange costs the server.
//
// Latencies also go to pooled, the histograms of every round of mode; with
// profile, the server's CPU and allocation profiles of the step are
// written (-cpuprofile).
func (e *env) exchangeStep(ctx context.Context, mode string, rate float64, pooled *latencies, profile bool) (*Step, error) {
	f := e.filters[mode]
	srv := e.guard
	if mode == modeBare {
		srv = e.bare
	}
	run := func(d time.Duration, lat *latencies, st *Step) error {
		reqs, err := e.prepare(ctx, modeMCPGuard, e.s.exchangeTool, allowedOnly, int(rate*d.Seconds()))
		if err != nil {
			return err
		}
		ex := make([]*envoysim.Request, len(reqs))
		for i, r := range reqs {
			ex[i] = exchangeRequest(r, e.ids.Add(1))
		}
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		start := time.Now()
		for i, r := range ex {
			due := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
			if wait := time.Until(due); wait > 20*time.Microsecond {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					wg.Wait()
					return ctx.Err()
				}
			}
			if st != nil {
				st.Sent++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := f.ProcessRequest(ctx, r)
				failure := ""
				if o.Immediate != nil {
					failure = fmt.Sprintf("request answered %d: %.120s", o.Immediate.Status, o.Immediate.Body)
					o.Close()
				} else {
					ro := o.ProcessResponse(ctx, &envoysim.Response{Status: 200, Headers: upstreamAnswer})
					o.Close()
					if ro.Immediate != nil || ro.Status != 200 {
						failure = fmt.Sprintf("response phase: %d", ro.Status)
					}
				}
				took := time.Since(due)
				if st == nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if failure != "" {
					st.Errors++
					if len(st.ErrorSamples) < 5 {
						st.ErrorSamples = append(st.ErrorSamples, mode+": "+failure)
					}
					return
				}
				st.OK++
				lat.record(kindAllowed, took)
				if pooled != nil {
					pooled.record(kindAllowed, took)
				}
			}()
		}
		wg.Wait()
		return nil
	}
	if e.s.warmup > 0 {
		if err := run(e.s.warmup, nil, nil); err != nil {
			return nil, err
		}
	}
	st := &Step{Phase: "exchange", Mode: mode, OfferedRate: rate, Latency: map[string]Summary{}, Server: srv.name}
	before, err := srv.usage()
	if err != nil {
		return nil, err
	}
	stsBefore := len(e.st.STS.Calls())
	lat := newLatencies()
	var profiled chan error
	// mcpguard's profiles go to FILE, the bare server's to FILE.bare.
	prof := e.s.cpuProfile
	if mode == modeBare {
		prof += ".bare"
	}
	if e.s.cpuProfile != "" && profile {
		if err := e.fetchProfile(ctx, srv, "allocs", prof+".allocs-before"); err != nil {
			return nil, err
		}
		profiled = make(chan error, 1)
		go func() {
			profiled <- e.fetchProfile(ctx, srv, fmt.Sprintf("profile?seconds=%d", max(1, int(e.s.stepDuration/time.Second))), prof)
		}()
	}
	began := time.Now()
	if err := run(e.s.stepDuration, lat, st); err != nil {
		return nil, err
	}
	elapsed := time.Since(began)
	if profiled != nil {
		if err := <-profiled; err != nil {
			return nil, err
		}
		if err := e.fetchProfile(ctx, srv, "allocs", prof+".allocs-after"); err != nil {
			return nil, err
		}
	}
	after, err := srv.usage()
	if err != nil {
		return nil, err
	}
	st.Seconds = elapsed.Seconds()
	st.STSCalls = len(e.st.STS.Calls()) - stsBefore
	st.ServerCPU = (after.CPU - before.CPU).Seconds()
	if done := st.OK + st.Errors; done > 0 {
		st.CPUPerRequest = st.ServerCPU / float64(done) * 1e6
		st.AllocsPerRequest = (after.Mallocs - before.Mallocs) / float64(done)
		st.AllocBytesPerRequest = (after.AllocBytes - before.AllocBytes) / float64(done)
		st.GCPerRequest = (after.GCCPU - before.GCCPU) / float64(done) * 1e6
		st.UserPerRequest = (after.User - before.User).Seconds() / float64(done) * 1e6
		st.SysPerRequest = (after.Sys - before.Sys).Seconds() / float64(done) * 1e6
		st.FaultsPerRequest = float64(after.MinorFaults-before.MinorFaults) / float64(done)
		st.CtxSwitchesPerRequest = float64(after.CtxSwitches-before.CtxSwitches) / float64(done)
	}
	st.ServerRSS, st.ServerPeakRSS = after.RSS, after.PeakRSS
	if st.Sent > 0 {
		st.ErrorRate = float64(st.Errors) / float64(st.Sent)
	}
	st.AchievedRate = float64(st.OK) / elapsed.Seconds()
	for k, h := range lat.hists {
		if h.TotalCount() > 0 {
			st.Latency[k] = summarize(h)
		}
	}
	return st, nil
}

// fetchProfile writes mcpguard's /debug/pprof/<what> to path: the CPU
// profile of the measured step (-cpuprofile), and the cumulative
// allocation profile before and after it (-cpuprofile + .allocs-before,
// .allocs-after; compare them with go tool pprof -base).
func (e *env) fetchProfile(ctx context.Context, srv *process, what, path string) error {
	base := strings.TrimSuffix(srv.metrics, "/metrics")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: status %d", what, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("profile %s: %w", what, err)
	}
	return f.Close()
}
