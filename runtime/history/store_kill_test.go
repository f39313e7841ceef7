package history

import (
	"bufio"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// killChildEnv names the database a re-executed test binary writes as
// the child of TestKill9, and killTestEnv the test name it writes.
const (
	killChildEnv = "MONSTA_HISTORY_KILL_DB"
	killTestEnv  = "MONSTA_HISTORY_KILL_TEST"
	killBaseEnv  = "MONSTA_HISTORY_KILL_BASE"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(killChildEnv); path != "" {
		base, _ := strconv.ParseInt(os.Getenv(killBaseEnv), 10, 64)
		os.Exit(killChild(path, os.Getenv(killTestEnv), time.Unix(0, base)))
	}
	os.Exit(m.Run())
}

// killChild writes events and runs as fast as it can, and after each
// Sync prints the sequence number of the last event it knows committed;
// the parent kills it with SIGKILL at some point. Its events are at
// base+seq ns (base is near now: the writer prunes past the retention).
func killChild(path, test string, base time.Time) int {
	s, err := Open(path, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	const batch = 2000
	for seq := 0; ; {
		for range batch {
			k := Down
			if seq%2 == 1 {
				k = Up
			}
			s.Event(Event{Test: test, At: base.Add(time.Duration(seq)), Kind: k, Error: "failed " + strconv.Itoa(seq)})
			for c := range 4 {
				s.Result(Run{Test: fmt.Sprint(test, "-", c), At: base.Add(time.Duration(seq)), OK: c%2 == 0, Duration: time.Duration(seq) * time.Microsecond})
			}
			seq++
		}
		if err := s.Sync(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(seq - 1)
	}
}

// TestKill9 kills a writing child with SIGKILL 20 times, each after a
// different number of committed batches, and checks that the database
// passes integrity_check and holds every event the child knew committed.
func TestKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	base := time.Now().Truncate(time.Second)
	const rounds = 20
	for i := range rounds {
		test := fmt.Sprint("t", i)
		last := killOnce(t, path, test, base, 1+i%4)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		var ok string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("round %d: integrity_check = %q, %v", i, ok, err)
		}
		var n int
		err = db.QueryRow(`SELECT COUNT(*) FROM events e JOIN tests t ON t.id = e.test
			WHERE t.name = ? AND e.at <= ?`, test, base.Add(time.Duration(last)).UnixNano()).Scan(&n)
		_ = db.Close()
		if err != nil || n != last+1 {
			t.Fatalf("round %d: %d events up to the last committed one (%d), %v; want %d", i, n, last, err, last+1)
		}
	}
	s, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	ss, err := s.Sessions(base.Add(-24*time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(ss) != rounds {
		t.Fatalf("Sessions() = %d, %v, want %d", len(ss), err, rounds)
	}
	for _, se := range ss {
		if se.Clean {
			t.Errorf("session %v marked clean after a SIGKILL", se)
		}
	}
}

// killOnce runs one child on path, reads `batches` lines of committed
// sequence numbers, kills it and returns the last one it read.
func killOnce(t *testing.T, path, test string, base time.Time, batches int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path, killTestEnv+"="+test, killBaseEnv+"="+strconv.FormatInt(base.UnixNano(), 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	last := -1
	for range batches {
		if !sc.Scan() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child ended before committing: %v", sc.Err())
		}
		if last, err = strconv.Atoi(sc.Text()); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return last
}
