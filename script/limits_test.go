package script

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewRejectsBadLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Limits
		want string
	}{
		{"negative bytes", Limits{MaxBytes: -1}, "max_bytes"},
		{"huge bytes", Limits{MaxBytes: 2 << 30}, "max_bytes"},
		{"negative depth", Limits{MaxDepth: -1}, "max_depth"},
		{"negative nodes", Limits{MaxNodes: -1}, "max_nodes"},
		{"timeout too short", Limits{ParseTimeout: time.Microsecond}, "parse_timeout"},
		{"timeout too long", Limits{ParseTimeout: time.Hour}, "parse_timeout"},
		{"os allowed", Limits{AllowedImports: []string{"json", "os"}}, `"os"`},
		{"os submodule allowed", Limits{AllowedImports: []string{"os.path"}}, `"os.path"`},
		{"empty module", Limits{AllowedImports: []string{""}}, "empty"},
		{"not a module name", Limits{AllowedImports: []string{"json; x"}}, "dotted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.l)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want an error with %q", tc.l, err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	a, err := New(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Limits()
	if l.MaxBytes != DefaultMaxBytes || l.MaxDepth != DefaultMaxDepth || l.MaxNodes != DefaultMaxNodes || l.ParseTimeout != DefaultParseTimeout ||
		!slices.Equal(l.AllowedImports, DefaultAllowedImports) {
		t.Fatalf("zero Limits became %+v", l)
	}
	d := DefaultLimits()
	d.AllowedImports[0] = "changed"
	if DefaultAllowedImports[0] == "changed" {
		t.Fatal("DefaultLimits shares its slice with DefaultAllowedImports")
	}
}

func TestLimits(t *testing.T) {
	call := `await call_boto3(service_name="s3", operation_name="ListBuckets")` + "\n"
	for _, tc := range []struct {
		name string
		l    Limits
		code string
		want []string // nil: complete
	}{
		{"exactly max bytes", Limits{MaxBytes: len(call)}, call, nil},
		{"default limits", Limits{}, call, nil},
		{"one byte over", Limits{MaxBytes: len(call) - 1}, call, []string{"too_large"}},
		{"depth within", Limits{MaxDepth: 12}, call, nil},
		{"too deep", Limits{MaxDepth: 5}, call, []string{"too_deep"}},
		{"nodes within", Limits{MaxNodes: 40}, call, nil},
		{"too many nodes", Limits{MaxNodes: 10}, call, []string{"too_many_nodes"}},
		{"no imports allowed", Limits{AllowedImports: []string{}}, "import json\n" + call, []string{"import:json"}},
		{"extra module allowed", Limits{AllowedImports: []string{"uuid"}}, "import uuid\n" + call, nil},
		{"default list replaced", Limits{AllowedImports: []string{"uuid"}}, "import json\n" + call, []string{"import:json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.l)
			if err != nil {
				t.Fatal(err)
			}
			got := a.Analyze(tc.code)
			if tc.want == nil {
				if !got.Complete || len(got.Calls) != 1 {
					t.Fatalf("got %+v, want complete with one call", got)
				}
				return
			}
			if got.Complete || !slices.Equal(got.Reasons, tc.want) {
				t.Fatalf("got %+v, want incomplete with %v", got, tc.want)
			}
		})
	}
}

// TestPrecheck covers text that tree-sitter and CPython would read
// differently.
func TestPrecheck(t *testing.T) {
	a := newAnalyzer(t)
	call := `await call_boto3(service_name="s3", operation_name="ListBuckets")`
	for _, tc := range []struct {
		name, code, want string
	}{
		{"invalid utf-8", "x = '\xff'\n" + call, "invalid_utf8"},
		{"nul byte", call + "\x00\nimport os\n", "nul_byte"},
		{"bare cr", "# x\rimport os\n" + call, "bare_carriage_return"},
		{"cr at end", call + "\r", "bare_carriage_return"},
		{"latin-1 cookie", "# coding: latin-1\n" + call, "encoding_declaration"},
		{"cookie on line two", "#!/usr/bin/env python\n# vim: set fileencoding=utf-7 :\n" + call, "encoding_declaration"},
		{"space then tab", "if True:\n \tx = 1\n" + call, "mixed_indentation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := a.Analyze(tc.code)
			if got.Complete || !slices.Contains(got.Reasons, tc.want) {
				t.Fatalf("got %+v, want incomplete with %s", got, tc.want)
			}
		})
	}
	for _, ok := range []string{
		"x = 1\r\n" + call + "\r\n",
		"# coding: utf-8\n" + call,
		"# -*- coding: UTF_8 -*-\n" + call,
		"x = 1\n# coding: latin-1\n" + call, // not a cookie on line three
		"if True:\n\t x = 1\n" + call,       // tab then space: both count nine
	} {
		if got := a.Analyze(ok); !got.Complete {
			t.Errorf("Analyze(%q) = %+v, want complete", ok, got)
		}
	}
}

// TestConcurrent analyses the corpus from several goroutines at once (run
// with -race) and expects the goldens.
func TestConcurrent(t *testing.T) {
	a := newAnalyzer(t)
	files, err := filepath.Glob("testdata/*.py")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	srcs := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		golden, err := os.ReadFile(strings.TrimSuffix(f, ".py") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		srcs[f], want[f] = string(src), strings.TrimSpace(string(golden))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(files))
	for range 4 {
		wg.Go(func() {
			for _, f := range files {
				got, err := json.MarshalIndent(a.Analyze(srcs[f]), "", "  ")
				if err != nil || string(got) != want[f] {
					errs <- f
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for f := range errs {
		t.Errorf("%s: concurrent analysis differs from the golden", f)
	}
}

// TestParseTimeout feeds input on which tree-sitter-python needs seconds
// (its cost grows with the cube of the number of line continuations in an
// erroneous statement) and expects the timeout, then a normal analysis from
// the same, reset, parsers.
func TestParseTimeout(t *testing.T) {
	a, err := New(Limits{ParseTimeout: 50 * time.Millisecond, AllowedImports: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	slow := strings.Repeat("x\\\n", 21000) // 63 KB: minutes without a timeout
	if got := a.Analyze(slow); got.Complete || !slices.Equal(got.Reasons, []string{"parse_timeout"}) {
		t.Fatalf("got %+v, want parse_timeout", got)
	}
	call := `await call_boto3(service_name="s3", operation_name="ListBuckets")`
	for range 2 * cap(a.pool) {
		if got := a.Analyze(call); !got.Complete || len(got.Calls) != 1 {
			t.Fatalf("after a timeout: %+v", got)
		}
	}
}
