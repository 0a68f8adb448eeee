package audit

// Limit is one rate limit in a request's record: one that admitted it
// (with the time it waited in the fair queue and the budget left) or the
// one that refused it (Rejected says why).
type Limit struct {
	Name  string `json:"name"`
	Scope string `json:"scope"`
	// WaitedMS is the time spent queued, in milliseconds.
	WaitedMS float64 `json:"waited_ms,omitempty"`
	// Remaining is the rate budget left; -1 when unknown or no rate.
	Remaining int `json:"remaining"`
	// Rejected is rate, concurrency, queue_full, queue_timeout or
	// store_unavailable; empty when the limit admitted the request.
	Rejected string `json:"rejected,omitempty"`
	// RetryAfterMS is the wait the refusal asked for.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}
