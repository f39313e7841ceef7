package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/instance"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/silence"
)

// daemonConf is failingConf for an app that runs as the daemon (keeping
// the tests' user), plus extra lines of [main].
func daemonConf(extra string) string {
	return strings.Replace(failingConf, "[main]\n", "[main]\nuser = root\n"+extra, 1)
}

// startDaemon is start through Daemon: lock, listeners, socket.
func (f *fixture) startDaemon() *App {
	f.t.Helper()
	a, err := New(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(a.Close)
	if err := a.Daemon(DaemonOptions{Version: "test"}); err != nil {
		f.t.Fatal(err)
	}
	return a
}

// rewrite replaces the main configuration file.
func (f *fixture) rewrite(conf string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, "monsta.conf"), []byte(conf), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// getTests asks the control API at the unix socket path, or at a TCP
// address, for the tests it knows.
func getTests(network, addr string) (control.TestList, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}}
	var list control.TestList
	resp, err := c.Get("http://monsta/api/v1/tests")
	if err != nil {
		return list, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return list, errors.New(resp.Status)
	}
	return list, json.NewDecoder(resp.Body).Decode(&list)
}

// TestReloadMovesStateDir: a reload that changes statedir moves the lock,
// the control socket, the silences, the test states and the outbox to the
// new directory, and releases the old lock only once the new one is held.
func TestReloadMovesStateDir(t *testing.T) {
	t.Parallel()
	f := newFixture(t, daemonConf(""))
	oldDir, newDir := filepath.Join(f.dir, "state"), filepath.Join(f.dir, "state2")
	a := f.startDaemon()
	f.runUntil(`msg="test failed" test=down failures=1`)
	sil, err := a.Silences().Add("other", time.Hour, "kept across the move")
	if err != nil {
		t.Fatal(err)
	}
	f.rewrite(strings.ReplaceAll(daemonConf(""), "STATEDIR", newDir))
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if got := a.Status().StateDir; got != newDir {
		t.Errorf("state directory after the reload = %s, want %s", got, newDir)
	}
	wantLocks(t, newDir, oldDir)
	if list, err := getTests("unix", control.SocketPath(newDir)); err != nil || len(list.Tests) != 1 {
		t.Errorf("control socket in the new directory: %+v, %v", list, err)
	}
	if _, err := getTests("unix", control.SocketPath(oldDir)); err == nil {
		t.Error("the control socket in the old directory still answers")
	}
	if s, err := silence.Open(newDir, f.clk.Now); err != nil || len(s.List()) != 1 || s.List()[0].ID != sil.ID {
		t.Errorf("silences in the new directory = %+v, %v; want %s", s.List(), err, sil.ID)
	}
	// The failure count moved too: the second failure pages.
	log := f.runUntil(`msg=notification test=down state=FAIL failures=2`)
	if !strings.Contains(log, `msg="state directory moved"`) {
		t.Errorf("log does not say the state directory moved:\n%s", log)
	}
}

// wantLocks wants the lock of held held by the daemon, and that of free
// free.
func wantLocks(t *testing.T, held, free string) {
	t.Helper()
	var he *instance.HeldError
	if _, err := instance.Acquire(held, -1, -1); !errors.As(err, &he) {
		t.Errorf("lock of %s: Acquire = %v, want it held by the daemon", held, err)
	}
	// A process that the tests running beside this one fork holds a copy
	// of the descriptor until it execs: try a few times.
	var l *instance.Lock
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l, err = instance.Acquire(free, -1, -1); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Errorf("lock of %s still held: %v", free, err)
	}
	l.Release()
}

// TestReloadRefusedWhenNewStateDirIsTaken: when another daemon holds the
// new state directory, the reload is refused with an error naming it, and
// the old generation keeps its lock and socket.
func TestReloadRefusedWhenNewStateDirIsTaken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, daemonConf(""))
	oldDir, newDir := filepath.Join(f.dir, "state"), filepath.Join(f.dir, "taken")
	a := f.startDaemon()
	if err := os.MkdirAll(newDir, 0o750); err != nil {
		t.Fatal(err)
	}
	other, err := instance.Acquire(newDir, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	f.rewrite(strings.ReplaceAll(daemonConf(""), "STATEDIR", newDir))
	err = a.Reload()
	var held *instance.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("Reload() = %v, want the new directory's lock held by another", err)
	}
	if st := a.Status(); st.Generation != 1 || st.StateDir != oldDir {
		t.Errorf("after a refused reload: %+v, want generation 1 on %s", st, oldDir)
	}
	if _, err := getTests("unix", control.SocketPath(oldDir)); err != nil {
		t.Errorf("old control socket after a refused reload: %v", err)
	}
	if _, err := instance.Acquire(oldDir, -1, -1); !errors.As(err, &held) {
		t.Errorf("old lock after a refused reload: Acquire = %v, want held", err)
	}
	if !strings.Contains(f.logText(), "reload rejected, configuration kept") {
		t.Errorf("log does not say the reload was rejected:\n%s", f.logText())
	}
}

