package extproc

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// TestReqLoggerMatchesWith checks that the lazily built logger writes what
// the eager With chain wrote, attribute order included, and that nothing
// below the level is built or written.
func TestReqLoggerMatchesWith(t *testing.T) {
	tid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	var want, got bytes.Buffer
	eager := slog.New(slog.NewJSONHandler(&want, opts))
	lazy := newReqLogger(slog.New(slog.NewJSONHandler(&got, opts)))

	eager.Warn("before headers", "n", 1)
	lazy.Warn("before headers", "n", 1)
	eager = eager.With("request_id", "r-1").With("trace_id", tid.String())
	lazy.setRequestID("r-1")
	lazy.setTraceID(tid)
	eager.Info("first", "a", "b")
	lazy.Info("first", "a", "b")
	eager = eager.With("sub", "alice")
	lazy.setSub("alice")
	eager.Error("second", "err", "x")
	lazy.Error("second", "err", "x")
	eager.Log(context.Background(), slog.LevelWarn, "third")
	lazy.Log(context.Background(), slog.LevelWarn, "third")
	lazy.Log(context.Background(), slog.LevelDebug, "not written")

	if got.String() != want.String() {
		t.Errorf("lazy logger wrote\n%s\nwant\n%s", got.String(), want.String())
	}

	quiet := newReqLogger(slog.New(slog.NewJSONHandler(&got, &slog.HandlerOptions{Level: slog.LevelError})))
	quiet.setRequestID("r-2")
	quiet.Info("dropped")
	if quiet.built != nil {
		t.Error("a logger was built for a record below the level")
	}
}
