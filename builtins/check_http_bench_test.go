package builtins

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHTTPCheck compares one run of the http check with a bare
// net/http GET of the same page, each with a new connection per request
// and with keep-alive. The loopback server runs in the same process, so
// cpu-ns/op includes its share, the same for both. Run with
// go test -run '^$' -bench HTTPCheck ./builtins
func BenchmarkHTTPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status": "ok", "version": "1.2.3"}`)
	}))
	defer srv.Close()
	url := srv.URL + "/health"
	for _, keep := range []string{"no", "yes"} {
		b.Run("monsta/keepalive="+keep, func(b *testing.B) {
			c, err := newTestCheck(b, httpDescriptor(), map[string]string{"url": url, "keepalive": keep,
				"json_path": "status", "json_expect": "ok"})
			if err != nil {
				b.Fatal(err)
			}
			benchCPU(b, func(ctx context.Context) error {
				_, err := c.Run(ctx)
				return err
			})
		})
		b.Run("bare/keepalive="+keep, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: keep == "no"}}
			benchCPU(b, func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				return err
			})
		})
	}
}

// benchCPU runs f b.N times under a 10 s deadline each and reports the CPU
// time per run beside the wall time.
func benchCPU(b *testing.B, f func(context.Context) error) {
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := f(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
