package telemetry

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newVec registers a counter vector c with the given labels and returns
// it with a function reading one child's value from the exposition.
func newVec(t *testing.T, labels ...string) (*prometheus.CounterVec, func(values ...string) float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, labels)
	reg.MustRegister(v)
	return v, func(values ...string) float64 {
		t.Helper()
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		var sel []string
		for i, l := range labels {
			sel = append(sel, l+"="+strconv.Quote(values[i]))
		}
		prefix := "c{" + strings.Join(sel, ",") + "} "
		for line := range strings.SplitSeq(string(body), "\n") {
			if n, ok := strings.CutPrefix(line, prefix); ok {
				f, err := strconv.ParseFloat(n, 64)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
		}
		return 0
	}
}

// TestChildrenCountInTheVector: what is recorded through a resolved child
// is what the vector exposes, label values kept apart, past the bound on
// kept children too.
func TestChildrenCountInTheVector(t *testing.T) {
	tests := []struct {
		name   string
		keys   [][2]string // recorded in order
		want   map[[2]string]float64
		cached int // children kept afterwards
	}{
		{"one value", [][2]string{{"tools/call", "success"}, {"tools/call", "success"}},
			map[[2]string]float64{{"tools/call", "success"}: 2}, 1},
		{"values apart", [][2]string{{"a", "b"}, {"ab", ""}, {"a", "b"}, {"", "ab"}},
			map[[2]string]float64{{"a", "b"}: 2, {"ab", ""}: 1, {"", "ab"}: 1}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, value := newVec(t, "x", "y")
			c := counters2(v)
			for _, k := range tt.keys {
				c.of(k).Inc()
			}
			for k, n := range tt.want {
				if got := value(k[0], k[1]); got != n {
					t.Errorf("%v = %v, want %v", k, got, n)
				}
			}
			if got := len(*c.m.Load()); got != tt.cached {
				t.Errorf("%d children kept, want %d", got, tt.cached)
			}
		})
	}
}

func TestChildrenBound(t *testing.T) {
	v, value := newVec(t, "x")
	c := counters1(v)
	for i := range maxChildren + 10 {
		c.of(fmt.Sprint(i)).Inc()
	}
	c.of(fmt.Sprint(maxChildren + 5)).Inc()
	if got := len(*c.m.Load()); got != maxChildren {
		t.Errorf("%d children kept, want %d", got, maxChildren)
	}
	if got := value(fmt.Sprint(maxChildren + 5)); got != 2 {
		t.Errorf("a value past the bound counted %v, want 2", got)
	}
}

// TestChildrenInvalidLabel: the first use of label values goes through the
// vector, so values it refuses are refused as before.
func TestChildrenInvalidLabel(t *testing.T) {
	c := counters1(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"x"}))
	defer func() {
		if recover() == nil {
			t.Error("invalid UTF-8 label value accepted")
		}
		if m := c.m.Load(); m != nil && len(*m) != 0 {
			t.Error("a refused value was kept")
		}
	}()
	c.of("\xff")
}

func TestChildrenConcurrent(t *testing.T) {
	v, value := newVec(t, "x")
	c := counters1(v)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				c.of(fmt.Sprint((g + i) % 16)).Inc()
			}
		})
	}
	wg.Wait()
	total := 0.0
	for i := range 16 {
		total += value(fmt.Sprint(i))
	}
	if total != 8*200 {
		t.Errorf("counted %v, want %d", total, 8*200)
	}
}
