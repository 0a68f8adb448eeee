package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/gateway"
	"github.com/mcpguard/mcpguard/test/fakeidp"
)

// On shutdown mcpguard first reports NOT_SERVING, on gRPC health and on
// /readyz, and keeps accepting new connections and streams for
// server.drain_delay, so Envoy's health checks and Kubernetes take it out of
// rotation before it stops; only then does it stop accepting.
func TestShutdownDrainsBeforeStopping(t *testing.T) {
	idp, err := fakeidp.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	policies, err := filepath.Abs("../examples/policies")
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`server: {grpc_listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", drain_delay: 1m, shutdown_grace: 5s}
oidc_config: {issuer: %q, audience: aws-mcp}
aws_sts_config: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/R', sts_endpoint: 'http://127.0.0.1:1'}
authz_config: {policy_files: [%q]}
`, idp.URL(), filepath.Join(policies, "*.cedar"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	drainAsked := make(chan time.Duration, 1)
	release := make(chan time.Time)
	g, err := gateway.New(t.Context(), cfg, gateway.Options{After: func(d time.Duration) <-chan time.Time {
		drainAsked <- d
		return release
	}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-release:
		default:
			close(release)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	conn, err := grpc.NewClient(g.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	watchCtx, endWatch := context.WithCancel(t.Context())
	defer endWatch()
	watch, err := healthpb.NewHealthClient(conn).Watch(watchCtx, &healthpb.HealthCheckRequest{Service: "envoy.service.ext_proc.v3.ExternalProcessor"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			r, err := watch.Recv()
			if err != nil {
				t.Fatalf("health watch ended before %v: %v", want, err)
			}
			if r.GetStatus() == want {
				return
			}
		}
	}
	waitFor(healthpb.HealthCheckResponse_SERVING)

	stop() // SIGTERM
	waitFor(healthpb.HealthCheckResponse_NOT_SERVING)
	if d := <-drainAsked; d != time.Minute {
		t.Errorf("drain waited %s, want server.drain_delay 1m", d)
	}
	resp, err := http.Get("http://" + g.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: %d, want 503", resp.StatusCode)
	}
	// Still accepting: a new connection's RPC is served during the drain.
	fresh, err := grpc.NewClient(g.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	hr, err := healthpb.NewHealthClient(fresh).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health check on a new connection while draining: %v %v, want NOT_SERVING served", hr, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned during the drain delay: %v", err)
	default:
	}

	endWatch()     // the last open stream ends, so GracefulStop need not wait out the grace
	close(release) // drain_delay over
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	done <- nil // for the cleanup
	late, err := grpc.NewClient(g.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if _, err := healthpb.NewHealthClient(late).Check(t.Context(), &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("a health check after shutdown succeeded: the listener is still open")
	}
}
