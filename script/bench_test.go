package script

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// benchScript is a realistic 2 KB script: S3 and EC2 inventory over two
// regions with asyncio.gather, a helper and pagination.
const benchScript = "testdata/realistic_inventory_complete.py"

// cpuTime is the process's user+system CPU time. The benchmarks report it
// per operation next to ns/op, because on a shared machine wall time
// measures the neighbours as much as the code.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkAnalyze(b *testing.B) {
	src, err := os.ReadFile(benchScript)
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
	start := cpuTime(b)
	for b.Loop() {
		a.Analyze(code)
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkParse is tree-sitter's share of BenchmarkAnalyze.
func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile(benchScript)
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
	start := cpuTime(b)
	for b.Loop() {
		parse(ps, src).Close()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkWalk is the Go side of BenchmarkAnalyze: the analysis of an
// already flattened tree.
func BenchmarkWalk(b *testing.B) {
	src, err := os.ReadFile(benchScript)
	if err != nil {
		b.Fatal(err)
	}
	a := newAnalyzer(b)
	ps, err := a.pool.get()
	if err != nil {
		b.Fatal(err)
	}
	tree := parse(ps, src)
	nodes, fr := flatten(tree, nil, DefaultMaxNodes, DefaultMaxDepth)
	tree.Close()
	a.pool.put(ps)
	if fr != flatOK {
		b.Fatal(fr)
	}
	parent := parents(nodes, nil)
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		w := walker{a: a, src: string(src), n: nodes, parent: parent}
		w.run()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}
