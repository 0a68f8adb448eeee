package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mcpguard/mcpguard/sigv4"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

const (
	upstreamHost    = "aws-mcp.us-east-1.api.aws"
	region          = "us-east-1"
	audience        = "aws-mcp"
	protocolVersion = "2025-06-18"
)

// The three ways a request can reach the upstream.
const (
	modeDirect   = "direct"
	modeBare     = "bare"
	modeMCPGuard = "mcpguard"
)

var modes = []string{modeDirect, modeBare, modeMCPGuard}

// profile is one kind of user: their IdP groups, and for each tool a call
// their policies allow and one they deny (a cli_command of aws___call_aws,
// the code of aws___run_script).
type profile struct {
	groups        []string
	allowed       string
	denied        string
	allowedScript string
	deniedScript  string
}

// script is the code of a run_script that makes one call_boto3 call.
func script(service, operation, params string) string {
	return "result = await call_boto3(service_name='" + service + "', operation_name='" + operation + "'" + params + ")\nreturn result\n"
}

var profiles = []profile{
	{[]string{"s3-readers", "Everyone"}, "aws s3 ls", "aws ec2 describe-instances",
		script("s3", "ListBuckets", ""), script("ec2", "DescribeInstances", "")},
	{[]string{"ec2-viewers", "Everyone"}, "aws ec2 describe-instances", "aws s3 ls",
		script("ec2", "DescribeInstances", ""), script("s3", "ListBuckets", "")},
	{[]string{"data-analysts", "Everyone"}, "aws s3 ls", "aws s3 rm s3://mcpguard-demo-reports/report.csv",
		script("s3", "ListObjectsV2", ", params={'Bucket': 'mcpguard-demo-reports'}"),
		script("s3", "DeleteObject", ", params={'Bucket': 'mcpguard-demo-reports', 'Key': 'report.csv'}")},
}

// scriptPolicies let the s3-readers and ec2-viewers of the load run the
// scripts of their profiles (the examples permit them only the legacy
// aws___call_aws); the examples' data-analysts policy permits theirs.
const scriptPolicies = `@id("load-s3-readers-scripts")
permit (principal in Group::"s3-readers", action == Action::"tools/call", resource == Tool::"aws___run_script")
when { context has aws && context.aws.complete && ["s3:ListBuckets", "s3:ListObjectsV2"].containsAll(context.aws.actions) };

@id("load-ec2-viewers-scripts")
permit (principal in Group::"ec2-viewers", action == Action::"tools/call", resource == Tool::"aws___run_script")
when { context has aws && context.aws.complete && ["ec2:DescribeInstances", "ec2:DescribeRegions"].containsAll(context.aws.actions) };
`

// The tools the allowed and denied calls of the load go to.
const (
	toolRunScript = "run_script" // aws___run_script, today's only AWS tool
	toolCallAWS   = "call_aws"   // the legacy aws___call_aws, for runs comparable with older ones
)

// The request kinds of the traffic mix.
const (
	kindAllowed = "allowed" // a tools/call the user's policies permit
	kindDenied  = "denied"  // a tools/call they forbid (403 from mcpguard)
	kindList    = "list"    // tools/list
)

var kinds = []string{kindAllowed, kindDenied, kindList}

func callAWS(id int64, cli string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":%s}}}`, id, jsonString(cli))
}

