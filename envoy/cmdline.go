package envoy

// ComponentLogLevels is the value of Envoy's --component-log-level flag that
// keeps credentials out of its log. These components' debug and trace lines
// print request headers or ext_proc header mutations, that is the client's
// bearer token, the SigV4 Authorization and the STS session token; pinning
// them at info means raising Envoy's global level for troubleshooting does
// not write credentials. A bootstrap cannot set log levels, so the flag goes
// on Envoy's command line (or container args).
const ComponentLogLevels = "aws:info,client:info,connection:info,ext_proc:info,grpc:info,http:info,http2:info,jwt:info,router:info"

// CommandLine is the argument list that runs Envoy with the bootstrap at
// path: info level overall and ComponentLogLevels for the components that
// would print signed headers.
func CommandLine(path string) []string {
	return []string{"-c", path, "--log-level", "info", "--component-log-level", ComponentLogLevels}
}
