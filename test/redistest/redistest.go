package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server owned by one test.
type Server struct {
	Addr   string
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{}
}

// Start runs redis-server on a free loopback port without persistence,
// waits until it answers PING, and stops it when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis-server is required (CI is set): install it with `make redis` or apt-get install redis-server")
		}
		tb.Skip("redis-server not installed (make redis installs it); this test needs a real Redis")
	}
	var last error
	for range 3 {
		s, err := start(tb, bin)
		if err == nil {
			return s
		}
		last = err
	}
	tb.Fatalf("start redis-server: %v", last)
	return nil
}

func start(tb testing.TB, bin string) (*Server, error) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", tb.TempDir(), "--protected-mode", "yes")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(15 * time.Second)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("redis-server exited: %s", s.out.String())
		case <-time.After(backoff):
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("redis-server did not answer PING: %w", err)
		}
	}
	tb.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-exited
	})
	s.exited = exited
	return s, nil
}

// Client returns a client of s, closed when tb ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Stop kills the server (an outage) and waits until it has exited.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}
