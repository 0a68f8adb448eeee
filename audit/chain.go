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
	"time"
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
	// File is the index of the input BrokenAt is in (VerifyLogs).
	File int
	// FirstSeq is the seq of the first record. Continues is set when it
	// is not the start of a chain (seq 1, genesis prev_hash): the input
	// continues a chain from a rotated file that was not given.
	FirstSeq  uint64
	Continues bool
	// Anchored counts the signed checkpoints whose record was found with
	// the checkpoint's hash. Earlier counts the checkpoints before the
	// first record (of files not given); Later those after the last record
	// when the input ends at a rotation (of later files not given).
	Anchored, Earlier, Later int
}

// VerifyOptions adds signed checkpoints to the checks of VerifyLogs.
type VerifyOptions struct {
	// Checkpoints, read and signature-checked by ReadCheckpoints, anchor
	// the chain: each one's record must be in the input with its hash, and
	// none may lie beyond the input's end unless the input ends where a
	// rotation checkpoint says a file ended. Nil checks no anchors.
	Checkpoints []Checkpoint
}

// header is the part of a record the chain needs.
type header struct {
	typ      string
	schema   string
	seq      uint64
	prevHash string
}

// sealRecord appends to dst one log line for a record body (the JSON
// object of every field but seq, prev_hash and hash): it appends seq and
// prev_hash, hashes that canonical form, then appends the hash and a
// newline.
func sealRecord(dst, body []byte, seq uint64, prev string) ([]byte, string) {
	dst, h := sealRecordHash(dst, body, seq, prev)
	return dst, string(h[:])
}

