package bare

import (
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

func TestContinueFor(t *testing.T) {
	tests := []struct {
		name string
		req  *extprocv3.ProcessingRequest
		want string
	}{
		{"request headers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{}}, "request_headers"},
		{"request body", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{}}, "request_body"},
		{"request trailers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{}}, "request_trailers"},
		{"response headers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{}}, "response_headers"},
		{"response body", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{}}, "response_body"},
		{"response trailers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{}}, "response_trailers"},
		{"empty", &extprocv3.ProcessingRequest{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := continueFor(tc.req)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("answered %v to an empty request", resp)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch resp.GetResponse().(type) {
			case *extprocv3.ProcessingResponse_RequestHeaders:
				got = "request_headers"
			case *extprocv3.ProcessingResponse_RequestBody:
				got = "request_body"
			case *extprocv3.ProcessingResponse_RequestTrailers:
				got = "request_trailers"
			case *extprocv3.ProcessingResponse_ResponseHeaders:
				got = "response_headers"
			case *extprocv3.ProcessingResponse_ResponseBody:
				got = "response_body"
			case *extprocv3.ProcessingResponse_ResponseTrailers:
				got = "response_trailers"
			}
			if got != tc.want {
				t.Errorf("answer %s, want %s", got, tc.want)
			}
		})
	}
}
