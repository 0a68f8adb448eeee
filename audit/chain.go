package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Genesis is the prev_hash of the first record of a chain: a new file, or
// each process's first record on stdout.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// hashField is how every line ends, before the 64 hex digits and `"}`.
const hashField = `,"hash":"`

// hashTail is the length of `,"hash":"<64 hex>"}`.
const hashTail = len(hashField) + 2*sha256.Size + 2

// maxLine bounds one record when reading a log back. Records are far
// smaller (arguments are bounded); a longer line is not a record.
const maxLine = 16 << 20

// ErrNotAuditLog means the input does not start with a readable record of
// this schema: the wrong file, or an empty one.
var ErrNotAuditLog = errors.New("not an mcpguard audit log")

// Report is the result of walking a log.
type Report struct {
	// Records counts the records whose hash and link were verified.
	Records int
	// BrokenAt is the 1-based line number of the first broken, missing or
	// out-of-order link; 0 when the chain is intact.
	BrokenAt int
	// Reason says what is wrong at BrokenAt.
	Reason string
	// LastSeq and LastHash identify the last verified record, the value to
	// anchor elsewhere (a ticket, a WORM store) to detect a rewritten tail.
	LastSeq  uint64
	LastHash string
}

// header is the part of a record the chain needs.
type header struct {
	schema   string
	seq      uint64
	prevHash string
}

// sealRecord appends to dst one log line for a record body (the JSON
// object of every field but seq, prev_hash and hash): it appends seq and
// prev_hash, hashes that canonical form, then appends the hash and a
// newline.
func sealRecord(dst, body []byte, seq uint64, prev string) ([]byte, string) {
	start := len(dst)
	dst = append(dst, body[:len(body)-1]...)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"prev_hash":"`...)
	dst = append(dst, prev...)
	dst = append(dst, `"}`...)
	sum := sha256.Sum256(dst[start:])
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	dst = append(dst[:len(dst)-1], hashField...)
	dst = append(dst, h[:]...)
	dst = append(dst, "\"}\n"...)
	return dst, string(h[:])
}

// checkRecord validates one line (without its newline): its hash field,
// that the hash is SHA-256 of the canonical form, and its header. It
// returns the record's hash.
func checkRecord(line []byte) (string, header, error) {
	n := len(line)
	if n < hashTail+2 || line[0] != '{' || !bytes.HasSuffix(line, []byte(`"}`)) ||
		string(line[n-hashTail:n-hashTail+len(hashField)]) != hashField {
		return "", header{}, errors.New("not a record: the line does not end with the hash field")
	}
	h := string(line[n-2*sha256.Size-2 : n-2])
	if !isLowerHex(h) {
		return "", header{}, errors.New("not a record: the hash is not 64 lowercase hex digits")
	}
	canonical := make([]byte, 0, n-hashTail+1)
	canonical = append(canonical, line[:n-hashTail]...)
	canonical = append(canonical, '}')
	hdr, err := parseHeader(canonical)
	if err != nil {
		return "", header{}, err
	}
	sum := sha256.Sum256(canonical)
	if hex.EncodeToString(sum[:]) != h {
		return h, hdr, errHashMismatch
	}
	return h, hdr, nil
}

