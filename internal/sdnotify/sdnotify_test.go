package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestMessages(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "4000000")
	t.Setenv("WATCHDOG_PID", "")
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if got := n.WatchdogEvery(); got != 2*time.Second {
		t.Errorf("WatchdogEvery() = %v, want 2s", got)
	}
	n.Ready("2 failing")
	n.Watchdog()
	n.Reloading()
	n.Status("x")
	n.Stopping()
	want := []string{"READY=1\nSTATUS=2 failing", "WATCHDOG=1", "RELOADING=1", "STATUS=x", "STOPPING=1"}
	buf := make([]byte, 512)
	for _, w := range want {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:k]); got != w {
			t.Errorf("got %q, want %q", got, w)
		}
	}
}

func TestOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n, err := New()
	if err != nil || n.WatchdogEvery() != 0 {
		t.Fatalf("New() = %v, %v", n.WatchdogEvery(), err)
	}
	if err := n.Ready("x"); err != nil {
		t.Errorf("Ready() without NOTIFY_SOCKET error = %v", err)
	}
}

func TestWatchdogForAnotherPid(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "4000000")
	t.Setenv("WATCHDOG_PID", "1")
	n, _ := New()
	if n.WatchdogEvery() != 0 {
		t.Error("watchdog meant for pid 1 enabled here")
	}
}
