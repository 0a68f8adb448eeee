// Package clients is the client-compatibility suite: MCP clients that the
// project did not write — the MCP TypeScript SDK (with its OAuth client
// provider) and the MCP Inspector CLI, at the versions pinned in
// test/tsclient/package-lock.json — run against the quickstart stack
// (test/stack with examples/quickstart/config.yaml). Each test asserts that
// the client connects, sees the tools its user may see, completes an allowed
// call and reports a denial in words a person can read.
//
// The OAuth test logs in through the quickstart identity provider's login
// page in headless Chromium, driven with chromedp, and keeps screenshots in
// the artifacts directory (MCPGUARD_ARTIFACTS, default bin/artifacts).
//
// The tests install the pinned npm packages themselves (npm ci in
// test/tsclient) when they are missing, and skip, saying why, only where
// node or npm is not installed; the browser test also skips without a
// Chromium outside CI (`make test` installs Debian's chromium when missing).
package clients
