// Package manifests holds the test that decodes every Kubernetes and Istio
// manifest under examples/ with the real API types (k8s.io/api, istio.io/api)
// and asserts the deployment rules docs/deploy.md lists: pod security,
// probes, preStop and drain timing, spread, disruption budgets, TLS to AWS,
// EnvoyFilter targets and priority, and the ext_proc typed configuration
// passing the same validator as a generated bootstrap. The structural
// checks in envoy/manifests_test.go cover the cross-references between
// files. The package has no non-test code, so the API modules stay out of
// the mcpguard binary.
package manifests
