package envoysim

import (
	"crypto/tls"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Dial opens the gRPC channel Envoy's envoy_grpc cluster would open to the
// ext_proc server at target (host:port, or unix:///path for a pipe
// address). With tlsCfg it plays the cluster's UpstreamTlsContext: the
// client certificate in tlsCfg.Certificates is presented, the server's
// certificate is verified against tlsCfg.RootCAs and must name
// tlsCfg.ServerName (Envoy's match_typed_subject_alt_names), and h2 is
// offered by ALPN (alpn_protocols: [h2]). A nil tlsCfg is a plaintext
// cluster. The returned connection is what New takes.
func Dial(target string, tlsCfg *tls.Config) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		c := tlsCfg.Clone()
		if len(c.NextProtos) == 0 {
			c.NextProtos = []string{"h2"}
		}
		creds = credentials.NewTLS(c)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("dial ext_proc server %s: %w", target, err)
	}
	return conn, nil
}