// freeAddr returns an address on the loopback host that no one listens
// on (now).
func freeAddr(t *testing.T, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestReloadMovesListen: a reload that changes listen serves on the new
// address and stops serving on the old one; one whose address cannot be
// had is refused with "needs a restart", and the old listener serves on.
func TestReloadMovesListen(t *testing.T) {
	t.Parallel()
	// Two hosts, so that the two addresses differ whatever ports come.
	first, second := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	f := newFixture(t, daemonConf("listen = "+first+"\n"))
	a := f.startDaemon()
	if _, err := getTests("tcp", first); err != nil {
		t.Fatalf("HTTP API on %s: %v", first, err)
	}
	f.rewrite(daemonConf("listen = " + second + "\n"))
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if _, err := getTests("tcp", second); err != nil {
		t.Errorf("HTTP API on the new address %s: %v", second, err)
	}
	if _, err := getTests("tcp", first); err == nil {
		t.Errorf("HTTP API still answers on the old address %s", first)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	f.rewrite(daemonConf("listen = " + busy.Addr().String() + "\n"))
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "[main] listen") || !strings.Contains(err.Error(), "needs a restart") {
		t.Errorf("Reload() onto an address in use = %v, want a listen error that needs a restart", err)
	}
	if _, err := getTests("tcp", second); err != nil {
		t.Errorf("HTTP API after a refused reload: %v", err)
	}
	if st := a.Status(); st.Generation != 2 {
		t.Errorf("generation after a refused reload = %d, want 2", st.Generation)
	}
}

// postSilence asks the HTTP API at addr for a silence with the bearer
// token and returns the status code.
func postSilence(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/silences", strings.NewReader(`{"pattern":"down","duration":"1h"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReloadReadsTokenAgain: a reload reads token_file again, and the HTTP
// API takes the new token only; a token file that cannot be read refuses
// the reload, and the token in force stays.
func TestReloadReadsTokenAgain(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t, "127.0.0.1")
	f := newFixture(t, daemonConf(""))
	tokenFile := filepath.Join(f.dir, "token")
	conf := strings.ReplaceAll(daemonConf("listen = "+addr+"\ntoken_file = "+tokenFile+"\n"), "STATEDIR", filepath.Join(f.dir, "state"))
	f.rewrite(conf)
	os.WriteFile(tokenFile, []byte("one\n"), 0o600)
	a := f.startDaemon()
	if code := postSilence(t, addr, "one"); code/100 != 2 {
		t.Fatalf("silence with the token = %d", code)
	}
	os.WriteFile(tokenFile, []byte("two\n"), 0o600)
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if one, two := postSilence(t, addr, "one"), postSilence(t, addr, "two"); one != http.StatusUnauthorized || two/100 != 2 {
		t.Errorf("after the token changed: old token %d, new token %d; want 401 and 2xx", one, two)
	}
	os.Remove(tokenFile)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "token_file") || !strings.Contains(err.Error(), "needs a restart") {
		t.Errorf("Reload() without the token file = %v, want a token_file error that needs a restart", err)
	}
	if code := postSilence(t, addr, "two"); code/100 != 2 {
		t.Errorf("after a refused reload, the token in force = %d, want 2xx", code)
	}
}

// TestReloadRefusesUserChange: a running daemon cannot take another user;
// the reload is refused, the log names the key, the old generation runs
// on.
func TestReloadRefusesUserChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, daemonConf(""))
	a := f.startDaemon()
	a.root = true // as the daemon started as root (a test run as another user included)
	f.rewrite(strings.Replace(daemonConf(""), "user = root", "user = nobody", 1))
	err := a.Reload()
	var re *RestartError
	if !errors.As(err, &re) || re.Key != "user" {
		t.Fatalf("Reload() = %v, want a RestartError for user", err)
	}
	if st := a.Status(); st.Generation != 1 {
		t.Errorf("generation after a refused reload = %d, want 1", st.Generation)
	}
	want := `msg="reload rejected, configuration kept" problem="[main] user changed from \"root\" to \"nobody\": needs a restart"`
	if log := f.logText(); !strings.Contains(log, want) {
		t.Errorf("log lacks %s:\n%s", want, log)
	}
	f.runUntil(`msg="test failed" test=down failures=1`)
}

