package script

import (
	"os"
	"testing"
)

// BenchmarkAnalyze analyses a realistic 2 KB script (S3 and EC2 inventory
// over two regions with asyncio.gather, a helper, pagination).
func BenchmarkAnalyze(b *testing.B) {
	src, err := os.ReadFile("testdata/realistic_inventory_complete.py")
	if err != nil {
		b.Fatal(err)
	}
	a := newAnalyzer(b)
	code := string(src)
	if res := a.Analyze(code); !res.Complete || len(res.Calls) != 4 {
		b.Fatalf("benchmark script analysed as %+v", res)
	}
	b.SetBytes(int64(len(code)))
	b.ReportAllocs()
	for b.Loop() {
		a.Analyze(code)
	}
}

// BenchmarkParse is tree-sitter's share of BenchmarkAnalyze: parsing alone.
func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("testdata/realistic_inventory_complete.py")
	if err != nil {
		b.Fatal(err)
	}
	ps, err := make(parserPool, 1).get()
	if err != nil {
		b.Fatal(err)
	}
	defer ps.Close()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		parse(ps, src).Close()
	}
}
