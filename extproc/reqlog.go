package extproc

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// reqLogger is an exchange's logger, built only when something is logged.
// slog.Logger.With formats its attributes into a new handler at once, which
// cost every request several allocations (request_id, trace_id, sub) even
// when nothing was logged at the configured level. reqLogger keeps the
// values and calls With on the first record that is enabled; the output is
// the same. It is used by one exchange's goroutine only.
type reqLogger struct {
	base      *slog.Logger
	built     *slog.Logger
	requestID string
	traceID   trace.TraceID
	sub       string
	// Which of the attributes were given; they are added in this order,
	// the order in which an exchange learns them.
	hasRequestID, hasTraceID, hasSub bool
}

func newReqLogger(base *slog.Logger) *reqLogger { return &reqLogger{base: base} }

// setRequestID adds request_id, as With("request_id", id) did.
func (l *reqLogger) setRequestID(id string) { l.requestID, l.hasRequestID, l.built = id, true, nil }

// setTraceID adds trace_id, as With("trace_id", id.String()) did.
func (l *reqLogger) setTraceID(id trace.TraceID) { l.traceID, l.hasTraceID, l.built = id, true, nil }

// setSub adds sub, as With("sub", sub) did.
func (l *reqLogger) setSub(sub string) { l.sub, l.hasSub, l.built = sub, true, nil }

// logger returns the slog.Logger with the attributes known so far.
func (l *reqLogger) logger() *slog.Logger {
	if l.built != nil {
		return l.built
	}
	lg := l.base
	if l.hasRequestID {
		lg = lg.With("request_id", l.requestID)
	}
	if l.hasTraceID {
		lg = lg.With("trace_id", l.traceID.String())
	}
	if l.hasSub {
		lg = lg.With("sub", l.sub)
	}
	l.built = lg
	return lg
}

// Log emits a record at level when the base logger is enabled for it.
func (l *reqLogger) Log(ctx context.Context, level slog.Level, msg string, args ...any) {
	if !l.base.Enabled(ctx, level) {
		return
	}
	l.logger().Log(ctx, level, msg, args...)
}

// enabled reports whether a record at level would be emitted, so a caller
// can skip building its arguments.
func (l *reqLogger) enabled(level slog.Level) bool {
	return l.base.Enabled(context.Background(), level)
}

// Debug logs at slog.LevelDebug.
func (l *reqLogger) Debug(msg string, args ...any) {
	l.Log(context.Background(), slog.LevelDebug, msg, args...)
}

// Info logs at slog.LevelInfo.
func (l *reqLogger) Info(msg string, args ...any) {
	l.Log(context.Background(), slog.LevelInfo, msg, args...)
}

// Warn logs at slog.LevelWarn.
func (l *reqLogger) Warn(msg string, args ...any) {
	l.Log(context.Background(), slog.LevelWarn, msg, args...)
}

// Error logs at slog.LevelError.
func (l *reqLogger) Error(msg string, args ...any) {
	l.Log(context.Background(), slog.LevelError, msg, args...)
}
