package fdlimit_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/monsta/monsta/internal/fdlimit"
	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// exhaustEnv makes the test binary a process that lowers its descriptor
// limit to 200, dials ADDR until the budget is spent, and then saves
// state: a process of its own, as the limit cannot be raised again.
const exhaustEnv = "MONSTA_FDLIMIT_EXHAUST"

func TestMain(m *testing.M) {
	if spec := os.Getenv(exhaustEnv); spec != "" {
		addr, dir, _ := strings.Cut(spec, " ")
		if err := exhaust(addr, dir); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func exhaust(addr, dir string) error {
	rl := syscall.Rlimit{Cur: 200, Max: 200}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if _, err := fdlimit.Raise(); err != nil {
		return err
	}
	var conns []net.Conn
	for {
		c, err := netx.Dial(context.Background(), addr)
		if errors.Is(err, fdlimit.ErrExhausted) {
			break
		}
		if err != nil {
			return fmt.Errorf("dial #%d: %w", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	sd, err := statedir.Open(dir, nil)
	if err != nil {
		return err
	}
	for i := range 50 {
		st := runtime.TestState{Failures: i + 1, Notified: []string{"n"}}
		if err := sd.SaveTest(fmt.Sprint("t", i), st); err != nil {
			return err
		}
		if _, err := sd.Put("n", runtime.Message{Test: "t", Failures: i}); err != nil {
			return err
		}
	}
	fmt.Printf("dialled %d budget %d\n", len(conns), fdlimit.Checks().Size())
	return nil
}

// TestChecksLeaveTheReserve: with the limit at 200, checks that dial until
// the budget is spent get "descriptor budget exhausted" (not "too many
// open files"), and state saves and outbox writes still succeed.
func TestChecksLeaveTheReserve(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // accept and hold, in this process: its limit is not 200
		var held []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), exhaustEnv+"="+l.Addr().String()+" "+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dialled, budget int
	if _, err := fmt.Sscanf(string(out), "dialled %d budget %d", &dialled, &budget); err != nil {
		t.Fatalf("child said %q", out)
	}
	if want := 200 - fdlimit.Reserve(200); budget != want || dialled > budget || dialled < budget-16 {
		t.Errorf("child dialled %d connections with a budget of %d, want a budget of %d and nearly all of it used", dialled, budget, want)
	}
	t.Logf("RLIMIT_NOFILE 200: %d connections until the budget of %d was spent; 50 state saves and outbox writes after it succeeded", dialled, budget)
}
