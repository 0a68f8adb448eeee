package envoysim

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// chunks yields one piece per Read, as an upstream flushing SSE events.
type chunks struct{ parts []string }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts = c.parts[1:]
	return n, nil
}

// TestStreamedResponseBody overrides the response body mode to STREAMED in
// the response headers answer: every chunk then reaches the processor on its
// own, end_of_stream only on the last, and each body mutation replaces its
// chunk.
func TestStreamedResponseBody(t *testing.T) {
	var seen []string
	var ends []bool
	_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		switch r := req.GetRequest().(type) {
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			resp := continueWith(req, nil)
			resp.ModeOverride = &extprocfilterv3.ProcessingMode{ResponseBodyMode: extprocfilterv3.ProcessingMode_STREAMED}
			return resp, nil
		case *extprocv3.ProcessingRequest_ResponseBody:
			seen = append(seen, string(r.ResponseBody.GetBody()))
			ends = append(ends, r.ResponseBody.GetEndOfStream())
			up := bytes.ToUpper(r.ResponseBody.GetBody())
			return continueWith(req, &extprocv3.CommonResponse{
				BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: up}},
				// Ignored: the headers have already gone downstream.
				HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw("x-late", "1")}},
			}), nil
		}
		return continueAll(req)
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode(), AllowModeOverride: true}})
	o := f.ProcessRequest(bg, &Request{Method: "GET", Authority: "gw", Path: "/mcp"})
	if o.Immediate != nil {
		t.Fatalf("immediate %+v", o.Immediate)
	}
	ro := o.ProcessResponse(bg, &Response{Status: 200, Headers: []Header{{"Content-Type", "text/event-stream"}, {"Content-Length", "99"}},
		Body: &chunks{parts: []string{"data: a\n\n", "data: b\n\n"}}})
	if ro.Immediate != nil {
		t.Fatalf("immediate %+v", ro.Immediate)
	}
	if _, ok := Get(ro.Headers, "content-length"); ok {
		t.Error("content-length kept on a STREAMED body the processor may change")
	}
	body, err := io.ReadAll(ro.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "DATA: A\n\nDATA: B\n\n" {
		t.Errorf("body = %q", body)
	}
	if strings.Join(seen, "|") != "data: a\n\n|data: b\n\n|" || len(ends) != 3 || ends[0] || ends[1] || !ends[2] {
		t.Errorf("chunks sent = %q, end_of_stream = %v", seen, ends)
	}
	if _, ok := Get(ro.Headers, "x-late"); ok {
		t.Error("a header mutation after the headers went out was applied")
	}
}

// TestStreamedResponseBodyReset: an immediate response after the headers
// went downstream resets the stream instead of becoming a status.
func TestStreamedResponseBodyReset(t *testing.T) {
	_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		switch req.GetRequest().(type) {
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			resp := continueWith(req, nil)
			resp.ModeOverride = &extprocfilterv3.ProcessingMode{ResponseBodyMode: extprocfilterv3.ProcessingMode_STREAMED}
			return resp, nil
		case *extprocv3.ProcessingRequest_ResponseBody:
			return immediate(403, "no"), nil
		}
		return continueAll(req)
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode(), AllowModeOverride: true}})
	o := f.ProcessRequest(bg, &Request{Method: "GET", Authority: "gw", Path: "/mcp"})
	ro := o.ProcessResponse(bg, &Response{Status: 200, Headers: []Header{{"Content-Type", "text/event-stream"}}, Body: &chunks{parts: []string{"data: a\n\n"}}})
	if _, err := io.ReadAll(ro.Body); !errors.Is(err, errStreamReset) {
		t.Errorf("read error = %v, want a stream reset", err)
	}
}
