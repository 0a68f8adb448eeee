package mcp

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"
)

// SSEEvent is one event block of a text/event-stream body: the lines up to
// and including the blank line that dispatches it. Parsed fields follow the
// WHATWG HTML "server-sent events" interpretation; Raw keeps the exact bytes
// so that an event nobody changes is re-emitted unchanged.
type SSEEvent struct {
	// Type is the value of the last "event" field, "" when there was none
	// (a client then dispatches the event as "message").
	Type string
	// Data is the values of the "data" fields joined with "\n".
	Data string
	// HasData is true when the block had at least one "data" field. A
	// client dispatches only such blocks; "data:" alone dispatches an
	// event whose Data is "".
	HasData bool
	// ID is the value of the last "id" field without a NUL; HasID tells
	// "id:" (which resets the last event ID to "") from no id at all.
	ID    string
	HasID bool
	// Retry is the last "retry" value that was all ASCII digits, "" when
	// none.
	Retry string
	// Raw is the block exactly as received, with its terminating blank
	// line (and, for the first block, a leading byte order mark). It
	// aliases the parsed body. WriteSSE emits Raw verbatim when it is not
	// nil, so a caller that changes a field must set Raw to nil.
	Raw []byte
}

// SSE parsing errors. A list response is filtered only when its stream is
// complete and well-formed, so each of these makes the caller fail closed.
var (
	// ErrSSEIncomplete is an event with a data field that no blank line
	// terminates. A browser would drop it silently; mcpguard cannot know
	// whether the upstream meant to send it, so it does not guess.
	ErrSSEIncomplete = errors.New("sse: final event is not terminated by a blank line")
	// ErrSSEInvalidUTF8 is a stream that is not UTF-8. Clients decode such
	// bytes as U+FFFD, so what they read would differ from what was
	// filtered.
	ErrSSEInvalidUTF8 = errors.New("sse: stream is not valid UTF-8")
	// ErrSSEField is an event WriteSSE cannot serialise faithfully: a line
	// break in a field, a NUL in an id, a non-digit retry or a CR in data.
	ErrSSEField = errors.New("sse: field value cannot be serialised")
)

// ParseSSE splits a whole text/event-stream body into its event blocks.
// Lines end in CRLF, LF or CR; one leading byte order mark is ignored;
// lines starting with ':' are comments; a line without ':' is a field with
// an empty value; one space after the colon is dropped; unknown fields are
// ignored. Every byte of body belongs to exactly one returned block, so
// WriteSSE(ParseSSE(body)) == body.
//
// Envoy delivers the whole buffered body, so frames split across network
// chunks arrive joined. A trailing block without its blank line is
// accepted only when it has no data field (a comment, a partial keep-alive);
// one with data is ErrSSEIncomplete.
func ParseSSE(body []byte) ([]SSEEvent, error) {
	if !utf8.Valid(body) {
		return nil, ErrSSEInvalidUTF8
	}
	var (
		events []SSEEvent
		cur    SSEEvent
		data   strings.Builder
		start  int // first byte of the current block
	)
	pos := 0
	if bytes.HasPrefix(body, utf8BOM) {
		pos = len(utf8BOM)
	}
	for pos < len(body) {
		end := pos
		for end < len(body) && body[end] != '\r' && body[end] != '\n' {
			end++
		}
		if end == len(body) {
			// An unterminated last line: it cannot end a block.
			applySSELine(&cur, &data, body[pos:end])
			break
		}
		line := body[pos:end]
		next := end + 1
		if body[end] == '\r' && next < len(body) && body[next] == '\n' {
			next++
		}
		pos = next
		if len(line) == 0 {
			cur.Data = data.String()
			cur.Raw = body[start:pos:pos]
			events = append(events, cur)
			cur, start = SSEEvent{}, pos
			data.Reset()
			continue
		}
		applySSELine(&cur, &data, line)
	}
	if start < len(body) {
		if cur.HasData {
			return nil, ErrSSEIncomplete
		}
		cur.Data = data.String()
		cur.Raw = body[start:len(body):len(body)]
		events = append(events, cur)
	}
	return events, nil
}

// applySSELine interprets one non-empty line of a block.
func applySSELine(ev *SSEEvent, data *strings.Builder, line []byte) {
	if line[0] == ':' {
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		ev.Type = string(value)
	case "data":
		if ev.HasData {
			data.WriteByte('\n')
		}
		data.Write(value)
		ev.HasData = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			ev.ID, ev.HasID = string(value), true
		}
	case "retry":
		if len(value) > 0 && allDigits(value) {
			ev.Retry = string(value)
		}
	}
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// WriteSSE serialises events: each event with Raw set is written verbatim,
// any other as "event:", "id:", "retry:" and one "data:" line per line of
// Data, then a blank line, all ending in LF. It refuses (ErrSSEField) a
// field that would read back differently or break the framing: a CR or LF
// in Type, ID or Retry, a NUL in ID, a Retry that is not digits, or a CR in
// Data (a parser would read it as a line break).
func WriteSSE(events []SSEEvent) ([]byte, error) {
	n := 0
	for i := range events {
		if events[i].Raw != nil {
			n += len(events[i].Raw)
		} else {
			n += len(events[i].Data) + len(events[i].Type) + len(events[i].ID) + 32
		}
	}
	out := make([]byte, 0, n)
	for i := range events {
		ev := &events[i]
		if ev.Raw != nil {
			out = append(out, ev.Raw...)
			continue
		}
		if err := checkSSEEvent(ev); err != nil {
			return nil, err
		}
		if ev.Type != "" {
			out = append(out, "event: "...)
			out = append(out, ev.Type...)
			out = append(out, '\n')
		}
		if ev.HasID {
			out = append(out, "id: "...)
			out = append(out, ev.ID...)
			out = append(out, '\n')
		}
		if ev.Retry != "" {
			out = append(out, "retry: "...)
			out = append(out, ev.Retry...)
			out = append(out, '\n')
		}
		if ev.HasData {
			rest := ev.Data
			for {
				line, tail, more := strings.Cut(rest, "\n")
				out = append(out, "data: "...)
				out = append(out, line...)
				out = append(out, '\n')
				if !more {
					break
				}
				rest = tail
			}
		}
		out = append(out, '\n')
	}
	return out, nil
}

func checkSSEEvent(ev *SSEEvent) error {
	switch {
	case strings.ContainsAny(ev.Type, "\r\n"),
		strings.ContainsAny(ev.ID, "\r\n\x00"),
		ev.Retry != "" && !allDigits([]byte(ev.Retry)),
		strings.ContainsRune(ev.Data, '\r'),
		!ev.HasData && ev.Data != "":
		return ErrSSEField
	}
	return nil
}
