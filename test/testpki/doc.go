// Package testpki issues throwaway X.509 certificates for tests of the
// ext_proc listener's mutual TLS: a CA, server and client leaves with DNS
// and SPIFFE (URI) SANs, and the PEM files grpc_tls reads. Keys are
// generated per test run and never written outside the test's temporary
// folder, so no private key is ever committed.
//
// It imports only the standard library and is imported only by tests.
package testpki
