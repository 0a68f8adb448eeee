package extproc

import (
	"context"
	"strings"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/credential"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/ratelimit"
)

// Limiter decides, after authorization and once the AWS account is known,
// whether a request fits the configured quotas (ratelimit.Limiter). A
// refusal is KindRateLimited (429) or KindUnavailable (503), both with
// Retry-After; the ticket's Release runs when the stream ends, freeing
// concurrency slots.
type Limiter interface {
	Admit(ctx context.Context, r ratelimit.Request) (*ratelimit.Ticket, error)
}

// quotaState is what the limit stage leaves for the audit record.
type quotaState struct {
	ticket   *ratelimit.Ticket
	rejected *ratelimit.Rejection
}

// admit applies the limits to an authorized request about to be signed
// with grant.
func (x *exchange) admit(body *mcp.Body, grant *credential.Grant) error {
	lim := x.s.o.Limiter
	if lim == nil {
		return nil
	}
	r := ratelimit.Request{
		// Issuer and subject together: the same sub at two IdPs is two users.
		User:    x.id.Issuer + "\n" + x.id.Subject,
		Groups:  x.id.Groups,
		Tools:   toolsOf(body),
		Account: accountOf(grant.RoleARN),
		Region:  x.upstream.Region,
		Service: x.upstream.Service,
	}
	t, err := lim.Admit(x.ctx, r)
	if err != nil {
		x.quota.rejected = ratelimit.RejectionOf(err)
		return err
	}
	x.quota.ticket = t
	return nil
}

// releaseQuota frees the request's concurrency slots when the stream ends.
func (x *exchange) releaseQuota() { x.quota.ticket.Release() }

// noteUpstreamThrottle counts the upstream's own 429s, which pass through
// to the client unchanged.
func (x *exchange) noteUpstreamThrottle() {
	if x.status == 429 {
		name := x.upstream.name
		if name == "" {
			name = "default"
		}
		x.s.o.Metrics.UpstreamThrottled(name)
	}
}

// quotaAudit puts the limits that applied, or the one that refused, in the
// request's audit record.
func (x *exchange) quotaAudit(ev *audit.Event) {
	if t := x.quota.ticket; t != nil {
		for _, a := range t.Applied {
			ev.Limits = append(ev.Limits, audit.Limit{Name: a.Name, Scope: string(a.Scope),
				WaitedMS: float64(a.Waited.Microseconds()) / 1000, Remaining: a.Remaining})
		}
	}
	if r := x.quota.rejected; r != nil {
		ev.Limits = append(ev.Limits, audit.Limit{Name: r.Limit, Scope: string(r.Scope), Rejected: r.Reason,
			RetryAfterMS: r.After.Milliseconds(), Remaining: -1})
	}
}

// toolsOf lists the tools a body calls.
func toolsOf(b *mcp.Body) []string {
	if b == nil {
		return nil
	}
	var out []string
	for i := range b.Messages {
		m := b.Messages[i]
		if m.Method != mcp.MethodToolsCall {
			continue
		}
		if tc, err := m.ToolCall(); err == nil {
			out = append(out, tc.Name)
		}
	}
	return out
}

// accountOf reads the account ID of an IAM or STS ARN
// (arn:partition:service::account:resource); "" when it has none.
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}
