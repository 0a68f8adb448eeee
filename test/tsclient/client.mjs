// The MCP TypeScript SDK's client talking to mcpguard: it lists tools and
// calls each tool named on the command line, printing one JSON report.
// Usage: node client.mjs URL TOKEN TOOL=TEXT...
// TEXT is aws___run_script's code, or another tool's cli_command.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, token, ...calls] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const argumentOf = (name) => (name === 'aws___run_script' ? 'code' : 'cli_command');
const client = new Client({ name: 'mcpguard-tsclient', version: '1' });
const report = { calls: [] };
try {
  await client.connect(transport);
  report.protocolVersion = transport.protocolVersion ?? null;
  report.sessionId = transport.sessionId ?? null;
  const tools = await client.listTools();
  report.tools = tools.tools.map((t) => t.name);
  for (const c of calls) {
    const i = c.indexOf('=');
    const name = c.slice(0, i);
    const cmd = c.slice(i + 1);
    try {
      const res = await client.callTool({ name, arguments: { [argumentOf(name)]: cmd } });
      report.calls.push({ command: cmd, isError: !!res.isError, text: res.content.map((x) => x.text ?? '').join('') });
    } catch (e) {
      report.calls.push({ command: cmd, thrown: String(e) });
    }
  }
  await transport.terminateSession();
  await client.close();
} catch (e) {
  report.error = String(e);
}
process.stdout.write(JSON.stringify(report) + '\n');
