package logfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReopenAfterRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "monsta.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write([]byte("one\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("two\n"))
	if err := l.Reopen(); err != nil {
		t.Fatalf("Reopen() error = %v", err)
	}
	l.Write([]byte("three\n"))
	if b, _ := os.ReadFile(path + ".1"); string(b) != "one\ntwo\n" {
		t.Errorf("rotated file = %q, want one and two", b)
	}
	if b, _ := os.ReadFile(path); string(b) != "three\n" {
		t.Errorf("new file = %q, want three", b)
	}
}

func TestReopenFailureKeepsWriting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, "logs")
	os.Mkdir(sub, 0o755)
	path := filepath.Join(sub, "monsta.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Rename(sub, filepath.Join(dir, "gone"))
	if err := l.Reopen(); err == nil {
		t.Fatal("Reopen() into a missing directory succeeded")
	}
	if _, err := l.Write([]byte("still\n")); err != nil {
		t.Errorf("Write() after a failed Reopen error = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "gone", "monsta.log")); string(b) != "still\n" {
		t.Errorf("old file = %q", b)
	}
}

func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	l, err := Open(filepath.Join(t.TempDir(), "x.log"))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := l.Write([]byte("x")); err == nil {
		t.Error("Write() after Close succeeded")
	}
}