var errHashMismatch = errors.New("the hash does not match the record's content: the record was modified")

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseHeader reads the canonical form as one JSON object with unique
// top-level keys, no hash key, the v1 schema, a seq and a prev_hash.
func parseHeader(canonical []byte) (header, error) {
	var hdr header
	dec := json.NewDecoder(bytes.NewReader(canonical))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return hdr, errors.New("not a record: not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return hdr, fmt.Errorf("not a record: %w", err)
		}
		key, _ := t.(string)
		if seen[key] {
			return hdr, fmt.Errorf("not a record: duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return hdr, fmt.Errorf("not a record: %w", err)
		}
		switch key {
		case "hash":
			return hdr, errors.New("not a record: more than one hash field")
		case "schema":
			if err := json.Unmarshal(raw, &hdr.schema); err != nil {
				return hdr, errors.New("not a record: schema is not a string")
			}
		case "seq":
			if err := json.Unmarshal(raw, &hdr.seq); err != nil {
				return hdr, errors.New("not a record: seq is not an unsigned integer")
			}
		case "prev_hash":
			if err := json.Unmarshal(raw, &hdr.prevHash); err != nil || len(hdr.prevHash) != 2*sha256.Size || !isLowerHex(hdr.prevHash) {
				return hdr, errors.New("not a record: prev_hash is not 64 lowercase hex digits")
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return hdr, fmt.Errorf("not a record: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return hdr, errors.New("not a record: data after the JSON object")
	}
	if hdr.schema != Schema {
		return hdr, fmt.Errorf("not a record: schema %q, want %q", hdr.schema, Schema)
	}
	if !seen["seq"] || !seen["prev_hash"] {
		return hdr, errors.New("not a record: seq or prev_hash missing")
	}
	return hdr, nil
}

// Verify walks a log from its first line and reports the first broken or
// missing link. The first record must start a chain (seq 1, prev_hash
// Genesis); each later record must carry the next seq and the previous
// record's hash, and its own hash must be SHA-256 of its canonical form.
// A last line without its newline is reported as cut short.
//
// The error is for input that cannot be judged: a read error, or a first
// line that is not a record of this schema (ErrNotAuditLog), including an
// empty input.
func Verify(r io.Reader) (Report, error) {
	var rep Report
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		prev    string
		prevSeq uint64
		lineNo  int
	)
	for {
		line, complete, err := readLine(br)
		if err != nil {
			return rep, fmt.Errorf("read audit log: %w", err)
		}
		if line == nil {
			break
		}
		lineNo++
		broken := func(format string, a ...any) (Report, error) {
			rep.BrokenAt = lineNo
			rep.Reason = fmt.Sprintf(format, a...)
			return rep, nil
		}
		if len(line) > maxLine {
			if lineNo == 1 {
				return rep, fmt.Errorf("%w: line 1 is longer than %d bytes", ErrNotAuditLog, maxLine)
			}
			return broken("line is longer than %d bytes: not a record", maxLine)
		}
		h, hdr, err := checkRecord(line)
		if err != nil && !errors.Is(err, errHashMismatch) {
			if lineNo == 1 {
				return rep, fmt.Errorf("%w: line 1: %v", ErrNotAuditLog, err)
			}
			if !complete {
				return broken("the last record was cut short (%v)", err)
			}
			return broken("%v", err)
		}
		switch {
		case err != nil:
			return broken("%v", err)
		case !complete:
			return broken("the last record has no terminating newline: it was cut short")
		case lineNo == 1 && (hdr.prevHash != Genesis || hdr.seq != 1):
			return broken("the first record does not start a chain (seq %d, prev_hash %.12s…): records before it are missing", hdr.seq, hdr.prevHash)
		case lineNo > 1 && hdr.prevHash != prev:
			switch {
			case hdr.prevHash == Genesis && hdr.seq == 1:
				return broken("a new chain starts here (seq 1, genesis prev_hash): records were replaced, or a second process wrote to this log")
			case hdr.seq > prevSeq+1:
				return broken("records are missing: seq %d follows seq %d, and prev_hash does not match the previous record", hdr.seq, prevSeq)
			case hdr.seq <= prevSeq:
				return broken("records are out of order: seq %d follows seq %d", hdr.seq, prevSeq)
			default:
				return broken("prev_hash does not match the hash of line %d: a record was removed, inserted or modified", lineNo-1)
			}
		case lineNo > 1 && hdr.seq != prevSeq+1:
			return broken("seq %d does not follow seq %d", hdr.seq, prevSeq)
		}
		prev, prevSeq = h, hdr.seq
		rep.Records++
		rep.LastSeq, rep.LastHash = hdr.seq, h
	}
	if lineNo == 0 {
		return rep, fmt.Errorf("%w: the input is empty", ErrNotAuditLog)
	}
	return rep, nil
}

// readLine returns the next line without its newline, whether the newline
// was there, and nil at the end of input. Lines longer than maxLine are
// returned cut at maxLine+1 bytes with the rest discarded.
func readLine(br *bufio.Reader) ([]byte, bool, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line) <= maxLine {
			line = append(line, frag...)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) == 0 {
				return nil, false, nil
			}
			return line, false, nil
		default:
			return nil, false, err
		}
	}
}

// lastRecord reads the last line of a log file being resumed and returns
// its hash and seq. An empty file starts at Genesis. A last record that is
// cut short or fails its own hash stops the logger from starting: appending
// after it would fork the chain silently.
func lastRecord(f *os.File) (string, uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("stat audit log: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return Genesis, 0, nil
	}
	const chunk = 64 << 10
	var buf []byte
	start := size
	for {
		n := int64(chunk)
		if start < n {
			n = start
		}
		start -= n
		part := make([]byte, n, int64(len(buf))+n)
		if _, err := f.ReadAt(part, start); err != nil {
			return "", 0, fmt.Errorf("read audit log: %w", err)
		}
		buf = append(part, buf...)
		if buf[len(buf)-1] != '\n' {
			return "", 0, errors.New("the last record of the audit log is cut short (no terminating newline); check it with `mcpguard audit verify` and move the file aside")
		}
		if i := bytes.LastIndexByte(buf[:len(buf)-1], '\n'); i >= 0 {
			buf = buf[i+1:]
			break
		}
		if start == 0 {
			break
		}
		if len(buf) > maxLine {
			return "", 0, fmt.Errorf("the last line of the audit log is longer than %d bytes: not a record", maxLine)
		}
	}
	h, hdr, err := checkRecord(buf[:len(buf)-1])
	if err != nil {
		return "", 0, fmt.Errorf("the last record of the audit log is invalid (%v); check it with `mcpguard audit verify` and move the file aside", err)
	}
	return h, hdr.seq, nil
}
