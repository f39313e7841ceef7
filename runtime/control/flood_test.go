package control

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/fdlimit"
	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// floodEnv makes the test binary a flooding client instead of running the
// tests: "ADDR N SRC,SRC,…" opens N connections to ADDR from the source
// addresses in turn, prints how many opened, and holds them, idle, until
// its standard input closes. A process of its own, because the
// connections' descriptors would otherwise count against the server's
// limit.
const floodEnv = "MONSTA_CONTROL_FLOOD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(floodEnv); spec != "" {
		if err := flood(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func flood(spec string) error {
	f := strings.Fields(spec)
	if len(f) != 3 {
		return fmt.Errorf("%s=%q: want ADDR N SOURCES", floodEnv, spec)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return err
	}
	srcs := strings.Split(f[2], ",")
	if _, err := fdlimit.Raise(); err != nil {
		return err
	}
	var opened, failed atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(srcs[i%int64(len(srcs))])}, Timeout: 10 * time.Second}
				c, err := d.Dial("tcp", f[0])
				if err != nil {
					failed.Add(1)
					continue
				}
				opened.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Printf("opened %d failed %d\n", opened.Load(), failed.Load())
	bufio.NewReader(os.Stdin).ReadString('\n') // until the test closes it
	return nil
}

// procStatus returns a field of /proc/self/status in kB.
func procStatus(t *testing.T, key string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.Atoi(strings.Fields(v)[0])
			return kb
		}
	}
	t.Fatalf("no %s in /proc/self/status", key)
	return 0
}

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestListenerFlood opens 20,000 idle connections to the API's listener
// (from client processes of their own) and checks that the daemon's side
// keeps its descriptors and memory: probes and state saves made during the
// flood all succeed, the open descriptors stay within MaxConns of where
// they were, and RSS grows by far less than the 400 MB of issue 23.
func TestListenerFlood(t *testing.T) {
	const want = 20000
	if _, err := fdlimit.Raise(); err != nil {
		t.Fatalf("raise RLIMIT_NOFILE: %v", err)
	}
	soft, hard, _ := fdlimit.Limit()
	// Each client process may hold as many as its limit allows, less a few
	// for itself: with a hard limit below 20,000 more processes share
	// the 20,000, and none is left out.
	per := min(want, int(hard)-64)
	procs := (want + per - 1) / per
	per = (want + procs - 1) / procs
	t.Logf("RLIMIT_NOFILE %d (hard %d): %d client processes of up to %d connections", soft, hard, procs, per)

	f := newFixture(t, threeTests, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, l, f.srv.Handler(true, "")) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve() error = %v", err)
		}
	}()
	banner := loopback.Serve(t, func(c net.Conn) { c.Write([]byte("220 ok\r\n")) })
	sd, err := statedir.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	work := func(round int) error { return probeAndSave(sd, banner, round) }
	if err := work(0); err != nil {
		t.Fatalf("before the flood: %v", err)
	}
	fdsBefore, rssBefore := openFDs(t), procStatus(t, "VmRSS")

	// Four sources: a quarter of MaxConns at most stays open, the rest is
	// reset as it comes. 20,000 connections from one address would also
	// run out of ephemeral ports towards one listener.
	opened := startFlood(t, l.Addr().String(), "127.0.0.10,127.0.0.11,127.0.0.12,127.0.0.13", want, procs, per)
	if opened < want {
		t.Errorf("%d connections opened, want %d", opened, want)
	}

	// Every probe and save while the clients hold their connections.
	for round := 1; round <= 200; round++ {
		if err := work(round); err != nil {
			t.Fatalf("during the flood, round %d: %v", round, err)
		}
	}
	fdsDuring, rssDuring, hwm := openFDs(t), procStatus(t, "VmRSS"), procStatus(t, "VmHWM")
	t.Logf("server side: %d descriptors open before, %d during; RSS %d kB before, %d kB during (+%d kB), peak %d kB",
		fdsBefore, fdsDuring, rssBefore, rssDuring, rssDuring-rssBefore, hwm)
	if fdsDuring > fdsBefore+MaxConns+32 {
		t.Errorf("%d descriptors open during the flood, want at most %d (MaxConns more)", fdsDuring, fdsBefore+MaxConns+32)
	}
	if grew := rssDuring - rssBefore; grew > 64<<10 {
		t.Errorf("RSS grew by %d kB during the flood, want under 64 MB", grew)
	}
	// The API still answers.
	c, err := netx.Dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, err := get(c); err != nil || st != "200 OK" {
		t.Errorf("GET / during the flood: %q, %v", st, err)
	}
}

// startFlood starts procs client processes that open want connections
// to addr from srcs, per at most each, and returns how many opened; the
// clients hold them until the test ends.
func startFlood(t *testing.T, addr, srcs string, want, procs, per int) int {
	t.Helper()
	opened := 0
	for i := range procs {
		n := min(per, want-i*per)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", floodEnv, addr, n, srcs))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdin.Close(); cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("client process %d: %v", i, err)
		}
		var o, fl int
		fmt.Sscanf(line, "opened %d failed %d", &o, &fl)
		t.Logf("client process %d: %d connections opened, %d failed", i, o, fl)
		opened += o
	}
	return opened
}

// probeAndSave is a check's and a page's worth of descriptors: a probe of
// the banner server through netx, a durable state save and an outbox file.
func probeAndSave(sd *statedir.Dir, banner string, round int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := netx.Dial(ctx, banner)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	line, err := netx.ReadLine(bufio.NewReader(netx.Bind(ctx, c)), 512)
	netx.Abort(c)
	if err != nil || !strings.HasPrefix(string(line), "220") {
		return fmt.Errorf("probe: %q, %v", line, err)
	}
	now := time.Now()
	st := runtime.TestState{Failures: round, Since: now, Notified: []string{fmt.Sprint("n", round)}, LastRun: now}
	if err := sd.SaveTest(fmt.Sprint("t", round%10), st); err != nil {
		return err
	}
	id, err := sd.Put("n", runtime.Message{Test: "t", Failures: round})
	if err != nil {
		return err
	}
	return sd.Delete("n", id)
}
