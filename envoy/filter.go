package envoy

import (
	"fmt"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mcpguard/mcpguard/config"
)

// ExtProcFilter is the one ext_proc filter configuration of DESIGN.md's
// Envoy contract for cfg. Bootstrap puts it in the generated listener, and
// the test stack (test/stack) and the extproc tests run test/envoysim with
// exactly this message, so a setting that would break production (a
// mutation rule, a timeout, a processing mode) breaks their tests too. The
// Istio examples' EnvoyFilter patches are compared with it field by field.
func ExtProcFilter(cfg *config.Config) *extprocfilterv3.ExternalProcessor {
	ep := &extprocfilterv3.ExternalProcessor{
		GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
				ClusterName: ExtProcClusterName,
				// An explicit :authority: Envoy would otherwise send the
				// cluster name, which under Istio holds "|", a character
				// strict HTTP/2 peers refuse in an authority.
				Authority: ExtProcAuthority,
			}},
		},
		FailureModeAllow: false,
		ProcessingMode: &extprocfilterv3.ProcessingMode{
			RequestHeaderMode:   extprocfilterv3.ProcessingMode_SEND,
			RequestBodyMode:     extprocfilterv3.ProcessingMode_BUFFERED,
			RequestTrailerMode:  extprocfilterv3.ProcessingMode_SKIP,
			ResponseHeaderMode:  extprocfilterv3.ProcessingMode_SEND,
			ResponseBodyMode:    extprocfilterv3.ProcessingMode_NONE,
			ResponseTrailerMode: extprocfilterv3.ProcessingMode_SKIP,
		},
		AllowModeOverride: true,
		RequestAttributes: []string{"source.address", "request.id"},
		MessageTimeout:    durationpb.New(messageTimeout),
		MaxMessageTimeout: durationpb.New(maxMessageTimeout),
		StatPrefix:        "mcpguard",
		RouteCacheAction:  extprocfilterv3.ExternalProcessor_RETAIN,
		MutationRules:     &mutationrulesv3.HeaderMutationRules{DisallowIsError: wrapperspb.Bool(true)},
	}
	if cfg != nil && cfg.OIDC.TokenSource == config.TokenSourceEnvoyMetadata {
		ep.MetadataOptions = &extprocfilterv3.MetadataOptions{
			ForwardingNamespaces: &extprocfilterv3.MetadataOptions_MetadataNamespaces{Untyped: []string{FilterJWTAuthn}},
		}
	}
	return ep
}

// BufferLimit is the listener's per_connection_buffer_limit_bytes for cfg:
// at least Envoy's own default, and never below server.max_request_body_bytes,
// because a BUFFERED body above the limit gets 413 from Envoy and mcpguard
// must be the one that decides up to its own limit. Tests give the same
// number to test/envoysim.
func BufferLimit(cfg *config.Config) (uint32, error) {
	limit := max(cfg.Server.MaxRequestBodyBytes, minBufferLimit)
	if limit > 1<<32-1 {
		return 0, fmt.Errorf("server.max_request_body_bytes %d exceeds Envoy's buffer limit range", cfg.Server.MaxRequestBodyBytes)
	}
	return uint32(limit), nil
}