// sealRecordHash is sealRecord returning the hash as hex digits in an
// array, so a batch converts only its last one to a string.
func sealRecordHash[P string | []byte](dst, body []byte, seq uint64, prev P) ([]byte, [2 * sha256.Size]byte) {
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
	return dst, h
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
		case "type":
			_ = json.Unmarshal(raw, &hdr.typ) // checked by the schema, not here
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
// missing link: VerifyLogs of one input without checkpoints.
func Verify(r io.Reader) (Report, error) {
	return VerifyLogs([]io.Reader{r}, VerifyOptions{})
}

// VerifyLogs walks logs given in chain order (rotated files oldest first,
// then the current one) as one chain and reports the first broken or
// missing link. Each record must carry the next seq and the previous
// record's hash, across file boundaries too, and its own hash must be
// SHA-256 of its canonical form. A last line without its newline is
// reported as cut short. An audit_log_damaged record is a finding: the
// logger found the log damaged when it resumed.
//
// The first record either starts a chain (seq 1, prev_hash Genesis) or
// continues one (Report.Continues). With checkpoints, a continuation must
// link to a signed checkpoint (the head the previous file ended with);
// without, it is reported and accepted. Each checkpoint whose seq the input
// covers must match that record's hash, and a checkpoint beyond the last
// record means records were deleted from the tail, unless a rotate
// checkpoint anchors the last record (later files were not given).
//
// The error is for input that cannot be judged: a read error, or a first
// line that is not a record of this schema (ErrNotAuditLog), including an
// input whose files are all empty.
func VerifyLogs(logs []io.Reader, o VerifyOptions) (Report, error) {
	var rep Report
	anchors := map[uint64]Checkpoint{}
	rotatedAt := map[uint64]string{}
	for i, c := range o.Checkpoints {
		if prev, ok := anchors[c.Seq]; ok && prev.Hash != c.Hash {
			rep.BrokenAt = 1
			rep.Reason = fmt.Sprintf("signed checkpoints %d and an earlier one disagree about the hash of seq %d: the log was rewritten after a checkpoint", i+1, c.Seq)
			return rep, nil
		}
		anchors[c.Seq] = c
		if c.Reason == CheckpointRotate {
			rotatedAt[c.Seq] = c.Hash
		}
	}
	var (
		prev    string
		prevSeq uint64
		total   int
		lineNo  int
	)
	lastFileRecords := 0
	for fi, r := range logs {
		br := bufio.NewReaderSize(r, 64<<10)
		lineNo, lastFileRecords = 0, 0
		for {
			line, complete, err := readLine(br)
			if err != nil {
				return rep, fmt.Errorf("read audit log: %w", err)
			}
			if line == nil {
				break
			}
			lineNo++
			first := total == 0
			broken := func(format string, a ...any) (Report, error) {
				rep.File, rep.BrokenAt = fi, lineNo
				rep.Reason = fmt.Sprintf(format, a...)
				return rep, nil
			}
			if len(line) > maxLine {
				if first {
					return rep, fmt.Errorf("%w: line 1 is longer than %d bytes", ErrNotAuditLog, maxLine)
				}
				return broken("line is longer than %d bytes: not a record", maxLine)
			}
			h, hdr, err := checkRecord(line)
			if err != nil && !errors.Is(err, errHashMismatch) {
				if first {
					return rep, fmt.Errorf("%w: line %d: %w", ErrNotAuditLog, lineNo, err)
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
			case first && (hdr.prevHash != Genesis || hdr.seq != 1):
				if hdr.seq < 2 || hdr.prevHash == Genesis {
					return broken("the first record does not start a chain (seq %d, prev_hash %.12s…): records before it are missing", hdr.seq, hdr.prevHash)
				}
				if o.Checkpoints != nil {
					if c, ok := anchors[hdr.seq-1]; !ok || c.Hash != hdr.prevHash {
						return broken("the first record continues a chain from seq %d (prev_hash %.12s…) that no signed checkpoint anchors: records before it are missing", hdr.seq-1, hdr.prevHash)
					}
				}
				rep.Continues = true
			case !first && hdr.prevHash != prev:
				switch {
				case hdr.prevHash == Genesis && hdr.seq == 1:
					return broken("a new chain starts here (seq 1, genesis prev_hash): records were replaced, or a second process wrote to this log")
				case hdr.seq > prevSeq+1:
					return broken("records are missing: seq %d follows seq %d, and prev_hash does not match the previous record", hdr.seq, prevSeq)
				case hdr.seq <= prevSeq:
					return broken("records are out of order: seq %d follows seq %d", hdr.seq, prevSeq)
				case lineNo == 1:
					return broken("prev_hash does not match the hash of the previous file's last record: the files are not consecutive, or a record was removed, inserted or modified")
				default:
					return broken("prev_hash does not match the hash of line %d: a record was removed, inserted or modified", lineNo-1)
				}
			case !first && hdr.seq != prevSeq+1:
				return broken("seq %d does not follow seq %d", hdr.seq, prevSeq)
			}
			if c, ok := anchors[hdr.seq]; ok {
				if c.Hash != h {
					return broken("record seq %d is not the one the signed checkpoint of %s anchors: the log was rewritten", hdr.seq, c.Time.Format(time.RFC3339))
				}
				rep.Anchored++
			}
			if hdr.typ == string(TypeAuditLogDamaged) {
				return broken("mcpguard found this log damaged when it resumed (shorter than, or different from, its last signed checkpoint); see this record's details")
			}
			if first {
				rep.FirstSeq = hdr.seq
			}
			prev, prevSeq = h, hdr.seq
			total++
			lastFileRecords++
			rep.Records++
			rep.LastSeq, rep.LastHash = hdr.seq, h
		}
	}
	if total == 0 {
		return rep, fmt.Errorf("%w: the input is empty", ErrNotAuditLog)
	}
	for seq := range anchors {
		switch {
		case seq < rep.FirstSeq:
			rep.Earlier++
		case seq > rep.LastSeq:
			rep.Later++
		}
	}
	// Checkpoints after the end are excused only when the last file given
	// ends where a rotation ended a file: an emptied current file given
	// after its predecessor is a deleted tail, not a rotation.
	if rep.Later > 0 && (lastFileRecords == 0 || rotatedAt[rep.LastSeq] != rep.LastHash) {
		var c Checkpoint
		for seq, a := range anchors {
			if seq > rep.LastSeq && seq > c.Seq {
				c = a
			}
		}
		rep.File, rep.BrokenAt = len(logs)-1, lineNo+1
		rep.Reason = fmt.Sprintf("the log ends at seq %d, but a signed checkpoint of %s anchors seq %d: records were deleted from its tail",
			rep.LastSeq, c.Time.Format(time.RFC3339), c.Seq)
		return rep, nil
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
		return "", 0, fmt.Errorf("the last record of the audit log is invalid (%w); check it with `mcpguard audit verify` and move the file aside", err)
	}
	return h, hdr.seq, nil
}
