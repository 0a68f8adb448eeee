package envoysim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FrontConfig describes the listener, the one route and the upstream cluster
// of the simulated Envoy.
type FrontConfig struct {
	// Addr is the listen address; empty means 127.0.0.1:0.
	Addr string
	// Listener, when set, is used instead of listening on Addr, so a
	// caller can know the front's URL before it starts (to configure it
	// as a resource identifier).
	Listener net.Listener
	// Filter is the ext_proc filter every request runs through. It may be
	// nil only when Direct is set.
	Filter *Filter
	// Direct skips ext_proc entirely: a plain proxy, the baseline for load
	// tests.
	Direct bool
	// Upstream is the cluster, a plain http:// URL (scheme and host only).
	Upstream string
	// HostRewrite is the route's host_rewrite_literal: the Host the upstream
	// sees. Empty keeps the downstream :authority.
	HostRewrite string
	// PrefixMatch and PrefixRewrite are the route's match prefix and
	// prefix_rewrite; the rewrite applies when PrefixRewrite is non-empty.
	PrefixMatch   string
	PrefixRewrite string
	// InternalAddresses is the connection manager's internal_address_config
	// (cidr_ranges): a client in one of them is internal, gets
	// x-envoy-internal: true and keeps its x-request-id. Envoy 1.36+ treats
	// no address as internal unless configured, loopback included.
	InternalAddresses []netip.Prefix
	// PreserveExternalRequestID is the connection manager's
	// preserve_external_request_id: keep an external client's
	// x-request-id instead of generating a new one.
	PreserveExternalRequestID bool
	// RouteTimeout is the route timeout; zero disables it (timeout: 0s), as
	// MCP streams require. When set, the router adds
	// x-envoy-expected-rq-timeout-ms and answers 504 when headers are late.
	RouteTimeout time.Duration
	// Client reaches the upstream; nil means a client without proxy,
	// compression or redirects.
	Client *http.Client
	// OnExchange, when set, is called after each request has been answered.
	OnExchange func(*Exchange)
	// Logger receives one line per failure; nil discards.
	Logger *slog.Logger
}

// Exchange is what a test can inspect about one request through the front.
type Exchange struct {
	// Downstream is the request as the filter chain received it (after the
	// connection manager added x-request-id, x-forwarded-*).
	Downstream *Request
	// Upstream is the request as forwarded, nil when none was sent.
	Upstream *Request
	// Status is the status written to the client.
	Status int
	// Details are Envoy's response code details, empty on success.
	Details string
	// Log is the ext_proc message log (empty in Direct mode).
	Log []Message
	// Rejected counts header mutations ext_proc ignored.
	Rejected int
}

// Front is a loopback HTTP listener that behaves as Envoy's connection
// manager, ext_proc filter and router in front of one upstream.
type Front struct {
	cfg      FrontConfig
	upstream *url.URL
	client   *http.Client
	srv      *http.Server
	ln       net.Listener
	log      *slog.Logger
	done     chan struct{}
}

