package history

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// benchTests is how many tests the benchmarks spread their runs over.
const benchTests = 10000

func benchNames() []string {
	names := make([]string, benchTests)
	for i := range names {
		names[i] = fmt.Sprintf("test_%05d", i)
	}
	return names
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkResult is the engine's side: one Result per op, while the real
// writer drains the queue. dropped/op says whether the writer kept up.
func BenchmarkResult(b *testing.B) {
	names := benchNames()
	s, err := Open(filepath.Join(b.TempDir(), "history.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Result(Run{Test: names[i%benchTests], At: at.Add(time.Duration(i) * 200 * time.Microsecond), OK: i%50 != 0, Duration: time.Duration(i%1000) * time.Microsecond})
	}
	b.StopTimer()
	_ = s.Sync()
	b.ReportMetric(float64(s.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkWriter is the writer's side, driven in this goroutine: runs
// at 5,000/s of simulated time over 10,000 tests (two checks each, so
// check rows too), a flush a simulated second, the buckets and the ring
// every DetailEvery (10 s). It reports records/s and
// the process's CPU time per record (SQLite's included).
func BenchmarkWriter(b *testing.B) {
	names := benchNames()
	now := time.Now()
	clock := func() time.Time { return now }
	s := newStore(filepath.Join(b.TempDir(), "history.db"), Options{Now: clock, FlushRecords: 5000}.withDefaults())
	w, err := openWriter(s)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.st.close(); _ = w.db.Close() }()
	run := func(i int) Run {
		d := time.Duration(i%1000) * time.Microsecond
		return Run{Test: names[i%benchTests], At: now, OK: i%50 != 0, Duration: 2 * d,
			Checks: []CheckRun{{Check: "a", OK: true, Duration: d}, {Check: "b", OK: i%50 != 0, Duration: d}}}
	}
	for i := range benchTests { // every test known and its buckets open
		w.addRun(run(i))
	}
	_ = w.flush(true)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for i := range b.N {
		now = now.Add(200 * time.Microsecond)
		w.addRun(run(i))
	}
	_ = w.flush(true)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/wall.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
}
