package control

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// bigFixture has n tests, one in ten failing and one in a hundred
// silenced, each run once.
func bigFixture(b *testing.B, n int) *fixture {
	var conf strings.Builder
	conf.WriteString("[Check_up]\ntype=fake\nhost=up\n[Check_down]\ntype=fake\nhost=down\n")
	for i := range n {
		chk := "up"
		if i%10 == 0 {
			chk = "down"
		}
		fmt.Fprintf(&conf, "[Test_t%05d]\nchecks=%s\n", i, chk)
	}
	f := newFixture(b, conf.String(), map[string]error{"down": errors.New("connect 127.0.0.1:25: connection refused")})
	for i := 0; i < n; i += 100 {
		f.sil.Add(fmt.Sprintf("t%05d", i+5), time.Hour, "")
	}
	for i := range n {
		f.run(b, fmt.Sprintf("t%05d", i))
	}
	return f
}

// BenchmarkStatusPage10k renders the status page for 10,000 tests.
func BenchmarkStatusPage10k(b *testing.B) {
	benchGet(b, "/")
}

// BenchmarkAPITests10k renders GET /api/v1/tests for 10,000 tests.
func BenchmarkAPITests10k(b *testing.B) {
	benchGet(b, "/api/v1/tests")
}

func benchGet(b *testing.B, path string) {
	f := bigFixture(b, 10000)
	h := f.srv.Handler(false, "")
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != 200 {
			b.Fatalf("GET %s = %d", path, w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size)/1e6, "MB/page")
}
