// Package redistest starts a real redis-server, bound to loopback, for the
// tests that need shared state (rate limits, the shared credential cache).
// A test that needs Redis fails when redis-server is missing and CI is set
// (`make test` installs it from the distribution's packages), and skips
// with the reason otherwise.
package redistest
