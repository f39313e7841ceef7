package journald

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestPrefixesAndNoTime(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	log := slog.New(NewHandler(&b, false, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Debug("d")
	log.Info("i", "k", "v")
	log.With("test", "www").Warn("w")
	log.WithGroup("g").Error("e", "k", 1)
	want := []string{
		`<7>level=DEBUG msg=d`,
		`<6>level=INFO msg=i k=v`,
		`<4>level=WARN msg=w test=www`,
		`<3>level=ERROR msg=e g.k=1`,
	}
	if got := strings.Split(strings.TrimSpace(b.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	slog.New(NewHandler(&b, true, nil)).Error("boom")
	if got := b.String(); got != "<3>{\"level\":\"ERROR\",\"msg\":\"boom\"}\n" {
		t.Errorf("log = %q", got)
	}
}

// Concurrent records never get each other's prefix.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	log := slog.New(NewHandler(&b, false, nil))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				if i%2 == 0 {
					log.Error("e")
				} else {
					log.Info("i")
				}
			}
		}()
	}
	wg.Wait()
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l != "<3>level=ERROR msg=e" && l != "<6>level=INFO msg=i" {
			t.Fatalf("bad line %q", l)
		}
	}
}

func TestNotJournalWithoutVariable(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	if StderrIsJournal() {
		t.Error("StderrIsJournal() = true without JOURNAL_STREAM")
	}
}