func runScript(id int64, code string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"aws___run_script","arguments":{"code":%s}}}`, id, jsonString(code))
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always encodes
	}
	return string(b)
}

// user is one simulated developer with a token and an MCP session.
type user struct {
	name    string
	profile profile
	token   string
	session string // through mcpguard, which seals the upstream's id
	// upstreamSession is the session the baseline modes use: their
	// requests reach the upstream with no mcpguard to unseal an id.
	upstreamSession string
	creds           aws.Credentials
}

// sessionFor is u's MCP session id in requests of mode.
func (u *user) sessionFor(mode string) string {
	if mode == modeMCPGuard {
		return u.session
	}
	return u.upstreamSession
}

// body is u's request of kind with JSON-RPC id, its calls to tool: ids
// are unique within a session, as the MCP server requires of requests in
// flight.
func (u *user) body(kind, tool string, id int64) string {
	switch {
	case kind == kindAllowed && tool == toolCallAWS:
		return callAWS(id, u.profile.allowed)
	case kind == kindDenied && tool == toolCallAWS:
		return callAWS(id, u.profile.denied)
	case kind == kindAllowed:
		return runScript(id, u.profile.allowedScript)
	case kind == kindDenied:
		return runScript(id, u.profile.deniedScript)
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, id)
}

// process is a server whose resource use is measured: mcpguard (run by
// the stack) or the bare ext_proc server (run here).
type process struct {
	name string
	id   int
	// metrics is the URL of the process's /metrics, read for its heap
	// allocation counters.
	metrics string
	// cmd, log, done and err are set for the processes this program
	// starts itself.
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

func (p *process) pid() int { return p.id }

func (p *process) usage() (procUsage, error) {
	u, err := readProc(p.pid())
	if err != nil || p.metrics == "" {
		return u, err
	}
	m, err := stack.Metrics(p.metrics)
	if err != nil {
		return u, err
	}
	u.Mallocs, u.AllocBytes = m["go_memstats_mallocs_total"], m["go_memstats_alloc_bytes_total"]
	u.GCCPU = m[gcCPUMetric]
	return u, nil
}

// stop interrupts a process this program started and waits for it.
func (p *process) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	stack.StopChild(p.cmd.Process, p.done, 20*time.Second)
	if p.log != nil {
		p.log.Close()
	}
}

// tail is the end of the process's log, for error reports.
func (p *process) tail() string {
	if p == nil || p.log == nil {
		return ""
	}
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// env is the running flow: test/stack's fakes, mcpguard process and Envoy
// stand-in, plus the baselines' fronts and the bare ext_proc server.
type env struct {
	s      settings
	dir    string
	st     *stack.Stack
	guard  *process
	bare   *process
	conns  []*grpc.ClientConn
	fronts map[string]*envoysim.Front
	// filters are the ext_proc clients of the bare and mcpguard fronts,
	// driven directly by the exchange phase.
	filters map[string]*envoysim.Filter
	client  *http.Client
	signer  *sigv4.Signer
	users   []*user
	ids     atomic.Int64 // JSON-RPC ids, unique over the run

	startup     time.Duration // mcpguard serve to /readyz
	policyCount int
	configPath  string
	auditPath   string
}

// start brings the whole flow up and opens every user's MCP session.
func start(ctx context.Context, s settings) (e *env, err error) {
	e = &env{s: s, fronts: map[string]*envoysim.Front{}, filters: map[string]*envoysim.Filter{}, signer: sigv4.New(sigv4.Options{})}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "mcpguard-load-"); err != nil {
		return nil, err
	}
	if err := e.startMCPGuard(ctx); err != nil {
		return nil, err
	}
	if err := e.startBare(ctx); err != nil {
		return nil, err
	}
	if err := e.startFronts(); err != nil {
		return nil, err
	}
	e.client = &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConns: 0, MaxIdleConnsPerHost: s.maxInflight, IdleConnTimeout: time.Minute},
		Timeout:   30 * time.Second,
	}
	return e, nil
}

// frontClient is a stand-in's client to the upstream, sized for the run.
func (e *env) frontClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: e.s.maxInflight},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// writePolicies writes n policies scoped to tools and actions no request
// of the run uses, so the run's decisions are taken with a policy set of
// realistic size, and returns their glob.
func writePolicies(dir string, n int) (string, error) {
	pdir := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return "", err
	}
	var b strings.Builder
	for i := range n {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "@id(\"other-tool-%d\")\npermit (principal in Group::\"team-%d\", action == Action::\"tools/call\", resource == Tool::\"tool_%d\")\nwhen { resource.arguments has limit && resource.arguments.limit < %d };\n\n", i, i, i, i+10)
		case 1:
			fmt.Fprintf(&b, "@id(\"other-prompt-%d\")\npermit (principal in Group::\"team-%d\", action == Action::\"prompts/get\", resource == Prompt::\"prompt_%d\");\n\n", i, i, i)
		default:
			fmt.Fprintf(&b, "@id(\"other-forbid-%d\")\nforbid (principal, action == Action::\"tools/call\", resource == Tool::\"dangerous_%d\")\nunless { principal in Group::\"admins-%d\" };\n\n", i, i, i)
		}
	}
	if err := os.WriteFile(filepath.Join(pdir, "generated.cedar"), []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	return filepath.Join(pdir, "*.cedar"), nil
}

// writeConfig writes the run's mcpguard configuration. Its listeners,
// issuer and STS endpoint are placeholders: test/stack points them at free
// ports and its fakes in the file mcpguard runs with.
func (e *env) writeConfig() error {
	examples, err := filepath.Abs(filepath.Join(e.s.root, "examples", "policies"))
	if err != nil {
		return err
	}
	files := []string{filepath.Join(examples, "*.cedar")}
	if e.s.extraPolicies > 0 {
		g, err := writePolicies(e.dir, e.s.extraPolicies)
		if err != nil {
			return fmt.Errorf("write policies: %w", err)
		}
		files = append(files, g)
	}
	if e.s.exchangeTool == toolRunScript || e.s.flowTool == toolRunScript {
		p := filepath.Join(e.dir, "scripts.cedar")
		if err := os.WriteFile(p, []byte(scriptPolicies), 0o644); err != nil {
			return fmt.Errorf("write policies: %w", err)
		}
		files = append(files, p)
	}
	e.auditPath = e.s.audit
	if e.auditPath == "" {
		e.auditPath = filepath.Join(e.dir, "audit.log")
	}
	cfg := fmt.Sprintf(`server:
  grpc_listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  pprof: %t
