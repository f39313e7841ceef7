package lua

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/fileread"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// TestPrintAndLogAreClippedAndRateLimited: print and monsta.log lines are
// clipped and cleaned like errors, and one run writes at most maxLogLines
// of them, then one line saying how many it dropped.
func TestPrintAndLogAreClippedAndRateLimited(t *testing.T) {
	fx := load(t, map[string]string{"noisy.lua": `
local log = require("monsta.log")
local big = string.rep("\27[2J", 2^18)
monsta.check_type{name = "noisy", description = "log a lot",
  run = function()
    for i = 1, 5000 do
      if i % 2 == 0 then print(big, i) else log.warn(big, "n", i, "v", big) end
    end
    return true
  end}`}, Config{}, nil)
	if r := fx.run(t, "noisy", nil); !r.OK {
		t.Fatalf("run failed: %q", r.Errors)
	}
	out := fx.log.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != maxLogLines+1 {
		t.Errorf("%d log lines, want %d and one saying how many were dropped", len(lines), maxLogLines+1)
	}
	for _, l := range lines {
		if len(l) > 3*maxMessageLen+500 || strings.Contains(l, "\x1b") {
			t.Fatalf("log line of %d bytes (or with an escape byte): %.200q", len(l), l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "lua log lines dropped") || !strings.Contains(last, fmt.Sprintf("dropped=%d", 5000-maxLogLines)) {
		t.Errorf("last line %.300q, want lua log lines dropped, dropped=%d", last, 5000-maxLogLines)
	}
	// The next run has its own allowance.
	fx.run(t, "noisy", nil)
	if n := strings.Count(fx.log.String(), "\n"); n != 2*(maxLogLines+1) {
		t.Errorf("%d lines after two runs, want %d", n, 2*(maxLogLines+1))
	}
}

// TestConnectionsCappedPerRun: a run has at most maxConns connections open
// at once; one more fails that call with a clear error, and closing one
// makes room.
func TestConnectionsCappedPerRun(t *testing.T) {
	addr := loopback.Silent(t)
	fx := load(t, map[string]string{"conns.lua": `
local tcp = require("monsta.tcp")
monsta.check_type{name = "conns", description = "open connections",
  options = {port = {type = "port", help = "Port."}},
  run = function(opt)
    local cs = {}
    for i = 1, 16 do
      local c, err = tcp.connect("127.0.0.1", opt.port)
      if not c then return false, "connect " .. i .. ": " .. err end
      cs[i] = c
    end
    local c, err = tcp.connect("127.0.0.1", opt.port)
    if c then return false, "a 17th connection opened" end
    cs[1]:close()
    local again, err2 = tcp.connect("127.0.0.1", opt.port)
    if not again then return false, "after a close: " .. err2 end
    return false, err
  end}`}, Config{}, nil)
	r := fx.run(t, "conns", map[string]string{"port": loopback.PortString(addr), "timeout": "5"})
	want := "tcp.connect: 16 connections open in this run, the most one run may have; close one first"
	if r.OK || len(r.Errors) != 1 || r.Errors[0] != want {
		t.Errorf("errors %q, want %q", r.Errors, want)
	}
}

// TestRepliesAreCapped: a peer sending an endless line, or an HTTP body
// over 1 MiB, fails the call with "reply too long (N bytes)".
func TestRepliesAreCapped(t *testing.T) {
	endless := loopback.Serve(t, func(c net.Conn) {
		chunk := []byte(strings.Repeat("a", 4096))
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat("b", 4096))
		for i := 0; i < 1024; i++ { // 4 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	fx := load(t, map[string]string{"reply.lua": `
local tcp, http = require("monsta.tcp"), require("monsta.http")
monsta.check_type{name = "reply", description = "read a long reply",
  options = {port = {type = "port", help = "Port."}, url = {help = "URL."}},
  run = function(opt)
    local c = assert(tcp.connect("127.0.0.1", opt.port))
    local line, err = c:receive_line()
    local resp, herr = http.request{url = opt.url}
    return false, {tostring(line) .. ": " .. tostring(err), tostring(resp) .. ": " .. tostring(herr)}
  end}`}, Config{}, nil)
	r := fx.run(t, "reply", map[string]string{"port": loopback.PortString(endless), "url": srv.URL, "timeout": "5"})
	want := []string{"nil: receive: reply too long (65537 bytes)", "nil: read GET response: reply too long (1048577 bytes)"}
	if r.OK || strings.Join(r.Errors, "|") != strings.Join(want, "|") {
		t.Errorf("errors %q, want %q", r.Errors, want)
	}
}

// TestCancelEndsBlockingCalls: cancelling a run (what SIGTERM does to the
// daemon's runs) ends every blocking Lua builtin at once, whatever the
// run's timeout.
func TestCancelEndsBlockingCalls(t *testing.T) {
	silent := loopback.Silent(t)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	fx := load(t, map[string]string{"block.lua": `
local tcp, http, dns = require("monsta.tcp"), require("monsta.http"), require("monsta.dns")
local calls = {
  receive = function(opt) local c = assert(tcp.connect("127.0.0.1", opt.port)); return c:receive_line() end,
  sleep = function() monsta.sleep(600) return nil, "slept" end,
  http = function(opt) return http.request{url = opt.url} end,
  dns = function(opt) return dns.query(opt.dns, "example.org") end,
  exec = function() return monsta.exec{"sleep", "600"} end,
}
monsta.check_type{name = "block", description = "block in a builtin",
  options = {call = {help = "Call."}, port = {type = "port", help = "Port."}, url = {help = "URL."}, dns = {help = "Server."}},
  run = function(opt)
    local v, err = calls[opt.call](opt)
    return false, "returned: " .. tostring(err)
  end}`}, Config{AllowExec: true}, nil)
	for _, call := range []string{"receive", "sleep", "http", "dns", "exec"} {
		t.Run(call, func(t *testing.T) {
			c, o := fx.check(t, "block", map[string]string{"call": call, "port": loopback.PortString(silent),
				"url": hang.URL, "dns": udp.LocalAddr().String(), "timeout": "600"})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan runtime.CheckResult, 1)
			go func() { done <- runtime.RunCheck(ctx, c, o) }()
			time.AfterFunc(50*time.Millisecond, cancel) // the call is blocked by then, or will block at once
			select {
			case r := <-done:
				if r.OK || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "canceled") {
					t.Errorf("errors %q, want the run canceled", r.Errors)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the call went on 10 s after its run was canceled")
			}
		})
	}
}

// TestCompileIsBounded: a 1 MiB file of 120,000 constants (27-44 s to
// compile before) is refused by its size before it is parsed, and a file
// under the size limit whose one function has too many constants is
// refused before it is compiled, with its line.
func TestCompileIsBounded(t *testing.T) {
	var huge, many strings.Builder
	huge.WriteString("local t = {")
	for i := 0; huge.Len() < 1<<20; i++ {
		fmt.Fprintf(&huge, "%d,", i)
	}
	huge.WriteString("}\n")
	many.WriteString("local t = {\n")
	for i := 0; i < 40000; i++ {
		fmt.Fprintf(&many, "%d,", i)
		if i%1000 == 999 {
			many.WriteString("\n")
		}
	}
	many.WriteString("}\n")
	for _, tc := range []struct{ name, src, want string }{
		{"huge.lua", huge.String(), fmt.Sprintf("conf.d/huge.lua: file too large: %d bytes, more than 256 KiB (the limit of a .lua file)", huge.Len())},
		{"many.lua", many.String(), "conf.d/many.lua:7: function has more than 5000 constants"}, // the 5001st is on line 7
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDir(t, map[string]string{tc.name: tc.src})
			done := make(chan error, 1)
			go func() { _, err := Load(Config{Dir: dir}, runtime.NewRegistry()); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Load() error = %.300v, want %q", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Load did not return within 10 s")
			}
		})
	}
}

// TestLoadRefusesWhatIsNotARegularFile: a FIFO or a directory named *.lua
// is refused unread, with its name and kind, beside the other files'
// problems (a FIFO opened for reading would block the load forever).
func TestLoadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := writeDir(t, map[string]string{"ok.lua": "local x = 1\n"})
	if err := syscall.Mkfifo(filepath.Join(dir, "a-fifo.lua"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "b-dir.lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Load(Config{Dir: dir}, runtime.NewRegistry()); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Load did not return within 10 s")
	}
	want := "conf.d/a-fifo.lua: not a regular file (a named pipe); only regular files (or links to them) are read\n" +
		"conf.d/b-dir.lua: not a regular file (a directory); only regular files (or links to them) are read"
	if err == nil || err.Error() != want || !errors.Is(err, fileread.ErrNotRegular) {
		t.Errorf("Load() error = %v, want %q", err, want)
	}
}