// NewFront starts listening and serving immediately.
func NewFront(cfg FrontConfig) (*Front, error) {
	if cfg.Filter == nil && !cfg.Direct {
		return nil, errors.New("new front: no filter and not direct")
	}
	u, err := url.Parse(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("new front: parse upstream: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("new front: upstream %q is not an http://host[:port] URL", cfg.Upstream)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("new front: listen: %w", err)
		}
	}
	fr := &Front{cfg: cfg, upstream: u, client: cfg.Client, ln: ln, log: cfg.Logger, done: make(chan struct{})}
	if fr.log == nil {
		fr.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if fr.client == nil {
		fr.client = &http.Client{
			Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 64},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	fr.srv = &http.Server{Handler: http.HandlerFunc(fr.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(fr.done)
		_ = fr.srv.Serve(ln)
	}()
	return fr, nil
}

// URL is the base URL clients use, http://127.0.0.1:port.
func (fr *Front) URL() string { return "http://" + fr.ln.Addr().String() }

// Close stops the listener and waits for the serve loop to end.
func (fr *Front) Close() error {
	err := fr.srv.Close()
	<-fr.done
	if err != nil {
		return fmt.Errorf("close front: %w", err)
	}
	return nil
}

// hopByHop are the connection-specific headers Envoy strips from requests
// and responses (ConnectionManagerUtility / HTTP/1 codec).
var hopByHop = []string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate"}

func isHopByHop(k string) bool {
	for _, h := range hopByHop {
		if k == h {
			return true
		}
	}
	return false
}

func (fr *Front) serve(w http.ResponseWriter, r *http.Request) {
	ex := &Exchange{}
	defer func() {
		if fr.cfg.OnExchange != nil {
			fr.cfg.OnExchange(ex)
		}
	}()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		ex.Status, ex.Details = 400, "downstream_remote_disconnect"
		return
	}
	req := fr.downstream(r, body)
	// Trailers are known once the body has been read whole.
	for _, h := range HeadersFrom(r.Trailer) {
		req.Trailers = append(req.Trailers, Header{Key: strings.ToLower(h.Key), Value: h.Value})
	}
	ex.Downstream = cloneRequest(req)

	if fr.cfg.Direct {
		fr.forwardAndRespond(r.Context(), w, req, nil, ex)
		return
	}
	o := fr.cfg.Filter.ProcessRequest(r.Context(), req)
	defer func() {
		o.Close()
		ex.Log = o.Log()
		ex.Rejected = o.RejectedMutations()
	}()
	if o.Immediate != nil {
		ex.Details = o.Details
		writeLocalReply(w, o.Immediate, ex)
		return
	}
	fr.forwardAndRespond(r.Context(), w, o.Request, o, ex)
}

// downstream applies what the connection manager does before any filter
// runs, as for use_remote_address: true (ConnectionManagerUtility::
// mutateRequestHeaders): hop-by-hop headers removed, x-forwarded-for
// appended, x-forwarded-proto set; for an internal client (one in
// InternalAddresses) x-envoy-internal set and x-request-id kept, for any
// other x-request-id generated anew unless PreserveExternalRequestID. The
// peer address becomes the source.address attribute.
func (fr *Front) downstream(r *http.Request, body []byte) *Request {
	req := &Request{Method: r.Method, Scheme: "http", Authority: r.Host, Path: r.RequestURI, Body: body, Source: r.RemoteAddr}
	var hs []Header
	for _, h := range HeadersFrom(r.Header) {
		k := strings.ToLower(h.Key)
		if isHopByHop(k) || k == "host" || k == "x-forwarded-proto" || k == "x-envoy-internal" {
			continue
		}
		hs = append(hs, Header{Key: k, Value: h.Value})
	}
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	xff := -1
	for i, h := range hs {
		if h.Key == "x-forwarded-for" {
			xff = i
		}
	}
	if xff >= 0 {
		hs[xff].Value += ", " + remote
	} else {
		hs = append(hs, Header{Key: "x-forwarded-for", Value: remote})
	}
	hs = append(hs, Header{Key: "x-forwarded-proto", Value: "http"})
	internal := fr.internal(remote)
	if internal {
		hs = append(hs, Header{Key: "x-envoy-internal", Value: "true"})
	}
	if _, ok := Get(hs, "x-request-id"); !ok || !internal && !fr.cfg.PreserveExternalRequestID {
		hs = slices.DeleteFunc(hs, func(h Header) bool { return h.Key == "x-request-id" })
		hs = append(hs, Header{Key: "x-request-id", Value: newUUID()})
	}
	req.Headers = hs
	return req
}

// internal reports whether the connection manager treats the peer as
// internal: only an address in InternalAddresses is.
func (fr *Front) internal(remote string) bool {
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range fr.cfg.InternalAddresses {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// routed applies the router's rewrites, which happen after every filter.
func (fr *Front) routed(req *Request) *Request {
	out := cloneRequest(req)
	if fr.cfg.HostRewrite != "" {
		out.Authority = fr.cfg.HostRewrite
	}
	if fr.cfg.PrefixRewrite != "" && strings.HasPrefix(out.Path, fr.cfg.PrefixMatch) {
		out.Path = fr.cfg.PrefixRewrite + strings.TrimPrefix(out.Path, fr.cfg.PrefixMatch)
	}
	if fr.cfg.RouteTimeout > 0 {
		out.Headers = append(out.Headers, Header{Key: "x-envoy-expected-rq-timeout-ms", Value: strconv.FormatInt(fr.cfg.RouteTimeout.Milliseconds(), 10)})
	}
	return out
}

func (fr *Front) forwardAndRespond(ctx context.Context, w http.ResponseWriter, req *Request, o *Outcome, ex *Exchange) {
	up := fr.routed(req)
	ex.Upstream = up
	if fr.cfg.RouteTimeout > 0 {
		// The route timeout covers the whole upstream response.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fr.cfg.RouteTimeout)
		defer cancel()
	}
	start := time.Now()
	resp, details, err := fr.roundTrip(ctx, up)
	var ur *Response
	if err != nil {
		fr.log.Debug("upstream request failed", "error", err)
		ex.Upstream = nil
		lr := finishLocalReply(&LocalReply{
			Status:  503,
			Body:    []byte("upstream connect error or disconnect/reset before headers. reset reason: connection failure"),
			Details: details,
		}, nil, permissiveChecker(), req.Method == "HEAD")
		if details == "upstream_response_timeout" {
			lr = finishLocalReply(&LocalReply{Status: 504, Body: []byte("upstream request timeout"), Details: details}, nil, permissiveChecker(), req.Method == "HEAD")
		}
		ex.Details = lr.Details
		ur = &Response{Status: lr.Status, Headers: lr.Headers}
		if len(lr.Body) > 0 {
			ur.Body = strings.NewReader(string(lr.Body))
		}
	} else {
		defer resp.Body.Close()
		ur = &Response{Status: resp.StatusCode}
		for _, h := range HeadersFrom(resp.Header) {
			k := strings.ToLower(h.Key)
			if isHopByHop(k) {
				continue
			}
			ur.Headers = append(ur.Headers, Header{Key: k, Value: h.Value})
		}
		if resp.ContentLength >= 0 {
			if _, ok := Get(ur.Headers, "content-length"); !ok {
				ur.Headers = append(ur.Headers, Header{Key: "content-length", Value: strconv.FormatInt(resp.ContentLength, 10)})
			}
		}
		ur.Headers = append(ur.Headers, Header{Key: "x-envoy-upstream-service-time", Value: strconv.FormatInt(time.Since(start).Milliseconds(), 10)})
		if !(resp.ContentLength == 0 || req.Method == "HEAD" || resp.StatusCode == 204 || resp.StatusCode == 304) {
			ur.Body = resp.Body
		}
	}

	if o == nil {
		fr.writeResponse(w, ur.Status, ur.Headers, ur.Body, ex)
		return
	}
	ro := o.ProcessResponse(ctx, ur)
	if ro.Immediate != nil {
		ex.Details = ro.Details
		writeLocalReply(w, ro.Immediate, ex)
		return
	}
	if ro.Details != "" {
		ex.Details = ro.Details
	}
	if c, ok := ro.Body.(io.Closer); ok {
		defer c.Close()
	}
	fr.writeResponse(w, ro.Status, ro.Headers, ro.Body, ex)
}

func (fr *Front) roundTrip(ctx context.Context, up *Request) (*http.Response, string, error) {
	u := *fr.upstream
	p, err := url.Parse(up.Path)
	if err != nil {
		return nil, "upstream_reset_before_response_started{invalid_path}", fmt.Errorf("parse path: %w", err)
	}
	u.Path, u.RawPath, u.RawQuery = p.Path, p.RawPath, p.RawQuery
	hr, err := http.NewRequestWithContext(ctx, up.Method, u.String(), nil)
	if err != nil {
		return nil, "upstream_reset_before_response_started{invalid_request}", fmt.Errorf("build request: %w", err)
	}
	hr.URL.RawPath = p.RawPath
	hr.Host = up.Authority
	hr.Header = http.Header{}
	cl := int64(-1)
	for _, h := range up.Headers {
		switch h.Key {
		case "content-length":
			if n, err := strconv.ParseInt(h.Value, 10, 64); err == nil {
				cl = n
			}
			continue
		case "host":
			continue
		}
		hr.Header[http.CanonicalHeaderKey(h.Key)] = append(hr.Header[http.CanonicalHeaderKey(h.Key)], h.Value)
	}
	if _, ok := hr.Header["User-Agent"]; !ok {
		hr.Header["User-Agent"] = []string{""}
	}
	if len(up.Trailers) > 0 {
		// Trailers need a chunked body, as on Envoy's HTTP/1 codec.
		hr.Trailer = http.Header{}
		for _, t := range up.Trailers {
			hr.Trailer[http.CanonicalHeaderKey(t.Key)] = append(hr.Trailer[http.CanonicalHeaderKey(t.Key)], t.Value)
		}
		hr.Body = io.NopCloser(strings.NewReader(string(up.Body)))
		hr.ContentLength = -1
	} else if len(up.Body) > 0 {
		hr.Body = io.NopCloser(strings.NewReader(string(up.Body)))
		hr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(up.Body))), nil }
		hr.ContentLength = cl // -1 (no content-length) means chunked, as Envoy's HTTP/1 codec
	} else if cl > 0 {
		hr.ContentLength = cl
	}
	resp, err := fr.client.Do(hr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, "upstream_response_timeout", err
		}
		return nil, "upstream_reset_before_response_started{connection_failure}", err
	}
	return resp, "", nil
}