upstream:
  host: %s
  service: aws-mcp
  path: /mcp
oidc_config:
  issuer: http://127.0.0.1:1
  audience: %s
aws_sts_config:
  region: %s
  sts_endpoint: http://127.0.0.1:1
  role_claim: https://aws.amazon.com/tags/principal_tags/Groups
  role_mappings:
    - claim: s3-readers
      role_arn: %s
      priority: 10
    - claim: ec2-viewers
      role_arn: %s
      priority: 20
    - claim: data-analysts
      role_arn: %s
  cache:
    max_entries: %d
authz_config:
  policy_files: [%s]
  entities_file: %s
  # The generated policies read resource.arguments.limit of synthetic
  # tools, which mcpguard's schema does not declare.
  schema_validation: off
audit_config:
  output: %s
`, e.s.cpuProfile != "", upstreamHost, audience, region,
		stack.S3Role, stack.EC2Role, stack.S3Role, max(10000, e.s.memUsers+e.s.users+1000),
		quoteAll(files), filepath.Join(examples, "entities.json"), e.auditPath)
	e.configPath = filepath.Join(e.dir, "config.yaml")
	return os.WriteFile(e.configPath, []byte(cfg), 0o600)
}

// quoteAll renders paths as the items of a YAML flow sequence.
func quoteAll(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = strconv.Quote(p)
	}
	return strings.Join(q, ", ")
}

// startMCPGuard starts the stack with mcpguard serve in its own process;
// the stack times it from exec to /readyz answering 200. The identity
// provider is already up, so the JWKS fetch is a loopback round trip.
func (e *env) startMCPGuard(ctx context.Context) error {
	if err := e.writeConfig(); err != nil {
		return err
	}
	var err error
	if e.st, err = stack.Start(ctx, stack.Options{
		ConfigPath:  e.configPath,
		Ephemeral:   true,
		FakeAWSJSON: true,
		FrontClient: e.frontClient(),
		Process: &stack.Process{
			Binary:  e.s.mcpguardBin,
			Env:     e.s.mcpguardEnv,
			LogPath: filepath.Join(e.dir, "mcpguard.log"),
		},
	}); err != nil {
		return err
	}
	e.startup = e.st.Startup
	e.policyCount = e.s.extraPolicies
	e.guard = &process{name: "mcpguard", id: e.st.PID(), metrics: e.st.AdminURL + "/metrics"}
	e.fronts[modeMCPGuard], e.filters[modeMCPGuard] = e.st.Front, e.st.Filter
	return nil
}

// startBare runs this program's bare subcommand as its own process.
func (e *env) startBare(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	logFile, err := os.Create(filepath.Join(e.dir, "bare.log"))
	if err != nil {
		w.Close()
		return err
	}
	p := &process{name: "bare", log: logFile, done: make(chan struct{})}
	p.cmd = exec.Command(self, "bare", "-listen", "127.0.0.1:0")
	p.cmd.Stdout, p.cmd.Stderr = w, logFile
	if err := p.cmd.Start(); err != nil {
		w.Close()
		logFile.Close()
		return fmt.Errorf("start bare server: %w", err)
	}
	w.Close()
	p.id = p.cmd.Process.Pid
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	e.bare = p
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	var a string
	select {
	case a = <-addr:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	fields := strings.Fields(a)
	if len(fields) != 2 {
		return fmt.Errorf("bare server did not report its addresses\n%s", p.tail())
	}
	a, p.metrics = fields[0], "http://"+fields[1]+"/metrics"
	conn, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial bare server: %w", err)
	}
	e.conns = append(e.conns, conn)
	return nil
}

// startFronts starts the baselines' Envoy stand-ins (mcpguard's is the
// stack's), all in front of the stack's fake AWS MCP Server.
func (e *env) startFronts() error {
	upstream := strings.TrimSuffix(e.st.AWS.URL(), "/mcp")
	var err error
	if e.fronts[modeDirect], err = envoysim.NewFront(envoysim.FrontConfig{Direct: true, Upstream: upstream, HostRewrite: upstreamHost, Client: e.frontClient()}); err != nil {
		return fmt.Errorf("start direct front: %w", err)
	}
	f, err := envoysim.New(e.conns[0], envoysim.Config{Filter: stack.EnvoyFilter(e.st.Config), BufferLimit: stack.BufferLimit(e.st.Config)})
	if err != nil {
		return fmt.Errorf("configure %s filter: %w", modeBare, err)
	}
	e.filters[modeBare] = f
	if e.fronts[modeBare], err = envoysim.NewFront(envoysim.FrontConfig{Filter: f, Upstream: upstream, HostRewrite: upstreamHost, Client: e.frontClient()}); err != nil {
		return fmt.Errorf("start %s front: %w", modeBare, err)
	}
	return nil
}

func (e *env) close() {
	for m, f := range e.fronts {
		if m != modeMCPGuard {
			f.Close() // the stack closes its own
		}
	}
	for _, c := range e.conns {
		c.Close()
	}
	if e.st != nil {
		e.st.Close()
	}
	e.bare.stop()
	if e.dir != "" && !e.s.keep {
		os.RemoveAll(e.dir)
	}
}

// newUser mints a token for user i of the given name prefix.
func (e *env) newUser(prefix string, i int, opts ...fakeidp.MintOption) (*user, error) {
	p := profiles[i%len(profiles)]
	u := &user{name: fmt.Sprintf("%s-%06d", prefix, i), profile: p}
	claims := e.st.Claims(stack.User{Name: u.name, Groups: p.groups})
	claims["exp"] = time.Now().Add(e.s.tokenLifetime).Unix()
	tok, err := e.st.IdP.Mint(claims, opts...)
	if err != nil {
		return nil, fmt.Errorf("mint token: %w", err)
	}
	u.token = tok
	return u, nil
}

// post sends one MCP POST through mode's front and returns the status.
// sid is the MCP session; signed, when set, replaces the bearer token with
// precomputed SigV4 headers (the baseline modes).
func (e *env) post(ctx context.Context, mode string, u *user, body string, signed []sigv4.Header) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.fronts[mode].URL()+"/mcp", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid := u.sessionFor(mode); sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", protocolVersion)
	}
	if signed != nil {
		for _, h := range signed {
			req.Header.Set(h.Name, h.Value)
		}
	} else {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var head [160]byte
	n, _ := io.ReadFull(resp.Body, head[:])
	if _, err = io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode >= 300 {
		// Unexpected answers are reported with the start of their body.
		return resp.StatusCode, "", &answerError{status: resp.StatusCode, body: string(head[:n])}
	}
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), nil
}

// answerError carries the start of a refused request's body, so a report
// of unexpected answers says what they were.
type answerError struct {
	status int
	body   string
}

func (a *answerError) Error() string { return fmt.Sprintf("status %d: %q", a.status, a.body) }

// transportFailed reports whether err is a failure to get any answer, as
// opposed to an answer with an error status.
func transportFailed(err error) bool {
	var ae *answerError
	return err != nil && !errors.As(err, &ae)
}

// open starts u's MCP session through mcpguard, which also makes
// mcpguard obtain and cache u's AWS credentials.
func (e *env) open(ctx context.Context, u *user) error {
	st, sid, err := e.post(ctx, modeMCPGuard, u, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+protocolVersion+`","capabilities":{},"clientInfo":{"name":"load","version":"1"}}}`, nil)
	if err != nil || st != http.StatusOK || sid == "" {
		return fmt.Errorf("%s initialize: status %d, session %q, %v", u.name, st, sid, err) //nolint:errorlint // the error may be nil; the message is for a person
	}
	u.session = sid
	st, _, err = e.post(ctx, modeMCPGuard, u, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	if err != nil || st != http.StatusAccepted {
		return fmt.Errorf("%s initialized: status %d, %v", u.name, st, err) //nolint:errorlint // the error may be nil; the message is for a person
	}
	return nil
}

