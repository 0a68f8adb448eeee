// The MCP TypeScript SDK's OAuth client provider logging in to mcpguard's
// quickstart identity provider, as Claude Code or the MCP Inspector do: the
// first connection gets a 401, the SDK follows the protected resource
// metadata to the authorization server, registers itself (RFC 7591) and
// asks for a login with PKCE. This script prints {"authorize": URL} for the
// driver (a browser) to open, takes the code at its loopback redirect URI,
// exchanges it, and then lists tools, calls each TOOL=TEXT (TEXT is
// aws___run_script's code, or another tool's cli_command), refreshes its
// token once and calls the first one again. It prints one JSON report as
// its last line.
// Usage: node oauth.mjs URL TOOL=TEXT...
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, auth } from '@modelcontextprotocol/sdk/client/auth.js';

const [url, ...calls] = process.argv.slice(2);
const report = { calls: [] };
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let gotCode;
const codePromise = new Promise((resolve) => { gotCode = resolve; });
const expectedState = randomBytes(16).toString('base64url');
const callback = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://127.0.0.1');
  if (u.pathname !== '/callback') { res.writeHead(404).end(); return; }
  const err = u.searchParams.get('error');
  const ok = !err && u.searchParams.get('state') === expectedState && u.searchParams.get('code');
  res.writeHead(ok ? 200 : 400, { 'content-type': 'text/html; charset=utf-8' });
  res.end(ok ? '<!doctype html><title>Logged in</title><h1 id="done">Logged in: you may close this window.</h1>'
    : `<!doctype html><title>Login failed</title><h1 id="failed">Login failed: ${String(err ?? 'bad state').replace(/[<&]/g, '')}</h1>`);
  gotCode(ok ? { code: u.searchParams.get('code'), iss: u.searchParams.get('iss') } : { error: err ?? 'state mismatch' });
});
await new Promise((r) => callback.listen(0, '127.0.0.1', r));
const redirectUrl = `http://127.0.0.1:${callback.address().port}/callback`;

const store = {};
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      client_name: 'mcpguard-oauth-test', redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  state: () => expectedState,
  clientInformation: () => store.client,
  saveClientInformation: (c) => { store.client = c; },
  tokens: () => store.tokens,
  saveTokens: (t) => { store.tokens = t; },
  redirectToAuthorization: (u) => { report.authorizeURL = u.href; emit({ authorize: u.href }); },
  saveCodeVerifier: (v) => { store.verifier = v; },
  codeVerifier: () => store.verifier,
};

const argumentOf = (name) => (name === 'aws___run_script' ? 'code' : 'cli_command');

async function callAll(client, list) {
  for (const c of list) {
    const i = c.indexOf('=');
    try {
      const res = await client.callTool({ name: c.slice(0, i), arguments: { [argumentOf(c.slice(0, i))]: c.slice(i + 1) } });
      report.calls.push({ command: c.slice(i + 1), isError: !!res.isError, text: res.content.map((x) => x.text ?? '').join('') });
    } catch (e) {
      report.calls.push({ command: c.slice(i + 1), thrown: String(e) });
    }
  }
}

try {
  const first = new Client({ name: 'mcpguard-oauth-test', version: '1' });
  try {
    await first.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
    throw new Error('connected without logging in');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const got = await codePromise;
  if (got.error) throw new Error(`authorization failed: ${got.error}`);
  report.iss = got.iss;
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  await transport.finishAuth(got.code);
  const firstToken = store.tokens.access_token;
  const client = new Client({ name: 'mcpguard-oauth-test', version: '1' });
  await client.connect(transport);
  report.sessionId = transport.sessionId ?? null;
  report.tools = (await client.listTools()).tools.map((t) => t.name);
  await callAll(client, calls);
  await transport.terminateSession();
  await client.close();

  // A refresh, as a client does when its access token expires: the SDK
  // trades the refresh token for new tokens (rotation) and goes on.
  const oldRefresh = store.tokens.refresh_token;
  report.refresh = await auth(provider, { serverUrl: new URL(url) });
  report.refreshRotated = !!store.tokens.refresh_token && store.tokens.refresh_token !== oldRefresh;
  report.tokenChanged = store.tokens.access_token !== firstToken;
  const t2 = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const c2 = new Client({ name: 'mcpguard-oauth-test', version: '1' });
  await c2.connect(t2);
  await callAll(c2, calls.slice(0, 1));
  await t2.terminateSession();
  await c2.close();
} catch (e) {
  report.error = String(e?.stack ?? e);
}
callback.close();
emit({ report });
