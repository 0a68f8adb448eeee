package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/extproc"
	"github.com/mcpguard/mcpguard/sigv4"
	"github.com/mcpguard/mcpguard/sts"
	"github.com/mcpguard/mcpguard/sts/idc"
	"github.com/mcpguard/mcpguard/telemetry"
	"github.com/mcpguard/mcpguard/toolpin"
)

// Options carry what a configuration file cannot: injected dependencies.
type Options struct {
	// Logger receives every log line; nil discards them.
	Logger *slog.Logger
	// HTTPClient is used for OIDC discovery, JWKS and STS. Nil builds one
	// with conservative timeouts.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AuditWriter, when set, receives the audit trail instead of
	// audit_config.output (embedding and tests).
	AuditWriter io.Writer
	// ConfigPath is reported in the config_loaded audit record.
	ConfigPath string
	// AWSCredentials are the gateway's own IAM credentials, which sign
	// IAM Identity Center's CreateTokenWithIAM; nil loads the SDK's
	// default chain when identity_center is configured.
	AWSCredentials aws.CredentialsProvider
	// After is the drain timer (server.drain_delay); nil means
	// time.After. Tests hold the drain open with it.
	After func(time.Duration) <-chan time.Time
}

// Gateway is one running mcpguard.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *telemetry.Metrics

	authn *authn.Multi
	authz *authz.Authorizer // nil when no authz_config: every request is denied
	creds *sts.Broker
	idc   *idc.Broker // nil without identity_center
	quota *quotas     // nil without rate_limits
	// sharedRDB is the Redis client of aws_sts_config.shared_cache.
	sharedRDB *redis.Client
	audit     *audit.Logger

	tracer         trace.TracerProvider
	tracerShutdown func(context.Context) error

	grpc    *grpc.Server
	health  *health.Server
	admin   *http.Server
	grpcLn  net.Listener
	adminLn net.Listener

	stop     context.CancelFunc // ends background work (JWKS refresh, policy watch)
	after    func(time.Duration) <-chan time.Time
	draining atomic.Bool // set once shutdown starts: /readyz answers 503
	stopOnce sync.Once
}

// serviceName is the health-checked service name besides "" (overall).
const serviceName = "envoy.service.ext_proc.v3.ExternalProcessor"

// New builds every stage from cfg and binds both listeners, so the
// addresses are known (and a busy port is reported) before Run.
func New(ctx context.Context, cfg *config.Config, o Options) (g *Gateway, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	built := &Gateway{cfg: cfg, log: o.Logger, metrics: telemetry.NewMetrics(), stop: stop, after: o.After}
	g = built
	defer func() {
		// "return nil, err" has already cleared g: close what was built.
		if err != nil {
			built.close()
		}
	}()

	if err := g.buildAudit(o); err != nil { //nolint:contextcheck // the audit trail outlives the context that builds the gateway
		return nil, err
	}
	if err := g.buildTracing(bg); err != nil {
		return nil, err
	}
	if err := g.buildStages(bg, o); err != nil {
		return nil, err
	}
	if err := g.listen(); err != nil {
		return nil, err
	}
	g.auditConfigLoaded(o.ConfigPath) //nolint:contextcheck // lifecycle records are written even when startup is cancelled
	return g, nil
}

func (g *Gateway) buildAudit(o Options) error {
	a := g.cfg.Audit
	var cp audit.CheckpointOptions
	if a.AuditEnabled() && a.Checkpoints.KeyFile != "" {
		key, err := audit.LoadPrivateKey(a.Checkpoints.KeyFile)
		if err != nil {
			return fmt.Errorf("open audit trail: %w", err)
		}
		cp = audit.CheckpointOptions{Key: key, File: a.Checkpoints.File, Interval: a.Checkpoints.Interval}
	}
	var err error
	g.audit, err = audit.New(audit.Options{
		Checkpoints:      cp,
		Enabled:          a.AuditEnabled(),
		Output:           a.Output,
		Writer:           o.AuditWriter,
		Fsync:            a.Fsync,
		FsyncInterval:    a.FsyncInterval,
		FlushInterval:    a.FlushInterval,
		IncludeArguments: a.ArgumentsIncluded(),
		RedactKeys:       a.RedactKeys,
		MaxArgumentBytes: a.MaxArgumentBytes,
		Include:          a.EventTypes.Include,
		Exclude:          a.EventTypes.Exclude,
		OnFailure:        a.OnFailure,
		Logger:           g.log.With("stage", "audit"),
		Now:              o.Now,
		OnWrite:          func(t audit.Type, oc audit.Outcome) { g.metrics.AuditEvent(string(t), string(oc)) },
		OnWriteFailure:   g.metrics.AuditWriteFailure,
		// Logging each checkpoint puts the anchored head in a second place
		// that log shipping usually carries off the host.
		OnCheckpoint: func(c audit.Checkpoint) {
			g.log.Info("audit checkpoint", "seq", c.Seq, "hash", c.Hash, "reason", c.Reason)
		},
	})
	if err != nil {
		return fmt.Errorf("open audit trail: %w", err)
	}
	return nil
}

