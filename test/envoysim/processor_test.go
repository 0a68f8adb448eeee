package envoysim

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// fakeProcessor is a hand-written ext_proc server: each stream is handed to
// handle, and every message and the stream metadata are recorded.
type fakeProcessor struct {
	extprocv3.UnimplementedExternalProcessorServer
	handle func(extprocv3.ExternalProcessor_ProcessServer) error

	mu       sync.Mutex
	streams  int
	received []*extprocv3.ProcessingRequest
	md       []metadata.MD
}

type recordingStream struct {
	extprocv3.ExternalProcessor_ProcessServer
	p *fakeProcessor
}

func (r recordingStream) Recv() (*extprocv3.ProcessingRequest, error) {
	m, err := r.ExternalProcessor_ProcessServer.Recv()
	if err == nil {
		r.p.mu.Lock()
		r.p.received = append(r.p.received, m)
		r.p.mu.Unlock()
	}
	return m, err
}

func (p *fakeProcessor) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	p.mu.Lock()
	p.streams++
	p.md = append(p.md, md)
	p.mu.Unlock()
	return p.handle(recordingStream{stream, p})
}

func (p *fakeProcessor) messages() []*extprocv3.ProcessingRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*extprocv3.ProcessingRequest(nil), p.received...)
}

// startProcessor serves handle on a loopback TCP port and returns a client
// connection to it.
func startProcessor(t testing.TB, handle func(extprocv3.ExternalProcessor_ProcessServer) error) (*fakeProcessor, *grpc.ClientConn) {
	t.Helper()
	p := &fakeProcessor{handle: handle}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(srv, p)
	go func() { _ = srv.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return p, conn
}

// script answers each message with reply(msg); a nil reply ends the RPC
// cleanly (status OK), a non-nil error ends it with that status.
func script(reply func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error)) func(extprocv3.ExternalProcessor_ProcessServer) error {
	return func(stream extprocv3.ExternalProcessor_ProcessServer) error {
		for {
			req, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			resp, err := reply(req)
			if err != nil {
				return err
			}
			if resp == nil {
				return nil
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}

// continueAll answers every message with an empty CONTINUE of its own type.
func continueAll(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	return continueWith(req, nil), nil
}

// continueWith answers req with CONTINUE and the given CommonResponse.
func continueWith(req *extprocv3.ProcessingRequest, cr *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	if cr == nil {
		cr = &extprocv3.CommonResponse{}
	}
	switch req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{Response: cr}}}
	case *extprocv3.ProcessingRequest_RequestBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{Response: cr}}}
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{Response: cr}}}
	case *extprocv3.ProcessingRequest_ResponseBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{Response: cr}}}
	}
	return &extprocv3.ProcessingResponse{}
}

func setRaw(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, RawValue: []byte(value)}}
}

func immediate(code typev3.StatusCode, body string) *extprocv3.ProcessingResponse {
	ir := &extprocv3.ImmediateResponse{Body: []byte(body)}
	if code != 0 {
		ir.Status = &typev3.HttpStatus{Code: code}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: ir}}
}

// mode builds a ProcessingMode.
func mode(reqH extprocfilterv3.ProcessingMode_HeaderSendMode, reqB extprocfilterv3.ProcessingMode_BodySendMode,
	respH extprocfilterv3.ProcessingMode_HeaderSendMode, respB extprocfilterv3.ProcessingMode_BodySendMode) *extprocfilterv3.ProcessingMode {
	return &extprocfilterv3.ProcessingMode{RequestHeaderMode: reqH, RequestBodyMode: reqB, ResponseHeaderMode: respH, ResponseBodyMode: respB}
}

const (
	send     = extprocfilterv3.ProcessingMode_SEND
	skip     = extprocfilterv3.ProcessingMode_SKIP
	none     = extprocfilterv3.ProcessingMode_NONE
	buffered = extprocfilterv3.ProcessingMode_BUFFERED
)

// mcpguardMode is the processing mode docs/extproc-contract.md prescribes.
func mcpguardMode() *extprocfilterv3.ProcessingMode { return mode(send, buffered, send, none) }

func newFilter(t testing.TB, conn grpc.ClientConnInterface, cfg Config) *Filter {
	t.Helper()
	f, err := New(conn, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

func postRequest(body string) *Request {
	return &Request{
		Method: "POST", Scheme: "https", Authority: "gateway.example.com", Path: "/mcp?x=1",
		Headers: []Header{
			{"Content-Type", "application/json"},
			{"Content-Length", strconv.Itoa(len(body))},
			{"Authorization", "Bearer user-token"},
			{"X-Custom", "a"},
			{"X-Custom", "b"},
		},
		Body: []byte(body),
	}
}

var bg = context.Background()
