package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Results is everything one run measured; it is written as results.json.
type Results struct {
	Date     string         `json:"date"`
	Machine  Machine        `json:"machine"`
	Settings map[string]any `json:"settings"`
	Startup  Startup        `json:"startup"`
	Warm     Warm           `json:"warm"`
	// Exchange is the exchange-only phase: envoysim's ext_proc client
	// driven directly against the bare server and mcpguard, with no HTTP
	// front and no upstream in the load process, at the exchange rate;
	// one step per server, pooled over ExchangeRounds.
	Exchange []*Step `json:"exchange"`
	// ExchangeRounds are the phase's measured steps in the order they ran,
	// alternating the servers.
	ExchangeRounds []*Step `json:"exchange_rounds,omitempty"`
	// Allowed is the allowed-tools/call-only phase at the fixed rate, one
	// step per mode.
	Allowed []*Step `json:"allowed"`
	// Mixed is the saturation search, three steps (one per mode) per rate.
	Mixed      []*Step       `json:"mixed"`
	Saturation Saturation    `json:"saturation"`
	Stampede   Stampede      `json:"stampede"`
	Memory     Memory        `json:"memory"`
	MCPGuard   ProcessTotals `json:"mcpguard_process"`
	Targets    []Target      `json:"targets"`
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"cpu_model"`
	GoVersion string `json:"go"`
	OS        string `json:"os"`
}

// Startup is mcpguard serve's time from exec to /readyz answering 200.
type Startup struct {
	Seconds       float64 `json:"seconds"`
	ExtraPolicies int     `json:"extra_policies"`
}

// Warm counts the STS calls of the users' first requests.
type Warm struct {
	Users    int `json:"users"`
	STSCalls int `json:"sts_calls"`
}

// Saturation is the outcome of the search.
type Saturation struct {
	// Sustained is the highest offered rate mcpguard kept up with.
	Sustained float64 `json:"sustained_rps"`
	StoppedAt float64 `json:"stopped_at_rps,omitempty"`
	Reason    string  `json:"reason,omitempty"`
}

// ProcessTotals are mcpguard's totals over the whole run.
type ProcessTotals struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	RSS        int64   `json:"rss_bytes"`
	PeakRSS    int64   `json:"peak_rss_bytes"`
}

// Target is one of the performance targets with the value this run
// measured.
type Target struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met,omitempty"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func settingsJSON(s settings) map[string]any {
	return map[string]any{
		"users": s.users, "step": s.stepDuration.String(), "warmup": s.warmup.String(), "rate": s.fixedRate,
		"rates": s.rates, "max_p99": s.maxP99.String(), "max_errors": s.maxErrorRate, "max_inflight": s.maxInflight,
		"exchange_rate": s.exchangeRate, "exchange_rounds": s.exchangeRounds, "exchange_tool": s.exchangeTool, "flow_tool": s.flowTool, "mcpguard_env": s.mcpguardEnv, "extra_policies": s.extraPolicies, "stampede": s.stampede, "mem_users": s.memUsers, "cores": s.cores,
	}
}

func (r *Results) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func byMode(steps []*Step) map[string]*Step {
	m := map[string]*Step{}
	for _, s := range steps {
		m[s.Mode] = s
	}
	return m
}

func met(ok bool) *bool { return &ok }

// roundRatios lists mcpguard's CPU per exchange over the bare server's for
// each round of the exchange-only phase.
func roundRatios(steps []*Step) string {
	cpu := map[int]map[string]float64{}
	rounds := 0
	for _, st := range steps {
		if cpu[st.Round] == nil {
			cpu[st.Round] = map[string]float64{}
		}
		cpu[st.Round][st.Mode] = st.CPUPerRequest
		rounds = max(rounds, st.Round)
	}
	var parts []string
	for i := 1; i <= rounds; i++ {
		b, g := cpu[i][modeBare], cpu[i][modeMCPGuard]
		if b > 0 && g > 0 {
			parts = append(parts, fmt.Sprintf("%.0f/%.0f µs = %.2f×", g, b, g/b))
		}
	}
	return strings.Join(parts, "; ")
}

// summarize checks the run against the targets it can measure (the
// micro-benchmark targets are in docs/performance.md).
func (r *Results) summarize(s settings) {
	if x := byMode(r.Exchange); x[modeBare] != nil && x[modeMCPGuard] != nil {
		bare, guard := x[modeBare], x[modeMCPGuard]
		r.cpuTargets("exchange only", bare, guard, s)
		if rounds := roundRatios(r.ExchangeRounds); len(rounds) > 1 {
			r.Targets = append(r.Targets, Target{
				Name: "server CPU ratio of each round (exchange only)", Target: "reported",
				Measured: rounds,
			})
		}
		if bare.AllocsPerRequest > 0 && guard.AllocsPerRequest > 0 {
			r.Targets = append(r.Targets, Target{
				Name: "server allocations per exchange (exchange only)", Target: "≤ bare + 120",
				Measured: fmt.Sprintf("%.0f allocs / %.1f KB vs bare %.0f / %.1f KB: +%.0f", guard.AllocsPerRequest, guard.AllocBytesPerRequest/1e3,
					bare.AllocsPerRequest, bare.AllocBytesPerRequest/1e3, guard.AllocsPerRequest-bare.AllocsPerRequest),
				Met: met(guard.AllocsPerRequest <= bare.AllocsPerRequest+120),
			})
		}
		b, g := bare.Latency[kindAllowed], guard.Latency[kindAllowed]
		r.Targets = append(r.Targets, Target{
			Name: fmt.Sprintf("p99 latency at %.0f rps (exchange only)", s.exchangeRate), Target: "≤ 2 × bare p99",
			Measured: fmt.Sprintf("%.3f ms vs bare %.3f ms = %.2f×", g.P99, b.P99, g.P99/b.P99), Met: met(g.P99 <= 2*b.P99),
		})
		// Without ext_proc the exchange takes no time at all, so what
		// mcpguard adds is its exchange latency.
		r.Targets = append(r.Targets, Target{
			Name: fmt.Sprintf("added p50 latency at %.0f rps (exchange only)", s.exchangeRate), Target: "≤ bare floor p50 + 0.1 ms",
			Measured: fmt.Sprintf("%.3f ms (floor %.3f ms)", g.P50, b.P50), Met: met(g.P50 <= b.P50+0.1),
		}, Target{
			Name: fmt.Sprintf("added p99 latency at %.0f rps (exchange only)", s.exchangeRate), Target: "≤ 1 ms",
			Measured: fmt.Sprintf("%.3f ms (floor %.3f ms)", g.P99, b.P99), Met: met(g.P99 <= 1),
		})
	}
	a := byMode(r.Allowed)
	if direct, bare, guard := a[modeDirect], a[modeBare], a[modeMCPGuard]; direct != nil && bare != nil && guard != nil {
		r.cpuTargets("full flow", bare, guard, s)
		d, b, g := direct.Latency[kindAllowed], bare.Latency[kindAllowed], guard.Latency[kindAllowed]
		addedP50, floorP50 := g.P50-d.P50, b.P50-d.P50
		addedP99 := g.P99 - d.P99
		r.Targets = append(r.Targets, Target{
			Name: fmt.Sprintf("added p50 latency at %.0f rps (full flow)", s.fixedRate), Target: "≤ bare floor + 0.1 ms",
			Measured: fmt.Sprintf("%.3f ms (floor %.3f ms)", addedP50, floorP50), Met: met(addedP50 <= floorP50+0.1),
		}, Target{
			Name: fmt.Sprintf("added p99 latency at %.0f rps (full flow)", s.fixedRate), Target: "≤ 1 ms",
			Measured: fmt.Sprintf("%.3f ms (floor %.3f ms)", addedP99, b.P99-d.P99), Met: met(addedP99 <= 1),
		})
	}
	r.Targets = append(r.Targets, Target{
		Name: "saturation of the whole loopback flow (shared cores)", Target: "reported",
		Measured: fmt.Sprintf("%.0f rps sustained; %s", r.Saturation.Sustained, r.Saturation.Reason),
	})
	onPath := 0
	for _, st := range append(append([]*Step(nil), r.Allowed...), r.Mixed...) {
		onPath += st.STSCalls
	}
	r.Targets = append(r.Targets, Target{
		Name: "STS calls once warm", Target: "0 on the request path; 1 per user at first",
		Measured: fmt.Sprintf("%d during measurements; %d for %d users' first requests", onPath, r.Warm.STSCalls, r.Warm.Users),
		Met:      met(onPath == 0 && r.Warm.STSCalls == r.Warm.Users),
	})
	if r.Stampede.Requests > 0 {
		r.Targets = append(r.Targets, Target{
			Name: fmt.Sprintf("%d simultaneous first requests of one user", r.Stampede.Requests), Target: "1 STS call",
			Measured: fmt.Sprintf("%d STS calls, %d answers other than 200", r.Stampede.STSCalls, r.Stampede.Non200),
			Met:      met(r.Stampede.STSCalls == 1 && r.Stampede.Non200 == 0),
		})
	}
	if r.Memory.Users > 0 {
		projected := float64(r.Memory.RSSBefore) + r.Memory.BytesPerUser*100000
		r.Targets = append(r.Targets, Target{
			Name: "RSS with 100 000 users' credentials cached", Target: "≤ 150 MiB",
			Measured: fmt.Sprintf("%.0f MiB (%.0f bytes/user over %d users, from %.0f MiB)", projected/(1<<20), r.Memory.BytesPerUser, r.Memory.Users, mib(r.Memory.RSSBefore)),
			Met:      met(projected <= 150*(1<<20)),
		})
	}
	r.Targets = append(r.Targets, Target{
		Name: fmt.Sprintf("startup to ready with %d extra policies", r.Startup.ExtraPolicies), Target: "≤ 1 s",
		Measured: fmt.Sprintf("%.0f ms", r.Startup.Seconds*1000), Met: met(r.Startup.Seconds <= 1),
	})
}

// cpuTargets adds the CPU ratio and the capacity it implies for one
// phase's bare and mcpguard steps.
func (r *Results) cpuTargets(phase string, bare, guard *Step, s settings) {
	if bare.CPUPerRequest <= 0 || guard.CPUPerRequest <= 0 {
		return
	}
	ratio := guard.CPUPerRequest / bare.CPUPerRequest
	capacity := s.cores / (guard.CPUPerRequest / 1e6)
	r.Targets = append(r.Targets, Target{
		Name: "server CPU per allowed tools/call (" + phase + ")", Target: "≤ 1.25 × bare",
		Measured: fmt.Sprintf("%.0f µs vs bare %.0f µs = %.2f×", guard.CPUPerRequest, bare.CPUPerRequest, ratio), Met: met(ratio <= 1.25),
	}, Target{
		Name: fmt.Sprintf("capacity on %.0f cores from CPU per request (%s)", s.cores, phase), Target: "≥ 10 000 allowed rps",
		Measured: fmt.Sprintf("%.0f rps (bare server: %.0f)", capacity, s.cores/(bare.CPUPerRequest/1e6)), Met: met(capacity >= 10000),
	})
}

func (r *Results) printTargets(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tgoal\tmeasured\t")
	for _, t := range r.Targets {
		verdict := ""
		if t.Met != nil {
			verdict = map[bool]string{true: "met", false: "NOT MET"}[*t.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Target, t.Measured, verdict)
	}
	tw.Flush()
}

var modeColors = map[string]color.Color{
	modeDirect:   color.RGBA{R: 0x33, G: 0x66, B: 0xcc, A: 0xff},
	modeBare:     color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff},
	modeMCPGuard: color.RGBA{R: 0xdd, G: 0x44, B: 0x22, A: 0xff},
}

// plotLatency draws p50 and p99 against offered rate for each mode of the
// saturation search, on a log latency axis, as base.svg and base.png.
func plotLatency(r *Results, base string) error {
	p := plot.New()
	p.Title.Text = "mcpguard latency vs offered rate (mixed traffic)"
	p.X.Label.Text = "offered rate (requests/s)"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	for _, mode := range modes {
		for _, q := range []struct {
			name string
			get  func(Summary) float64
			dash []vg.Length
		}{
			{"p50", func(s Summary) float64 { return s.P50 }, nil},
			{"p99", func(s Summary) float64 { return s.P99 }, []vg.Length{vg.Points(4), vg.Points(3)}},
		} {
			var pts plotter.XYs
			for _, st := range r.Mixed {
				if st.Mode != mode {
					continue
				}
				if l, ok := st.Latency["all"]; ok && l.Count > 0 {
					pts = append(pts, plotter.XY{X: st.OfferedRate, Y: max(q.get(l), 0.001)})
				}
			}
			if len(pts) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(pts)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			line.Color, points.Color = modeColors[mode], modeColors[mode]
			line.Dashes = q.dash
			points.Shape = draw.CircleGlyph{}
			p.Add(line, points)
			p.Legend.Add(mode+" "+q.name, line, points)
		}
	}
	for _, ext := range []string{".svg", ".png"} {
		if err := p.Save(8*vg.Inch, 5*vg.Inch, base+ext); err != nil {
			return fmt.Errorf("save plot: %w", err)
		}
	}
	return nil
}
