package script

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json (and the generated module attribute list) from the current output")

// newAnalyzer returns an Analyzer with the default limits but a parse
// timeout long enough that a busy CI machine never reaches it: the goldens
// must not depend on the load. TestParseTimeout covers the timeout.
func newAnalyzer(t testing.TB) *Analyzer {
	t.Helper()
	a, err := New(Limits{ParseTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCorpus analyses every testdata/*.py and compares with its .json
// golden.
func TestCorpus(t *testing.T) {
	a := newAnalyzer(t)
	files, err := filepath.Glob("testdata/*.py")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 80 {
		t.Errorf("corpus has %d scripts, want at least 80", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".py")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(a.Analyze(string(src)), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".py") + ".json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("analysis differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
