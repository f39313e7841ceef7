package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/silence"
)

func TestSanitize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain text, ünïcode ✓", "plain text, ünïcode ✓"},
		{"keeps\nnewlines\tand tabs", "keeps\nnewlines\tand tabs"},
		{"\x1b]0;owned\x07title", `\x1b]0;owned\x07title`},
		{"\x1b[2Jclear", `\x1b[2Jclear`},
		{"cr\rbs\bdel\x7f", `cr\x0dbs\x08del\x7f`},
		{"c1 \u009b31m csi", `c1 \x9b31m csi`},
		{"raw \x9b byte", `raw \x9b byte`},
		{"nul\x00", `nul\x00`},
	} {
		if got := sanitize(tc.in); got != tc.want {
			t.Errorf("sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// fakeDaemon serves the control API's read side on a unix socket with the
// tests given, and counts the silences asked for.
type fakeDaemon struct {
	socket string
	added  atomic.Int32
}

func startFakeDaemon(t *testing.T, tests ...control.Test) *fakeDaemon {
	t.Helper()
	f := &fakeDaemon{socket: filepath.Join(t.TempDir(), "monsta.sock")}
	l, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/tests", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(control.TestList{Tests: tests})
	})
	mux.HandleFunc("POST /api/v1/silences", func(w http.ResponseWriter, r *http.Request) {
		f.added.Add(1)
		var req control.SilenceRequest
		json.NewDecoder(r.Body).Decode(&req)
		json.NewEncoder(w).Encode(control.SilenceAdded{Silence: silence.Silence{ID: "1", Pattern: req.Pattern, End: time.Now().Add(time.Hour)}, Tests: []string{tests[0].Name}})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f
}

// runHere runs the command in this process.
func runHere(args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// TestStatusEscapesControlBytes: --status prints a server's reply with
// its control characters escaped; --status --json stays valid JSON with
// the same text and no raw control character either.
func TestStatusEscapesControlBytes(t *testing.T) {
	t.Parallel()
	hostile := "bad banner \x1b]0;owned\x07\x1b[2J\u009b31m"
	f := startFakeDaemon(t, control.Test{Name: "web", State: control.StateFail, Failures: 1,
		Checks: []control.Check{{Name: "web", Type: "portconnect", Errors: []string{hostile}}}})
	r := runHere("--status", "--socket", f.socket)
	if r.code != exitFail || !strings.Contains(r.stdout, `bad banner \x1b]0;owned\x07\x1b[2J\x9b31m`) {
		t.Errorf("--status = %d, want 1 and the reply escaped:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runHere("--status", "--json", "--socket", f.socket)
	var list control.TestList
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Tests) != 1 || list.Tests[0].Checks[0].Errors[0] != hostile {
		t.Errorf("--status --json does not decode to the reply: %v\n%s", err, r.stdout)
	}
	for name, out := range map[string]string{"--status": runHere("--status", "--socket", f.socket).stdout, "--json": r.stdout} {
		if strings.ContainsAny(out, "\x1b\x07\u009b") {
			t.Errorf("%s printed a raw control character: %q", name, out)
		}
	}
}

// TestSilenceTypoRefused: --silence with a pattern that matches no test
// is an error with a hint, exit 2, and creates nothing; a glob that
// matches is taken.
func TestSilenceTypoRefused(t *testing.T) {
	t.Parallel()
	f := startFakeDaemon(t, control.Test{Name: "nc_web", State: "OK"}, control.Test{Name: "nc_db", State: "OK"})
	r := runHere("--silence", "nc_wbe", "--for", "1h", "--socket", f.socket)
	want := `monsta: --silence "nc_wbe": matches no configured test (did you mean "nc_web"?)`
	if r.code != exitConfig || !strings.Contains(r.stderr, want) || f.added.Load() != 0 {
		t.Errorf("--silence nc_wbe = %d %q (%d silences asked for), want 2, %q and none", r.code, r.stderr, f.added.Load(), want)
	}
	if r := runHere("--silence", "Test_nc_*", "--for", "1h", "--socket", f.socket); r.code != exitOK || f.added.Load() != 1 {
		t.Errorf("--silence Test_nc_* = %d %q %q, want 0 and one silence", r.code, r.stdout, r.stderr)
	}
}

// TestStatusPermissionDenied: --status by a user who may not use the
// socket says so (not "is monsta running?") and exits 2.
func TestStatusPermissionDenied(t *testing.T) {
	needRootAndNobody(t)
	t.Parallel()
	dir := t.TempDir()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	sock := filepath.Join(dir, "monsta.sock")
	l, err := control.ListenSocket(sock) // root's, mode 0660
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bin := filepath.Join(dir, "monsta")
	if out, err := exec.Command("cp", monstaBin, bin).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.Chmod(bin, 0o755)
	cmd := exec.Command(bin, "--status", "--socket", sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitConfig || !strings.Contains(string(out), "permission denied on the control socket "+sock) ||
		strings.Contains(string(out), "is monsta running?") {
		t.Errorf("--status as nobody = %d %q, want 2 and permission denied", code, out)
	}
}

// TestRunEscapesControlBytes: --run prints a Lua check's message with
// its control characters escaped.
func TestRunEscapesControlBytes(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR
[Check_x]
type = rude
`, "conf.d/rude.lua": `
monsta.check_type{
  name = "rude",
  description = "fail with control characters",
  options = {},
  run = function(opt) return false, "\27]0;owned\7\27[2J bad" end,
}
`})
	r := monsta(t, "--run", "Check_x", "--config", conf)
	if r.code != exitFail || strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") || !strings.Contains(r.stdout, `\x1b]0;owned\x07\x1b[2J bad`) {
		t.Errorf("--run Check_x = %d, want 1 and the message escaped:\n%q\n%q", r.code, r.stdout, r.stderr)
	}
}