func (fr *Front) writeResponse(w http.ResponseWriter, status int, headers []Header, body io.Reader, ex *Exchange) {
	h := w.Header()
	hasCT := false
	for _, hd := range headers {
		if hd.Key == "content-type" {
			hasCT = true
		}
		if hd.Key == "server" {
			continue
		}
		h[http.CanonicalHeaderKey(hd.Key)] = append(h[http.CanonicalHeaderKey(hd.Key)], hd.Value)
	}
	// The codec sets server: envoy (server_header_transformation OVERWRITE)
	// and never sniffs a content-type.
	h.Set("Server", "envoy")
	if !hasCT {
		h["Content-Type"] = nil
	}
	w.WriteHeader(status)
	ex.Status = status
	if body == nil {
		return
	}
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if errors.Is(err, errStreamReset) {
			// Envoy resets the stream: the client sees no clean end.
			panic(http.ErrAbortHandler)
		}
		if err != nil {
			return
		}
	}
}

func writeLocalReply(w http.ResponseWriter, lr *LocalReply, ex *Exchange) {
	if lr.Status == 0 {
		return // downstream gone: nothing to write
	}
	h := w.Header()
	hasCT := false
	for _, hd := range lr.Headers {
		if hd.Key == "content-type" {
			hasCT = true
		}
		h[http.CanonicalHeaderKey(hd.Key)] = append(h[http.CanonicalHeaderKey(hd.Key)], hd.Value)
	}
	h.Set("Server", "envoy")
	if !hasCT {
		h["Content-Type"] = nil
	}
	w.WriteHeader(lr.Status)
	ex.Status = lr.Status
	_, _ = w.Write(lr.Body)
}

func cloneRequest(r *Request) *Request {
	c := *r
	c.Headers = append([]Header(nil), r.Headers...)
	c.Body = append([]byte(nil), r.Body...)
	return &c
}

// newUUID returns a random version 4 UUID, the format of Envoy's generated
// x-request-id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
