package envoysim

import (
	"context"
	"errors"
	"io"
)

// errStreamReset is what a STREAMED body reports when Envoy would reset the
// downstream stream: a local reply or a processor failure after the
// response headers went out can no longer become a status code.
var errStreamReset = errors.New("envoysim: stream reset after the response started")

// streamedBody is a response body in STREAMED mode: every chunk read from
// the upstream goes to the processor in its own response_body message
// (end_of_stream on the last, possibly empty, one), and the processor's
// body mutation, if any, replaces that chunk. Header mutations in these
// answers are ignored, because the headers have already gone downstream.
type streamedBody struct {
	s   *session
	ctx context.Context
	src io.Reader
	hm  *headerMap
	buf []byte
	out []byte
	err error
}

func (b *streamedBody) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		b.fill()
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// Close ends the ext_proc stream when the downstream goes away early.
func (b *streamedBody) Close() error {
	if b.err == nil {
		b.finish(io.ErrClosedPipe)
	}
	return nil
}

func (b *streamedBody) finish(err error) {
	b.err = err
	b.s.closeStream()
}

// fill reads one upstream chunk and runs it through the processor.
func (b *streamedBody) fill() {
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
	}
	n, rerr := b.src.Read(b.buf)
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		// Upstream reset mid-body: Envoy resets the downstream too.
		b.finish(errStreamReset)
		return
	}
	end := rerr != nil
	if n == 0 && !end {
		return
	}
	chunk := append([]byte(nil), b.buf[:n]...)
	s := b.s
	if !s.complete {
		if lr := s.send(b.ctx, s.bodyMessage(chunk, end, false)); lr != nil {
			b.finish(errStreamReset)
			return
		}
	}
	if !s.complete {
		r, lr := s.wait(b.ctx, kindResponseBody)
		if lr != nil {
			b.finish(errStreamReset)
			return
		}
		if r != nil {
			if lr := s.applyBodyResponse(r.GetResponseBody().GetResponse(), b.hm, &s.resp, &chunk); lr != nil {
				b.finish(errStreamReset)
				return
			}
		}
	}
	b.out = chunk
	if end {
		b.finish(io.EOF)
	}
}
