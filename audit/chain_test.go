package audit

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.log")

func TestVerify(t *testing.T) {
	lines := writeLog(t, 5)
	join := func(ls ...string) string { return strings.Join(ls, "") }
	modified := strings.Replace(lines[2], "aws s3 ls", "aws s3 rm", 1)
	// A forger who rewrites a record and recomputes its hash still breaks
	// the next link.
	rehashed := reseal(t, modified)
	tests := []struct {
		name     string
		log      string
		brokenAt int
		reason   string
		records  int
	}{
		{"intact", join(lines...), 0, "", 5},
		{"single record", lines[0], 0, "", 1},
		{"deleted middle", join(lines[0], lines[1], lines[3], lines[4]), 3, "records are missing", 2},
		{"deleted first (a continuation without anchors)", join(lines[1:]...), 0, "", 4},
		{"modified", join(lines[0], lines[1], modified, lines[3], lines[4]), 3, "was modified", 2},
		{"modified and rehashed", join(lines[0], lines[1], rehashed, lines[3], lines[4]), 4, "prev_hash does not match the hash of line 3", 3},
		{"reordered", join(lines[0], lines[2], lines[1], lines[3], lines[4]), 2, "records are missing", 1},
		{"swapped tail", join(lines[0], lines[1], lines[2], lines[4], lines[3]), 4, "records are missing", 3},
		{"duplicated", join(lines[0], lines[1], lines[1], lines[2]), 3, "out of order", 2},
		{"truncated last line", join(lines[0], lines[1], lines[2][:len(lines[2])/2]), 3, "cut short", 2},
		{"last newline missing", join(lines[0], strings.TrimSuffix(lines[1], "\n")), 2, "cut short", 1},
		{"blank line", join(lines[0], "\n", lines[1]), 2, "not a record", 1},
		{"second chain", join(lines[0], lines[1], lines[0]), 3, "a new chain starts here", 2},
		{"garbage line", join(lines[0], "{\"hello\":1}\n"), 2, "not a record", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Verify(strings.NewReader(tt.log))
			if err != nil {
				t.Fatalf("Verify error: %v", err)
			}
			if rep.BrokenAt != tt.brokenAt || !strings.Contains(rep.Reason, tt.reason) || rep.Records != tt.records {
				t.Errorf("Verify = %+v, want broken at %d (%q) after %d records", rep, tt.brokenAt, tt.reason, tt.records)
			}
		})
	}
}

// reseal recomputes the hash of a modified line, as a forger would.
func reseal(t *testing.T, line string) string {
	t.Helper()
	line = strings.TrimSuffix(line, "\n")
	i := strings.LastIndex(line, hashField)
	body := line[:i] + "}"
	// Split off seq and prev_hash and seal again with the same values.
	j := strings.LastIndex(body, `,"seq":`)
	e := entries(t, []byte(line+"\n"))[0]
	out, _ := sealRecord(nil, []byte(body[:j]+"}"), e.Seq, e.PrevHash)
	return string(out)
}

func TestVerifyNotAuditLog(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"text", "hello world\n"},
		{"json", `{"a":1}` + "\n"},
		{"other schema", strings.Replace(writeLog(t, 1)[0], Schema, "other/v9", 1)},
		{"duplicate key", strings.Replace(writeLog(t, 1)[0], `{"schema"`, `{"seq":1,"schema"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(strings.NewReader(tt.in))
			if !errors.Is(err, ErrNotAuditLog) {
				t.Errorf("Verify error = %v, want ErrNotAuditLog", err)
			}
		})
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestVerifyReadError(t *testing.T) {
	want := errors.New("disk gone")
	if _, err := Verify(failingReader{want}); !errors.Is(err, want) {
		t.Errorf("Verify error = %v, want %v", err, want)
	}
}

func TestVerifyLongLine(t *testing.T) {
	lines := writeLog(t, 1)
	long := lines[0] + strings.Repeat("x", maxLine+10) + "\n"
	rep, err := Verify(strings.NewReader(long))
	if err != nil || rep.BrokenAt != 2 {
		t.Errorf("Verify = %+v, %v; want broken at 2", rep, err)
	}
}

// TestLogOfEarlierBuildsVerifies: a log written before records were
// written ahead of forwarding still verifies (the canonical form and the
// hashing did not change).
func TestLogOfEarlierBuildsVerifies(t *testing.T) {
	data := readFile(t, filepath.Join("testdata", "golden-before-write-ahead.log"))
	if rep, err := Verify(bytes.NewReader(data)); err != nil || rep.BrokenAt != 0 || rep.Records != 26 || rep.Continues {
		t.Fatalf("earlier golden log: %+v, %v", rep, err)
	}
}

// TestGoldenLog proves logs written by earlier builds still verify: the
// canonical form and hashing must never change within schema v1.
func TestGoldenLog(t *testing.T) {
	path := filepath.Join("testdata", "golden.log")
	if *update {
		l, buf := bufferLogger(t, Options{IncludeArguments: true, RedactKeys: []string{"password"}, MaxArgumentBytes: 64})
		for _, e := range exampleEvents() {
			if err := l.Record(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := readFile(t, path)
	rep, err := Verify(bytes.NewReader(data))
	if err != nil || rep.BrokenAt != 0 || rep.Records != len(exampleEvents()) {
		t.Fatalf("golden log: %+v, %v", rep, err)
	}
	seen := map[Type]bool{}
	for _, e := range entries(t, data) {
		seen[e.Type] = true
	}
	for _, typ := range Types() {
		if !seen[typ] && typ != TypeAuditLogDamaged {
			t.Errorf("golden log has no %s record", typ)
		}
	}
}

func FuzzVerify(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "golden.log"))
	if err != nil {
		f.Fatal(err)
	}
	// Small seeds keep the fuzzer's minimisation fast: two records and a
	// record cut in half.
	lines := bytes.SplitAfter(data, []byte("\n"))
	f.Add(bytes.Join(lines[:2], nil))
	f.Add(lines[0][:len(lines[0])/2])
	f.Add([]byte(""))
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"schema":"mcpguard.audit/v1","seq":1,"prev_hash":"` + Genesis + `","hash":"` + Genesis + `"}` + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rep, err := Verify(bytes.NewReader(in))
		if err == nil && rep.BrokenAt == 0 && rep.Records == 0 {
			t.Fatalf("an input with no records verified as intact: %q", in)
		}
		if rep.BrokenAt != 0 && rep.Reason == "" {
			t.Fatalf("broken without a reason: %+v", rep)
		}
	})
}

// TestDocsExamplesVerify keeps docs/audit.md honest: its example lines,
// in order, are one intact chain with a record of every type.
func TestDocsExamplesVerify(t *testing.T) {
	doc := readFile(t, filepath.Join("..", "docs", "audit.md"))
	var chain bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if bytes.HasPrefix(line, []byte(`{"schema":"`+Schema+`"`)) {
			chain.Write(line)
			chain.WriteByte('\n')
		}
	}
	rep, err := Verify(bytes.NewReader(chain.Bytes()))
	if err != nil || rep.BrokenAt != 0 || rep.Records != len(exampleEvents()) {
		t.Fatalf("docs/audit.md examples: %+v, %v", rep, err)
	}
	seen := map[Type]bool{}
	for _, e := range entries(t, chain.Bytes()) {
		seen[e.Type] = true
	}
	if len(seen) != len(Types())-1 {
		t.Errorf("docs/audit.md shows %d event types, want %d (all but audit_log_damaged)", len(seen), len(Types())-1)
	}
}