func (g *Gateway) buildTracing(ctx context.Context) error {
	t := g.cfg.Telemetry.Tracing
	tp, shutdown, err := telemetry.NewTracerProvider(ctx, telemetry.TracingOptions{
		Enabled: t.Enabled, Exporter: t.Exporter, Endpoint: t.Endpoint, Insecure: t.Insecure,
		SampleRatio: t.SampleRatio, ServiceName: t.ServiceName,
	})
	if err != nil {
		return fmt.Errorf("set up tracing: %w", err)
	}
	g.tracer, g.tracerShutdown = tp, shutdown
	return nil
}

// extraGroupClaims are the claims besides oidc_config.group_claim that
// later stages read as groups, so authentication refuses a token whose
// groups any of them could not read whole.
func extraGroupClaims(cfg *config.Config) []string {
	var out []string
	if cfg.STS.RoleClaim != "" {
		out = append(out, cfg.STS.RoleClaim)
	}
	if cfg.Authz != nil && cfg.Authz.GroupClaim != "" {
		out = append(out, cfg.Authz.GroupClaim)
	}
	return out
}

func (g *Gateway) buildStages(bg context.Context, o Options) error {
	cfg := g.cfg
	var err error
	g.authn, err = authn.NewMulti(bg, authnOptions(cfg, o.HTTPClient, g.log.With("stage", "authn"), g.metrics, o.Now))
	if err != nil {
		return fmt.Errorf("build authenticator: %w", err)
	}

	if a := cfg.Authz; a != nil {
		awsOpts, err := AWSAnalysisOptions(cfg)
		if err != nil {
			return err
		}
		g.authz, err = authz.New(bg, authz.Options{
			AWS:            awsOpts,
			PolicyFiles:    a.PolicyFiles,
			EntitiesFile:   a.EntitiesFile,
			ServerHost:     cfg.Upstream.Host,
			GroupClaim:     a.GroupClaim,
			SchemaFile:     a.SchemaFile,
			ReloadInterval: 2 * time.Second,
			// An emptied guardrails file must not silently drop its forbids.
			AllowGuardrailRemoval: a.AllowGuardrailRemoval,
			Logger:                g.log.With("stage", "authz"),
			OnReload:              g.policyReloaded,
			// Config validation has already checked the mode.
			SchemaValidation:  authz.SchemaMode(a.SchemaValidation),
			ShadowPolicyFiles: a.ShadowPolicyFiles,
			OnShadow:          g.policyShadow,
		})
		if err != nil {
			return fmt.Errorf("load policies: %w", err)
		}
		g.metrics.PolicyReload(true)
	} else {
		g.log.Warn("no authz_config: every request will be denied until policies are configured")
	}

	so := stsOptions(cfg, o.HTTPClient, g.log.With("stage", "sts"), g.metrics, g.audit, o.Now)
	if so.Shared, g.sharedRDB, err = buildSharedCache(cfg, g.log.With("stage", "sts")); err != nil {
		return fmt.Errorf("build shared credential cache: %w", err)
	}
	g.creds, err = sts.New(so)
	if err != nil {
		return fmt.Errorf("build credential broker: %w", err)
	}
	var source extproc.CredentialSource = g.creds
	if usesScopeDown(cfg) {
		if err := checkScopeDownCompat(cfg); err != nil {
			return err
		}
		if source, err = newScopedSource(g.creds, cfg); err != nil {
			return err
		}
	}
	if cfg.IdentityCenter != nil {
		r, err := g.identityCenter(bg, cfg, o)
		if err != nil {
			return fmt.Errorf("build identity center credential source: %w", err)
		}
		source = r
	}

	var store *toolpin.Store
	mode := toolpin.Mode(cfg.ToolPinning.Mode)
	if mode != toolpin.Off {
		if store, err = toolpin.OpenStore(cfg.ToolPinning.Store, o.Now); err != nil {
			return fmt.Errorf("open tool pin store: %w", err)
		}
	}
	pins, err := toolpin.NewGuard(mode, store)
	if err != nil {
		return fmt.Errorf("tool pinning: %w", err)
	}

	proto, err := protocolOptions(cfg, g.log)
	if err != nil {
		return err
	}
	if g.quota, err = g.buildQuotas(); err != nil {
		return err
	}
	var limiter extproc.Limiter
	if g.quota != nil {
		limiter = g.quota.limiter
	}
	srv, err := extproc.New(extproc.Options{
		Protocol:   proto,
		Authn:      g.authn,
		Authz:      g.authorizer(),
		Visibility: g.visibility(),
		Creds:      source,
		Signer:     sigv4.New(sigv4.Options{}),
		Upstream: extproc.Upstream{
			Host:     cfg.Upstream.Host,
			Region:   cfg.Upstream.Region,
			Service:  cfg.Upstream.Service,
			Path:     cfg.Upstream.Path,
			Versions: cfg.Upstream.ProtocolVersions,
		},
		Upstreams:    namedUpstreams(cfg),
		MaxBodyBytes: int(cfg.Server.MaxRequestBodyBytes),
		Audit:        g.audit,
		Tracer:       g.tracer,
		Pins:         pins,
		Logger:       g.log.With("stage", "extproc"),
		Metrics:      g.metrics,
		Now:          o.Now,
		Limiter:      limiter,
	})
	if err != nil {
		return fmt.Errorf("build ext_proc server: %w", err)
	}

	// Envoy sends the whole buffered body in one message; allow it with
	// room for headers and attributes.
	maxMsg := max(4<<20, int(cfg.Server.MaxRequestBodyBytes)+(256<<10))
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMsg),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// A fixed pool of stream workers reuses goroutines (and their
		// grown stacks) instead of starting one per ext_proc stream. Its
		// size was measured (docs/performance.md): with one worker per core
		// most streams of a loaded server found every worker busy and ran
		// on fresh goroutines whose stacks grew through every stage; with
		// 256 the channel handed each stream to the longest-idle worker,
		// whose stack the collector had shrunk since. Eight per core keeps
		// both rare.
		grpc.NumStreamWorkers(uint32(8 * runtime.GOMAXPROCS(0))), //nolint:gosec // GOMAXPROCS is a small positive number
	}
	if cfg.Telemetry.Tracing.Enabled {
		// The gRPC stats handler costs allocations on every stream; only
		// pay for it when spans are exported.
		opts = append(opts, telemetry.GRPCServerOption(g.tracer))
	}
	if t := cfg.Server.GRPCTLS; t.Enabled() {
		peer, err := newPeerTLS(t, g.log.With("stage", "grpc_tls"), g.metrics.PeerRefused)
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(peer.serverConfig())))
	}
	g.grpc = grpc.NewServer(opts...)
	extprocv3.RegisterExternalProcessorServer(g.grpc, srv)
	g.health = health.NewServer()
	g.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	g.health.SetServingStatus(serviceName, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(g.grpc, g.health)

	g.admin = &http.Server{
		Handler:           g.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	return nil
}

// namedUpstreams maps the upstreams list onto extproc's, nil when the single
// upstream serves every route.
func namedUpstreams(cfg *config.Config) map[string]extproc.Upstream {
	if len(cfg.Upstreams) == 0 {
		return nil
	}
	m := make(map[string]extproc.Upstream, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		m[u.Name] = extproc.Upstream{Host: u.Host, Region: u.Region, Service: u.Service, Path: u.Path, Versions: u.ProtocolVersions}
	}
	return m
}

// authorizer returns the configured authorizer as the extproc interface,
// keeping a nil *authz.Authorizer from becoming a non-nil interface.
// authorizer and visibility are the Cedar authorizer, or DenyAll when no
// policy is configured.
func (g *Gateway) authorizer() extproc.Authorizer {
	if g.authz == nil {
		return extproc.DenyAll{}
	}
	return g.authz
}

func (g *Gateway) visibility() extproc.Visibility {
	if g.authz == nil {
		return extproc.DenyAll{}
	}
	return g.authz
}

func (g *Gateway) listen() error {
	var err error
	if path := g.cfg.Server.GRPCSocket(); path != "" {
		mode, merr := g.cfg.Server.SocketMode()
		if merr != nil {
			return fmt.Errorf("server.grpc_socket_mode: %w", merr)
		}
		g.grpcLn, err = listenUnix(path, mode)
	} else {
		g.grpcLn, err = net.Listen("tcp", g.cfg.Server.GRPCListen)
	}
	if err != nil {
		return fmt.Errorf("listen for gRPC on %s: %w", g.cfg.Server.GRPCListen, err)
	}
	g.adminLn, err = net.Listen("tcp", g.cfg.Server.AdminListen)
	if err != nil {
		return fmt.Errorf("listen for admin HTTP on %s: %w", g.cfg.Server.AdminListen, err)
	}
	return nil
}

// GRPCAddr is the bound address of the ext_proc server, spelled as
// server.grpc_listen and gRPC targets accept it: host:port, or
// unix:///path for a Unix socket.
func (g *Gateway) GRPCAddr() string { return grpcAddr(g.grpcLn) }

// AdminAddr is the bound address of the admin HTTP server.
func (g *Gateway) AdminAddr() string { return g.adminLn.Addr().String() }

// Metrics exposes the gateway's metrics (tests scrape them).
func (g *Gateway) Metrics() *telemetry.Metrics { return g.metrics }

// Ready reports whether every stage can serve: the JWKS has been fetched
// and the policies are loaded.
func (g *Gateway) Ready() bool {
	return g.authn.Ready() && !g.draining.Load()
}

// drain reports NOT_SERVING (gRPC health and /readyz) and keeps serving new
// streams for server.drain_delay, so every Envoy's health check and the
// orchestrator take this replica out before it stops accepting: streams
// that arrive meanwhile are served, not refused with a reset.
func (g *Gateway) drain() {
	g.draining.Store(true)
	g.health.Shutdown() // NOT_SERVING: Envoy stops sending new streams
	if d := g.cfg.Server.DrainDelay; d > 0 {
		after := g.after
		if after == nil {
			after = time.After
		}
		<-after(d)
	}
}

// Reload re-reads the policy files; a broken set keeps the last good one.
func (g *Gateway) Reload() error {
	if g.authz == nil {
		return errors.New("no authz_config: nothing to reload")
	}
	return g.authz.Reload()
}

// ReopenAudit reopens the audit log file by its path (SIGHUP after a
// rotation); the new file's first record links to the previous head.
func (g *Gateway) ReopenAudit() error {
	return g.audit.Reopen()
}

// Run serves until ctx is done, then stops accepting, lets in-flight
// streams finish within server.shutdown_grace, and returns.
func (g *Gateway) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- g.grpc.Serve(g.grpcLn) }()
	go func() {
		if err := g.admin.Serve(g.adminLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	readyCtx, stopReady := context.WithCancel(ctx)
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		g.watchReadiness(readyCtx)
	}()
	g.auditServer(audit.TypeServerStart) //nolint:contextcheck // lifecycle records are written even when Run is cancelled
	g.log.Info("mcpguard serving", "grpc", g.GRPCAddr(), "admin", g.AdminAddr(),
		"grpc_peer_auth", peerAuthMode(&g.cfg.Server),
		"upstream", g.cfg.Upstream.Host, "issuer", g.cfg.OIDC.Issuer)
	for _, w := range g.cfg.Warnings() {
		g.log.Warn(w)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		g.log.Error("server stopped unexpectedly", "error", runErr)
	}
	stopReady() // the readiness watcher ends before the health service does
	<-readyDone
	g.shutdown() //nolint:contextcheck // shutdown runs after Run's context is done, by design
	return runErr
}

