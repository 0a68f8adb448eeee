package fakesso

import (
	"net/http"

	"github.com/mcpguard/mcpguard/test/sigv4check"
)

// verifySignature checks r's SigV4 signature for sso-oauth in the
// server's region.
func (s *Server) verifySignature(r *http.Request, body []byte) (Caller, *apiError) {
	c, ref := sigv4check.Verify(r, body, SigningName, s.opts.Region, s.opts.SignatureClock(), s.opts.Callers)
	if ref != nil {
		return Caller{}, &apiError{status: ref.Status, typ: ref.Code, message: ref.Message}
	}
	return c, nil
}
