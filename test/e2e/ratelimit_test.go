package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/gateway"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/redistest"
	"github.com/mcpguard/mcpguard/test/stack"
)

// roundRobin spreads ext_proc streams over replicas, as Envoy's cluster
// load balancer does.
type roundRobin struct {
	conns []*grpc.ClientConn
	n     atomic.Uint64
}

func (r *roundRobin) pick() *grpc.ClientConn { return r.conns[r.n.Add(1)%uint64(len(r.conns))] }

func (r *roundRobin) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return r.pick().Invoke(ctx, method, args, reply, opts...)
}

func (r *roundRobin) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return r.pick().NewStream(ctx, desc, method, opts...)
}

// syncLines collects audit lines from both replicas.
type syncLines struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *syncLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// TestQuotasAcrossReplicas runs two mcpguard replicas behind the Envoy
// stand-in, sharing one Redis: 50 users, one of them flooding. The AWS
// MCP Server's account rate (3/s) holds at the fake upstream, the flooder
// is limited, and every other user is served within the queue time.
func TestQuotasAcrossReplicas(t *testing.T) {
	redisSrv := redistest.Start(t)
	var arrivals struct {
		sync.Mutex
		at []time.Time
	}
	audit := &syncLines{}
	const queueTime = 1500 * time.Millisecond
	s, _ := startStack(t, stack.Options{
		AuditWriter: audit,
		FakeAWSJSON: true,
		FakeAWSConfigure: func(srv *mcp.Server) {
			srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
				return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
					if method == "initialize" {
						arrivals.Lock()
						arrivals.at = append(arrivals.at, time.Now())
						arrivals.Unlock()
					}
					return next(ctx, method, req)
				}
			})
		},
		Mutate: func(c *config.Config) {
			c.RateLimits = &config.RateLimits{
				Redis: config.Redis{Address: redisSrv.Addr},
				Limits: []config.RateLimit{
					// The flooder's own budget: one request every 2s.
					{Name: "per_user", Scope: "user", Rate: 1, Period: 2 * time.Second},
				},
			}
			c.RateLimits.Redis.KeyPrefix = "e2e:"
			c.RateLimits.Redis.DialTimeout = time.Second
			c.RateLimits.Redis.Timeout = time.Second
		},
	})
	// The second replica: same configuration, same Redis.
	endpoint := secondReplica(t, s, gateway.Options{AuditWriter: audit})

	post := func(tok string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(initializeBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		return resp.StatusCode
	}

	users := make([]string, 50)
	for i := range users {
		tok, err := s.LoginToken(stack.User{Name: fmt.Sprintf("user%02d", i), Groups: []string{"s3-readers", "Everyone"}})
		if err != nil {
			t.Fatal(err)
		}
		users[i] = tok
	}

	// The flooder: ten requests a second, whatever it is told.
	var flood struct {
		sync.Mutex
		status map[int]int
	}
	flood.status = map[int]int{}
	floodDone := make(chan struct{})
	var floodWG sync.WaitGroup
	floodWG.Add(1)
	go func() {
		defer floodWG.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		sem := make(chan struct{}, 4)
		for {
			select {
			case <-floodDone:
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				continue
			}
			floodWG.Add(1)
			go func() {
				defer floodWG.Done()
				defer func() { <-sem }()
				st := post(users[0])
				flood.Lock()
				flood.status[st]++
				flood.Unlock()
			}()
		}
	}()

	// The 49 others, one request each, 2.25 a second together: with the
	// flooder's 0.5/s that stays under the account's 3/s.
	var wg sync.WaitGroup
	others := make([]int, len(users))
	tick := time.NewTicker(time.Second * 4 / 9)
	for i := 1; i < len(users); i++ {
		<-tick.C
		wg.Add(1)
		go func() { defer wg.Done(); others[i] = post(users[i]) }()
	}
	tick.Stop()
	wg.Wait()
	close(floodDone)
	floodWG.Wait()

	for i := 1; i < len(users); i++ {
		if others[i] != 200 {
			t.Errorf("user%02d: status %d, want 200", i, others[i])
		}
	}
	flood.Lock()
	t.Logf("flooder answers: %v", flood.status)
	if flood.status[429] == 0 || flood.status[200] == 0 {
		t.Errorf("flooder answers %v: want some admitted and some 429", flood.status)
	}
	flood.Unlock()

	// The upstream's view: no more than 3 requests in any window shorter
	// than a second by a transit allowance (GCRA spaces admissions 333ms
	// apart; forwarding adds jitter after the decision).
	arrivals.Lock()
	at := slices.Clone(arrivals.at)
	arrivals.Unlock()
	if len(at) == 0 {
		t.Fatal("no request reached the upstream")
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	const window = 800 * time.Millisecond
	for i := range at {
		n := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < window; j++ {
			n++
		}
		if n > 3 {
			t.Errorf("%d requests reached the upstream within %s of %s", n, window, at[i].Format(time.StampMilli))
		}
	}
	if span := at[len(at)-1].Sub(at[0]); float64(len(at)) > span.Seconds()*3+1 {
		t.Errorf("%d requests in %s: over 3/s", len(at), span)
	}

	// The others' waits in the account's fair queue, from the audit trail.
	var waits []float64
	sc := bufio.NewScanner(strings.NewReader(func() string { audit.mu.Lock(); defer audit.mu.Unlock(); return audit.buf.String() }()))
	sc.Buffer(nil, 1<<20)
	rejected := 0
	for sc.Scan() {
		var ev struct {
			User *struct {
				Sub string `json:"sub"`
			} `json:"user"`
			Limits []struct {
				Name     string  `json:"name"`
				WaitedMS float64 `json:"waited_ms"`
				Rejected string  `json:"rejected"`
			} `json:"limits"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.User == nil {
			continue
		}
		for _, l := range ev.Limits {
			if l.Rejected != "" {
				rejected++
			}
			if l.Name == config.AWSMCPRateLimit && ev.User.Sub != "user00" && l.Rejected == "" {
				waits = append(waits, l.WaitedMS)
			}
		}
	}
	if rejected == 0 {
		t.Error("no audit record names a rejecting limit")
	}
	if len(waits) < len(users)-1 || len(at) == 0 {
		t.Fatalf("%d audited waits for %d other users", len(waits), len(users)-1)
	}
	slices.Sort(waits)
	p99 := waits[(len(waits)*99+99)/100-1]
	t.Logf("others' queue wait: p50 %.0fms p99 %.0fms max %.0fms; %d upstream requests", waits[len(waits)/2], p99, waits[len(waits)-1], len(at))
	if p99 >= float64(queueTime.Milliseconds()) {
		t.Errorf("others' p99 wait %.0fms, want under %s", p99, queueTime)
	}
	stsCalls := len(s.STS.Calls())
	t.Logf("STS calls without a shared credential cache: %d for %d users on 2 replicas", stsCalls, len(users))
}

func waitServing(t *testing.T, c *grpc.ClientConn) {
	t.Helper()
	h := healthpb.NewHealthClient(c)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatal("replica never served")
		case <-time.After(backoff):
		}
	}
}

// secondReplica runs a second mcpguard with s's configuration and opts,
// and returns the MCP endpoint of an Envoy stand-in that spreads streams
// over both replicas round-robin, as Envoy spreads them over a cluster.
func secondReplica(t *testing.T, s *stack.Stack, opts gateway.Options) string {
	t.Helper()
	g2, err := gateway.New(t.Context(), s.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- g2.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("second replica: %v", err)
		}
	})
	var conns []*grpc.ClientConn
	for _, addr := range []string{s.Gateway.GRPCAddr(), g2.GRPCAddr()} {
		c, err := envoysim.Dial(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		waitServing(t, c)
		conns = append(conns, c)
	}
	filter, err := envoysim.New(&roundRobin{conns: conns}, envoysim.Config{Filter: stack.EnvoyFilter(s.Config), BufferLimit: stack.BufferLimit(s.Config)})
	if err != nil {
		t.Fatal(err)
	}
	awsURL, _ := url.Parse(s.AWS.URL())
	front, err := envoysim.NewFront(envoysim.FrontConfig{Filter: filter, Upstream: awsURL.Scheme + "://" + awsURL.Host, HostRewrite: s.Config.Upstream.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	endpoint := front.URL() + s.Config.Upstream.Path
	return endpoint
}