// watchReadiness flips the gRPC health status to SERVING once every stage
// is ready, so Envoy's health checks and Kubernetes probes agree.
func (g *Gateway) watchReadiness(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if g.Ready() {
			g.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			g.health.SetServingStatus(serviceName, healthpb.HealthCheckResponse_SERVING)
			g.log.Info("mcpguard ready")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *Gateway) shutdown() {
	g.log.Info("shutting down", "drain_delay", g.cfg.Server.DrainDelay, "grace", g.cfg.Server.ShutdownGrace)
	g.drain()
	done := make(chan struct{})
	go func() { g.grpc.GracefulStop(); close(done) }()
	t := time.NewTimer(g.cfg.Server.ShutdownGrace)
	select {
	case <-done:
		t.Stop()
	case <-t.C:
		g.log.Warn("shutdown grace period over; closing remaining streams")
		g.grpc.Stop()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = g.admin.Shutdown(sctx)
	g.auditServer(audit.TypeServerStop)
	g.close()
	if err := g.tracerShutdown(sctx); err != nil {
		g.log.Warn("flush traces", "error", err)
	}
	g.log.Info("mcpguard stopped")
}

func (g *Gateway) close() {
	g.stopOnce.Do(func() {
		g.stop()
		if g.authz != nil {
			g.authz.Close() // no policy reload audited after the trail closes
		}
		if g.idc != nil {
			g.idc.Close()
		}
		if g.creds != nil {
			g.creds.Close()
		}
		if g.sharedRDB != nil {
			g.sharedRDB.Close()
		}
		g.quota.close()
		if g.audit != nil {
			if err := g.audit.Close(); err != nil {
				g.log.Error("close audit trail", "error", err)
			}
		}
		if g.grpcLn != nil {
			g.grpcLn.Close()
		}
		if g.adminLn != nil {
			g.adminLn.Close()
		}
	})
}
