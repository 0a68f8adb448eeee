package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// CheckpointSchema names the checkpoint line format.
const CheckpointSchema = "mcpguard.audit.checkpoint/v1"

// Checkpoint reasons: why a checkpoint was written.
const (
	// CheckpointInterval is the periodic checkpoint.
	CheckpointInterval = "interval"
	// CheckpointClose is written when the logger closes.
	CheckpointClose = "close"
	// CheckpointRotate marks the head of a file that was rotated away:
	// the next record, in a new file, links to it.
	CheckpointRotate = "rotate"
)

// Checkpoint is one signed statement that the chain had reached record
// Seq, whose hash was Hash, at Time. Checkpoints live outside the log (a
// sidecar file), so deleting records from the log's tail cannot delete
// the checkpoints that name them.
type Checkpoint struct {
	Seq    uint64
	Hash   string
	Time   time.Time
	Reason string
}

// sigField is how every checkpoint line ends, before the base64 signature
// and `"}`.
const sigField = `,"sig":"`

// appendCheckpoint appends the signed line of c: the canonical form
// {"schema":…,"seq":…,"hash":…,"time":…,"reason":…}, with `,"sig":"<base64
// Ed25519 signature of the canonical form>"` inserted before its closing
// brace, and a newline.
func appendCheckpoint(dst []byte, c Checkpoint, key ed25519.PrivateKey) []byte {
	start := len(dst)
	dst = append(dst, `{"schema":"`+CheckpointSchema+`","seq":`...)
	dst = strconv.AppendUint(dst, c.Seq, 10)
	dst = append(dst, `,"hash":"`...)
	dst = append(dst, c.Hash...)
	dst = append(dst, `","time":"`...)
	dst = c.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","reason":`...)
	dst = strconv.AppendQuote(dst, c.Reason)
	dst = append(dst, '}')
	sig := ed25519.Sign(key, dst[start:])
	dst = append(dst[:len(dst)-1], sigField...)
	dst = base64.StdEncoding.AppendEncode(dst, sig)
	return append(dst, "\"}\n"...)
}

// parseCheckpoint checks one checkpoint line (without its newline) against
// pub and returns it.
func parseCheckpoint(line []byte, pub ed25519.PublicKey) (Checkpoint, error) {
	i := bytes.LastIndex(line, []byte(sigField))
	if i < 0 || i+len(sigField) > len(line)-2 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return Checkpoint{}, errors.New("not a checkpoint: no signature field")
	}
	sig, err := base64.StdEncoding.DecodeString(string(line[i+len(sigField) : len(line)-2]))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Checkpoint{}, errors.New("not a checkpoint: the signature is not base64 of 64 bytes")
	}
	canonical := append(append([]byte(nil), line[:i]...), '}')
	var doc struct {
		Schema string    `json:"schema"`
		Seq    *uint64   `json:"seq"`
		Hash   string    `json:"hash"`
		Time   time.Time `json:"time"`
		Reason string    `json:"reason"`
	}
	dec := json.NewDecoder(bytes.NewReader(canonical))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: %w", err)
	}
	if doc.Schema != CheckpointSchema || doc.Seq == nil || len(doc.Hash) != 64 || !isLowerHex(doc.Hash) {
		return Checkpoint{}, errors.New("not a checkpoint: schema, seq or hash missing or invalid")
	}
	if !ed25519.Verify(pub, canonical, sig) {
		return Checkpoint{}, errors.New("the signature does not verify with the public key: the checkpoint was forged or modified, or signed with another key")
	}
	return Checkpoint{Seq: *doc.Seq, Hash: doc.Hash, Time: doc.Time, Reason: doc.Reason}, nil
}

// ReadCheckpoints reads a checkpoint file and checks every signature with
// pub. A line that does not verify is an error naming it: a checkpoint
// file is written only by mcpguard, so anything else in it is tampering.
// A last line without its newline (a write cut short by a crash) is
// ignored.
func ReadCheckpoints(r io.Reader, pub ed25519.PublicKey) ([]Checkpoint, error) {
	var out []Checkpoint
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, complete, err := readLine(br)
		if err != nil {
			return out, fmt.Errorf("read checkpoints: %w", err)
		}
		if line == nil {
			return out, nil
		}
		if !complete {
			return out, nil
		}
		c, err := parseCheckpoint(line, pub)
		if err != nil {
			return out, &CheckpointError{Line: n, Err: err}
		}
		out = append(out, c)
	}
}

// CheckpointError is a checkpoint line that is not a valid, signed
// checkpoint.
type CheckpointError struct {
	Line int
	Err  error
}

func (e *CheckpointError) Error() string { return fmt.Sprintf("checkpoint line %d: %v", e.Line, e.Err) }
func (e *CheckpointError) Unwrap() error { return e.Err }

// LoadPrivateKey reads an Ed25519 private key from a PEM file ("PRIVATE
// KEY", PKCS #8, as `openssl genpkey -algorithm ed25519` writes it).
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := pemBlock(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read checkpoint key %s: not an Ed25519 key (%T)", path, k)
	}
	return ek, nil
}

// LoadPublicKey reads an Ed25519 public key from a PEM file ("PUBLIC KEY",
// PKIX, as `openssl pkey -pubout` writes it).
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := pemBlock(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("read public key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("read public key %s: not an Ed25519 key (%T)", path, k)
	}
	return ek, nil
}

func pemBlock(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("read key %s: no PEM %q block", path, typ)
	}
	return b.Bytes, nil
}

// lastCheckpoint returns the last complete checkpoint of the file at
// path, checked with pub; ok is false when the file is missing or holds
// none. It reads only the file's tail, so a start costs the same after a
// year of checkpoints.
func lastCheckpoint(path string, pub ed25519.PublicKey) (c Checkpoint, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("open checkpoints: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("stat checkpoints: %w", err)
	}
	const tail = 4 << 10 // several checkpoint lines
	off := max(fi.Size()-tail, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return Checkpoint{}, false, fmt.Errorf("read checkpoints: %w", err)
	}
	// Drop a last line cut short by a crash, then take the line before.
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		if off > 0 {
			return Checkpoint{}, false, fmt.Errorf("checkpoints %s: the last line is longer than %d bytes", path, tail)
		}
		return Checkpoint{}, false, nil
	}
	start := bytes.LastIndexByte(buf[:end], '\n') + 1
	if start == 0 && off > 0 {
		return Checkpoint{}, false, fmt.Errorf("checkpoints %s: the last line is longer than %d bytes", path, tail)
	}
	c, err = parseCheckpoint(buf[start:end], pub)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoints %s: last checkpoint: %w", path, err)
	}
	return c, true, nil
}
