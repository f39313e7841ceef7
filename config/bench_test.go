package config

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// benchConfig renders n checks and n tests, five and three keys each, like
// the daemon's benchmark configuration.
func benchConfig(n int) []byte {
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, "[Check_c%d]\ntype = portconnect\nhost = 127.0.0.%d\nport = %d\ntimeout = 2\nexpect = 220 ; banner\n\n",
			i, 1+i%4, 1024+i)
		fmt.Fprintf(&buf, "[Test_t%d]\nchecks = c%d\ninterval = 10\nnotify = 1:log\n\n", i, i)
	}
	return buf.Bytes()
}

// benchParse also reports the process's CPU time per parse (garbage
// collection included), which a busy machine changes less than ns/op.
func benchParse(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	before := cpuTime()
	for b.Loop() {
		if _, _, err := Parse("big.conf", data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-before).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParse10kCPU is BenchmarkParse10k with the CPU time per parse.
func BenchmarkParse10kCPU(b *testing.B) { benchParse(b, benchConfig(10000)) }

// BenchmarkParse100k parses 100,000 checks and 100,000 tests in one file
// (about 18 MB; Load would refuse it, Parse does not limit).
func BenchmarkParse100k(b *testing.B) { benchParse(b, benchConfig(100000)) }

// BenchmarkParseOneSection is the worst case for a per-section key index:
// a file of 1 MiB (the default limit) that is one section of short keys.
func BenchmarkParseOneSection(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("[s]\n")
	for i := 0; buf.Len() < DefaultMaxFileSize-16; i++ {
		fmt.Fprintf(&buf, "k%d=\n", i)
	}
	benchParse(b, buf.Bytes())
}

// BenchmarkParseContinuation: one section whose keys each have three
// continuation lines.
func BenchmarkParseContinuation(b *testing.B) {
	var buf bytes.Buffer
	for i := range 10000 {
		fmt.Fprintf(&buf, "[Check_d%d]\ntype = dnsserial\nhosts = 127.0.0.1:53\n  127.0.0.2:53 # second\n  127.0.0.3:53\n\n  [::1]:53\n", i)
	}
	benchParse(b, buf.Bytes())
}
