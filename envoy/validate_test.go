package envoy_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/envoy"
)

// directives reads the "# key: value" lines at the top of a fixture.
func directives(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	d := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ": ")
		if ok && (k == "want" || k == "config" || k == "error") {
			d[k] = append(d[k], v)
		}
	}
	return d
}

// fixtureOptions loads the mcpguard configuration a fixture names.
func fixtureOptions(t *testing.T, path string, d map[string][]string) envoy.ValidateOptions {
	t.Helper()
	var o envoy.ValidateOptions
	if c := d["config"]; len(c) > 0 {
		cfg, err := config.Load(filepath.Join(filepath.Dir(path), "..", c[0]))
		if err != nil {
			cfg, err = config.Load(filepath.Join(filepath.Dir(path), c[0]))
		}
		if err != nil {
			t.Fatalf("load %s: %v", c[0], err)
		}
		o.Config = cfg
	}
	return o
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures match %s (%v)", pattern, err)
	}
	return files
}

func TestValidateGood(t *testing.T) {
	for _, f := range glob(t, "testdata/good/*.yaml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := envoy.Validate(data, fixtureOptions(t, f, directives(t, data)))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if len(ps) > 0 {
				t.Errorf("problems in a good bootstrap:\n%s", envoy.Problems(ps))
			}
		})
	}
}

// Every rule has a fixture that breaks it, with the exact message; every
// Check constant appears in at least one.
func TestValidateBad(t *testing.T) {
	seen := map[envoy.Check]bool{}
	for _, f := range glob(t, "testdata/bad/*.yaml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d := directives(t, data)
			if len(d["want"]) == 0 {
				t.Fatal("fixture has no # want: line")
			}
			ps, err := envoy.Validate(data, fixtureOptions(t, f, d))
			if err != nil {
				t.Fatalf("Validate: %v (the fixture must be a valid Envoy bootstrap that breaks one of mcpguard's rules)", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
				seen[p.Check] = true
			}
			if !slices.Equal(got, d["want"]) {
				t.Errorf("problems:\n  got  %q\n  want %q", got, d["want"])
			}
		})
	}
	for _, c := range []envoy.Check{
		envoy.CheckListeners, envoy.CheckExtProcPresent, envoy.CheckExtProcOrder, envoy.CheckFailClosed,
		envoy.CheckProcessingMode, envoy.CheckMessageTimeout, envoy.CheckMutationRules, envoy.CheckHostRewrite,
		envoy.CheckPathRewrite, envoy.CheckPathNormalization, envoy.CheckGRPCCluster, envoy.CheckGRPCPeerAuth, envoy.CheckJWTForward, envoy.CheckJWTMetadata,
		envoy.CheckImmediateResponse, envoy.CheckBodyOrdering, envoy.CheckOverrideModes, envoy.CheckUpstreamTLS,
		envoy.CheckPerRouteService, envoy.CheckRouteCache, envoy.CheckRequestAttributes, envoy.CheckFilterAfterExtProc,
	} {
		if !seen[c] {
			t.Errorf("no bad fixture breaks check %q", c)
		}
	}
}

// Files that are not valid Envoy bootstraps fail before mcpguard's rules:
// syntax, unknown fields and types, enum values, and protoc-gen-validate
// rules at any depth of typed_config.
func TestValidateInvalid(t *testing.T) {
	for _, f := range glob(t, "testdata/invalid/*.yaml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := directives(t, data)["error"]
			if len(want) != 1 {
				t.Fatal("fixture needs one # error: line")
			}
			ps, err := envoy.Validate(data, envoy.ValidateOptions{})
			if err == nil {
				t.Fatalf("Validate accepted it (problems %v)", ps)
			}
			if !strings.Contains(err.Error(), want[0]) {
				t.Errorf("error %q does not contain %q", err, want[0])
			}
		})
	}
}

func TestValidateTooLarge(t *testing.T) {
	data := bytes.Repeat([]byte("#\n"), envoy.MaxBootstrapBytes/2+1)
	if _, err := envoy.Validate(data, envoy.ValidateOptions{}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Validate(oversized) error = %v", err)
	}
}

func FuzzValidate(f *testing.F) {
	for _, dir := range []string{"good", "bad", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := envoy.Validate(data, envoy.ValidateOptions{})
		if err != nil && len(ps) > 0 {
			t.Fatalf("both an error and problems: %v %v", err, ps)
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	data, err := os.ReadFile("testdata/good/reference.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envoy.Validate(data, envoy.ValidateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