// openUsers creates and opens the traffic's users, then looks up the
// credentials the fake STS issued to each for the baseline signatures.
func (e *env) openUsers(ctx context.Context) error {
	e.users = make([]*user, e.s.users)
	var wg sync.WaitGroup
	errs := make([]error, e.s.users)
	sem := make(chan struct{}, 16)
	for i := range e.s.users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			u, err := e.newUser("user", i)
			if err == nil {
				err = e.open(ctx, u)
			}
			e.users[i], errs[i] = u, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	bySubject := map[string]string{}
	for _, c := range e.st.STS.Calls() {
		if c.ErrorCode == "" && c.AccessKeyID != "" {
			bySubject[c.Subject] = c.AccessKeyID
		}
	}
	for _, u := range e.users {
		akid, ok := bySubject[u.name]
		if !ok {
			return fmt.Errorf("%s: no credentials issued by the fake STS", u.name)
		}
		c, ok := e.st.STS.Issued(akid)
		if !ok {
			return fmt.Errorf("%s: credentials %s unknown to the fake STS", u.name, akid)
		}
		u.creds = aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			CanExpire: true, Expires: c.Expiration}
		if err := e.openUpstream(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// openUpstream starts u's own MCP session at the upstream for the
// baseline modes, signed with u's credentials as mcpguard would sign.
func (e *env) openUpstream(ctx context.Context, u *user) error {
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + protocolVersion + `","capabilities":{},"clientInfo":{"name":"load-baseline","version":"1"}}}`
	signed, err := e.signBaseline(ctx, u, init, time.Now())
	if err != nil {
		return err
	}
	st, sid, err := e.post(ctx, modeDirect, u, init, signed)
	if err != nil || st != http.StatusOK || sid == "" {
		return fmt.Errorf("%s upstream initialize: status %d, session %q, %v", u.name, st, sid, err) //nolint:errorlint // the error may be nil; the message is for a person
	}
	u.upstreamSession = sid
	note := `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	if signed, err = e.signBaseline(ctx, u, note, time.Now()); err != nil {
		return err
	}
	if st, _, err = e.post(ctx, modeDirect, u, note, signed); err != nil || st != http.StatusAccepted {
		return fmt.Errorf("%s upstream initialized: status %d, %v", u.name, st, err) //nolint:errorlint // the error may be nil; the message is for a person
	}
	return nil
}

// signBaseline computes the SigV4 headers the baseline modes send for
// body as u. AWS accepts a signature for five minutes, longer than any
// step, so requests are signed before their step starts.
func (e *env) signBaseline(ctx context.Context, u *user, body string, now time.Time) ([]sigv4.Header, error) {
	res, err := e.signer.Sign(ctx, sigv4.Request{
		Method: http.MethodPost, Host: upstreamHost, Path: "/mcp", Body: []byte(body),
		ContentType: "application/json", Credentials: u.creds, Region: region, Service: "aws-mcp", Time: now,
	})
	if err != nil {
		return nil, fmt.Errorf("sign baseline request: %w", err)
	}
	return res.Set, nil
}
