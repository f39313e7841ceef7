package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
)

// cpuTimes returns the user and system CPU time this process has used so
// far, over all its threads.
func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// vmRSS returns this process's resident set size in bytes, from
// /proc/self/status.
func vmRSS() (int64, error) { return procStatus("self", "VmRSS") }

// procStatus returns a memory line (VmRSS, VmHWM) of /proc/PID/status in
// bytes; pid is a number or "self".
func procStatus(pid, key string) (int64, error) {
	file := "/proc/" + pid + "/status"
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", file, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	prefix := []byte(key + ":")
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		f := bytes.Fields(line[len(prefix):])
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("parse %s line %q", key, line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s line %q: %w", key, line, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s line in %s", key, file)
}

// memSample is the memory of this process at one moment.
type memSample struct {
	RSS        int64 // VmRSS as it is, without forcing a collection
	RSSAfterGC int64 // VmRSS after runtime.GC and debug.FreeOSMemory
	Heap       int64 // live Go heap (HeapAlloc) after runtime.GC
	Stacks     int64 // goroutine stacks in use (StackInuse)
	HeapInuse  int64 // spans in use, fragmentation included
	RuntimeSys int64 // the runtime's own: GC metadata, spans, other
}

// sampleMemory reads the resident size as it is, then collects garbage,
// returns freed pages to the system and reads again.
func sampleMemory() (memSample, error) {
	var s memSample
	var err error
	if s.RSS, err = vmRSS(); err != nil {
		return s, err
	}
	goruntime.GC()
	debug.FreeOSMemory()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	s.Heap, s.Stacks = int64(ms.HeapAlloc), int64(ms.StackInuse)
	s.HeapInuse, s.RuntimeSys = int64(ms.HeapInuse), int64(ms.GCSys+ms.MSpanSys+ms.MCacheSys+ms.BuckHashSys+ms.OtherSys)
	if s.RSSAfterGC, err = vmRSS(); err != nil {
		return s, err
	}
	return s, nil
}

// raiseNofile raises the soft limit of open files to the hard limit (and
// the hard limit to want when allowed), and returns the soft limit now in
// force.
func raiseNofile(want uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return want
		}
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// machineCPU returns the busy time of all CPUs of the machine together,
// from the first line of /proc/stat (USER_HZ is 100 on Linux).
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, x := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(string(x), 10, 64)
		busy += n
	}
	return time.Duration(busy) * (time.Second / 100)
}

// procCPU returns the CPU time (user + system) process pid has used, from
// /proc/PID/stat; 0 when pid is 0 or unknown.
func procCPU(pid int) time.Duration {
	u, s := procTimes(pid)
	return u + s
}

// procTimes returns the user and system CPU time process pid has used,
// from /proc/PID/stat; 0 when pid is 0 or unknown.
func procTimes(pid int) (user, sys time.Duration) {
	if pid <= 0 {
		return 0, 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	// The command name in parentheses may hold spaces: count from after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0
	}
	f := bytes.Fields(data[i+1:])
	// Fields after the name start at field 3 (state); utime and stime are
	// fields 14 and 15.
	if len(f) < 13 {
		return 0, 0
	}
	u, _ := strconv.ParseInt(string(f[11]), 10, 64)
	s, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return time.Duration(u) * (time.Second / 100), time.Duration(s) * (time.Second / 100)
}

// window measures one stretch of time: the wall time, the CPU of this
// process (or of process pid), the listener's and what the rest of the
// machine used meanwhile.
type window struct {
	wall                   time.Time
	user, sys, busy, lstnr time.Duration
	listenerPID            int
	pid                    int // 0: this process
}

func startWindow(listenerPID int) window { return startPidWindow(0, listenerPID) }

// startPidWindow starts a window measuring process pid (0: this one).
func startPidWindow(pid, listenerPID int) window {
	w := window{wall: time.Now(), busy: machineCPU(), lstnr: procCPU(listenerPID), listenerPID: listenerPID, pid: pid}
	w.user, w.sys = w.times()
	return w
}

// times returns the measured process's user and system CPU time.
func (w window) times() (user, sys time.Duration) {
	if w.pid != 0 {
		return procTimes(w.pid)
	}
	return cpuTimes()
}

// windowResult is what a window measured.
type windowResult struct {
	WindowSeconds float64
	CPUSeconds    float64 // this process, user + system
	SysSeconds    float64 // the system part of CPUSeconds
	// ListenerCPUs is the average number of CPUs the listener process
	// kept busy during the window.
	ListenerCPUs float64
	// OtherCPUs is the average number of CPUs the rest of the machine (not
	// this process, not the listener) kept busy during the window; more
	// than a little means the timings were disturbed.
	OtherCPUs float64
	Load1     float64 // the 1-minute load average at the end
}

func (w window) end() windowResult {
	user, sys := w.times()
	busy, lst, now := machineCPU(), procCPU(w.listenerPID), time.Now()
	own := (user - w.user) + (sys - w.sys)
	r := windowResult{WindowSeconds: now.Sub(w.wall).Seconds(), CPUSeconds: own.Seconds(), SysSeconds: (sys - w.sys).Seconds()}
	if r.WindowSeconds > 0 {
		r.ListenerCPUs = (lst - w.lstnr).Seconds() / r.WindowSeconds
		r.OtherCPUs = max(0, ((busy-w.busy)-own-(lst-w.lstnr)).Seconds()/r.WindowSeconds)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := bytes.Fields(b); len(f) > 0 {
			r.Load1, _ = strconv.ParseFloat(string(f[0]), 64)
		}
	}
	return r
}