// TestNeedsRestart: user and group refuse a reload only for a daemon
// started as root; started as another user it ignores both.
func TestNeedsRestart(t *testing.T) {
	t.Parallel()
	base := runtime.Main{User: "monsta", Group: "monsta"}
	for _, tc := range []struct {
		name string
		next runtime.Main
		root bool
		keys []string
	}{
		{"nothing changed, root", base, true, nil},
		{"user, root", runtime.Main{User: "nobody", Group: "monsta"}, true, []string{"user"}},
		{"group, root", runtime.Main{User: "monsta", Group: "nogroup"}, true, []string{"group"}},
		{"both, root", runtime.Main{User: "nobody", Group: "nogroup"}, true, []string{"user", "group"}},
		{"both, not root", runtime.Main{User: "nobody", Group: "nogroup"}, false, nil},
	} {
		err := needsRestart(base, tc.next, tc.root)
		var keys []string
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var re *RestartError
				if errors.As(e, &re) {
					keys = append(keys, re.Key)
				}
			}
		}
		if strings.Join(keys, " ") != strings.Join(tc.keys, " ") {
			t.Errorf("%s: needsRestart = %v, want keys %v", tc.name, err, tc.keys)
		}
	}
}

// TestSecondDaemonOnStateDirRefused: Daemon on a state directory another
// app holds is a *SetupError (exit status 2) naming the holder.
func TestSecondDaemonOnStateDirRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, daemonConf(""))
	f.startDaemon()
	b, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Daemon(DaemonOptions{})
	var se *SetupError
	var held *instance.HeldError
	if !errors.As(err, &se) || !errors.As(err, &held) || held.Pid != os.Getpid() {
		t.Errorf("second Daemon() = %v, want a SetupError naming pid %d", err, os.Getpid())
	}
}

// TestStopCancelsRunningChecks: a stop waits stop_timeout for a check that
// would run 30 s, then cancels it; the cancelled run is not counted.
func TestStopCancelsRunningChecks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `
[main]
statedir = STATEDIR
stop_timeout = 0.2
[Check_slow]
type = script
command = sh -c 'echo x >> DIR/STARTED; sleep 30'
timeout = 30
[Notification_page]
type = log
recipient = warn
[Test_slow]
checks = slow
interval = 60
notify = 1:page
`)
	conf, _ := os.ReadFile(f.opts.Config)
	f.rewrite(strings.ReplaceAll(string(conf), "DIR", f.dir))
	a := f.start()
	started := filepath.Join(f.dir, "STARTED")
	f.advanceUntilFile(started)
	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s of a stop with stop_timeout = 0.2")
	}
	log := f.logText()
	if !strings.Contains(log, "stop_timeout passed, cancelling the checks still running") {
		t.Errorf("log does not say the check was cancelled:\n%s", log)
	}
	if strings.Contains(log, `msg="test failed"`) || strings.Contains(log, "msg=notification") {
		t.Errorf("the cancelled run counted:\n%s", log)
	}
}

// advanceUntilFile advances the clock a second at a time until path
// exists; the bound only turns a hang into a failure.
func (f *fixture) advanceUntilFile(path string) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		f.clk.Advance(time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	f.t.Fatalf("%s never appeared", path)
}

// getPath asks the control API at the unix socket for path and returns
// the status code and body.
func getPath(t *testing.T, sock, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Get("http://monsta" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDaemonServesItsHistory: the daemon's control API reads the history
// store the app opened (history = yes, the default), and says history is
// off with history = no.
func TestDaemonServesItsHistory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		extra string
		code  int
		want  string
	}{
		{extra: "", code: http.StatusOK, want: `"down"`},
		{extra: "history = no\n", code: http.StatusNotFound, want: "history is off"},
	} {
		f := newFixture(t, daemonConf(tc.extra))
		a := f.startDaemon()
		f.runUntil(`msg="test failed" test=down failures=1`)
		code, body := getPath(t, control.SocketPath(filepath.Join(f.dir, "state")), "/api/v1/report?since=1h")
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("history %q: GET /api/v1/report = %d %s, want %d and %s", tc.extra, code, body, tc.code, tc.want)
		}
		a.Close()
	}
}
