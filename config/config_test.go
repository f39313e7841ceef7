package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// dump renders what Parse returns, positions included, one line per item.
func dump(secs []*Section, warns []*Error, err error) string {
	var b strings.Builder
	for _, s := range secs {
		fmt.Fprintf(&b, "[%s] @%d\n", s.Name, s.Pos.Line)
		for _, k := range s.Keys() {
			fmt.Fprintf(&b, "  %s = %q @%d\n", k.Name, k.Value, k.Pos.Line)
			for _, l := range k.More {
				fmt.Fprintf(&b, "    + %q @%d\n", l.Text, l.Pos.Line)
			}
		}
	}
	for _, w := range warns {
		fmt.Fprintf(&b, "%s\n", w)
	}
	if err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			fmt.Fprintf(&b, "error: %s\n", e)
		}
	}
	return b.String()
}

// TestParseGolden parses every testdata/*.conf and compares the sections,
// keys, positions, warnings and errors with testdata/*.golden.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.conf: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".conf"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := dump(Parse(name, data))
			golden := strings.TrimSuffix(f, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Parse(%s) =\n%s\nwant (%s)\n%s", name, got, golden, want)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name, in, section, key, want string
	}{
		{"inline comment after space-hash", "[s]\nk = v # c\n", "s", "k", "v"},
		{"inline comment after space-semicolon", "[s]\nk = v ; c\n", "s", "k", "v"},
		{"hash inside a URL is kept", "[s]\nurl = http://h/p#frag\n", "s", "url", "http://h/p#frag"},
		{"semicolon without space is kept", "[s]\nk = a;b\n", "s", "k", "a;b"},
		{"key names are case-insensitive", "[s]\nHoSt = x\n", "s", "HOST", "x"},
		{"colon delimiter", "[s]\nk: v\n", "s", "k", "v"},
		{"empty value", "[s]\nk =\n", "s", "k", ""},
		{"spaces around a section name", "[ s ]\nk = v\n", "s", "k", "v"},
		{"comment after a section header", "[s] # c\nk = v\n", "s", "k", "v"},
		{"the last value of a file wins", "[s]\nk = 1\nK = 2\n", "s", "k", "2"},
		{"no backslash continuation", "[s]\nk = a\\\n", "s", "k", `a\`},
		{"tab before an inline comment", "[s]\nk = v\t# c\n", "s", "k", "v"},
		{"tab before a semicolon comment", "[s]\nk = v\t; c\n", "s", "k", "v"},
		{"a value may start with a hash", "[s]\nrecipient = #ops # the channel\n", "s", "recipient", "#ops"},
		{"hash glued to the delimiter is kept", "[s]\nk =#c\n", "s", "k", "#c"},
		{"outer double quotes removed", "[s]\nrequiredanswers=\"v=spf1 mx -all\"\n", "s", "requiredanswers", "v=spf1 mx -all"},
		{"outer single quotes removed", "[s]\nk = 'a b' ; c\n", "s", "k", "a b"},
		{"a comment inside quotes is kept", "[s]\nk = \"a # b\"\n", "s", "k", "a # b"},
		{"two quoted words keep their quotes", "[s]\nk = \"a\" \"b\"\n", "s", "k", `"a" "b"`},
		{"one quote character is text", "[s]\nk = it's\n", "s", "k", "it's"},
		{"continuation lines joined", "[s]\nk = a\n  b\n\n  c\n", "s", "k", "a\nb\nc"},
		{"continuation of an empty value", "[s]\nk =\n  a\n  b\n", "s", "k", "a\nb"},
		{"continuation keeps its quotes", "[s]\nk = \"a\"\n  b\n", "s", "k", "\"a\"\nb"},
		{"same indent is a new key", "[s]\n  k = a\n  j = b\n", "s", "k", "a"},
		// ini.v1 reads these in its own syntax (iniText).
		{"semicolon comment before a hash comment", "[s]\nk = a ;b #c\n", "s", "k", "a"},
		{"tab then semicolon before a hash", "[s]\nk = a\t;b #c\n", "s", "k", "a"},
		{"a semicolon inside quotes is kept", "[s]\nk = \"a ; b\" ; c\n", "s", "k", "a ; b"},
		{"a tab and hash inside quotes are kept", "[s]\nk = 'a\t# b'\n", "s", "k", "a\t# b"},
		{"a backslash before a hash is kept", "[s]\nk = a\\#b\n", "s", "k", `a\#b`},
		{"a backslash before a semicolon is kept", "[s]\nk = a \\;b\n", "s", "k", `a \;b`},
		{"two backslashes before a hash are kept", "[s]\nk = a\\\\#b # c\n", "s", "k", `a\\#b`},
		{"a backslash and hash inside quotes are kept", "[s]\nk = \"a \\# b\"\n", "s", "k", `a \# b`},
		{"a value may start with a backtick", "[s]\nk = `date` # c\n", "s", "k", "`date`"},
		{"a lone backtick", "[s]\nk = `\n", "s", "k", "`"},
		{"a value may start with three quotes", "[s]\nk = \"\"\"a\"\"\" ; c\nj = 2\n", "s", "k", `"""a"""`},
		{"three quotes do not swallow the next key", "[s]\nk = \"\"\"a\nj = 2\n", "s", "j", "2"},
		{"a backtick does not swallow the next key", "[s]\nk = `a\nj = 2\n", "s", "j", "2"},
		{"a continuation line with a backslash and hash", "[s]\nk = a\n  b\\#c ; d\n", "s", "k", "a\nb\\#c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secs, _, err := Parse("t.conf", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			for _, s := range secs {
				if s.Name == tt.section {
					if got := s.Value(tt.key); got != tt.want {
						t.Errorf("[%s] %s = %q, want %q", tt.section, tt.key, got, tt.want)
					}
					return
				}
			}
			t.Errorf("Parse() has no section %q", tt.section)
		})
	}
}

func TestParseSectionNamesAreCaseSensitive(t *testing.T) {
	secs, _, err := Parse("t.conf", []byte("[Check_a]\nk = 1\n[check_a]\nk = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 || secs[0].Name != "Check_a" || secs[1].Name != "check_a" {
		t.Fatalf("Parse() sections = %v, want Check_a and check_a", dump(secs, nil, nil))
	}
}

// TestParseReportsEverySyntaxError wants each broken line reported with its
// file:line, in one error.
func TestParseReportsEverySyntaxError(t *testing.T) {
	in := "k = outside\n[ok]\nno equals here\n[broken\nk = v\n[fine]\n= v\n"
	_, _, err := Parse("conf.d/x.conf", []byte(in))
	want := []string{
		"conf.d/x.conf:1: k: key outside of any [section]",
		`conf.d/x.conf:3: [ok] expected key=value, found "no equals here"`,
		`conf.d/x.conf:4: section header "[broken" has no closing ]`,
		`conf.d/x.conf:7: [fine] expected key=value, found "= v"`,
	}
	if err == nil {
		t.Fatal("Parse() error = nil, want four errors")
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Parse() error =\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Pos.Line != 1 {
		t.Errorf("errors.As(*Error) = %v, want the first error at line 1", ce)
	}
}

func TestLoadMerge(t *testing.T) {
	cfg, err := Load("testdata/merge/monsta.conf", "testdata/merge/conf.d")
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	wantFiles := []string{"testdata/merge/monsta.conf", "testdata/merge/conf.d/10-web.conf",
		"testdata/merge/conf.d/20-later.conf"}
	if strings.Join(cfg.Files, " ") != strings.Join(wantFiles, " ") {
		t.Errorf("Files = %v, want %v (lexical, *.conf only)", cfg.Files, wantFiles)
	}
	if got, want := names(cfg.Sections(), func(s *Section) string { return s.Name }), "main Check_web Test_web Check_ssh"; got != want {
		t.Errorf("Sections() = %s, want %s", got, want)
	}
	web, ok := cfg.Section("Check_web")
	if !ok {
		t.Fatal("no [Check_web]")
	}
	if got, want := web.Pos.String(), "testdata/merge/monsta.conf:5"; got != want {
		t.Errorf("[Check_web] Pos = %s, want %s (where it was first opened)", got, want)
	}
	tests := []struct {
		section, key, value, pos string
	}{
		{"Check_web", "type", "portconnect", "testdata/merge/monsta.conf:6"},
		{"Check_web", "port", "8081", "testdata/merge/conf.d/20-later.conf:2"},
		{"Check_web", "expect", "HTTP", "testdata/merge/conf.d/10-web.conf:3"},
		{"Check_web", "timeout", "10", "testdata/merge/monsta.conf:9"},
		{"main", "user", "monsta", "testdata/merge/conf.d/20-later.conf:5"},
		{"main", "daemonize", "0", "testdata/merge/monsta.conf:2"},
		{"Check_ssh", "port", "22", "testdata/merge/conf.d/10-web.conf:8"},
	}
	for _, tt := range tests {
		s, ok := cfg.Section(tt.section)
		if !ok {
			t.Errorf("no section [%s]", tt.section)
			continue
		}
		k, ok := s.Key(tt.key)
		if !ok {
			t.Errorf("[%s] has no key %s", tt.section, tt.key)
			continue
		}
		if k.Value != tt.value || k.Pos.String() != tt.pos {
			t.Errorf("[%s] %s = %q at %s, want %q at %s", tt.section, tt.key, k.Value, k.Pos, tt.value, tt.pos)
		}
	}
	// An overridden key keeps its place in the section's key order.
	if got, want := names(web.Keys(), func(k *Key) string { return k.Name }), "type host port timeout expect"; got != want {
		t.Errorf("[Check_web] keys = %s, want %s", got, want)
	}
	if _, ok := cfg.Section("Check_lua"); ok {
		t.Error("[Check_lua] from hooks.lua was read; *.lua files are not configuration")
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("Warnings = %v, want none (overriding in a later file is not a warning)", cfg.Warnings)
	}
}

// names returns the name of each item of list, space-separated.
func names[T any](list []T, name func(T) string) string {
	var out []string
	for _, x := range list {
		out = append(out, name(x))
	}
	return strings.Join(out, " ")
}

// writeFiles creates files (name → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		main      string // relative to the temp dir
		confDir   string
		wantErr   []string // every line of the error, %s is the temp dir
		wantWarn  []string
		wantFiles int  // files read, also with an error
		wantNil   bool // no configuration with the error
	}{
		{
			name:  "errors of every file at once, sorted",
			files: map[string]string{"monsta.conf": "[main]\noops\n", "conf.d/a.conf": "[Check_a]\nk = 1\nbad\n", "conf.d/b.conf": "[x\n"},
			main:  "monsta.conf", confDir: "conf.d",
			wantErr: []string{
				`%s/conf.d/a.conf:3: [Check_a] expected key=value, found "bad"`,
				`%s/conf.d/b.conf:1: section header "[x" has no closing ]`,
				`%s/monsta.conf:2: [main] expected key=value, found "oops"`,
			},
			wantFiles: 3,
		},
		{
			name: "missing main file", files: map[string]string{"conf.d/a.conf": "[a]\nk = v\n"},
			main: "monsta.conf", confDir: "conf.d",
			wantErr: []string{"%s/monsta.conf: read configuration: no such file or directory"},
			wantNil: true,
		},
		{
			name: "missing conf dir is fine", files: map[string]string{"monsta.conf": "[main]\n"},
			main: "monsta.conf", confDir: "conf.d", wantFiles: 1,
		},
		{
			name: "no conf dir", files: map[string]string{"monsta.conf": "[main]\n"},
			main: "monsta.conf", wantFiles: 1,
		},
		{
			name: "conf dir is a file", files: map[string]string{"monsta.conf": "[main]\n", "conf.d": "x"},
			main: "monsta.conf", confDir: "conf.d",
			wantErr:   []string{"%s/conf.d: list configuration directory: not a directory"},
			wantFiles: 1,
		},
		{
			name: "other files in conf dir are skipped",
			files: map[string]string{"monsta.conf": "[main]\n", "conf.d/sub/x.conf": "[a]\nk=1\n",
				"conf.d/x.lua": "bad", "conf.d/x.conf.orig": "bad", "conf.d/ok.conf": "[b]\nk=1\n"},
			main: "monsta.conf", confDir: "conf.d", wantFiles: 2,
		},
		{
			name: "a directory named *.conf is an error",
			files: map[string]string{"monsta.conf": "[main]\n", "conf.d/sub.conf/x.conf": "[a]\nk=1\n",
				"conf.d/ok.conf": "[b]\nk=1\n"},
			main: "monsta.conf", confDir: "conf.d",
			wantErr:   []string{"%s/conf.d/sub.conf: not a regular file (a directory); only regular files (or links to them) are read"},
			wantFiles: 2,
		},
		{
			name: "a file over 1 MiB is an error",
			files: map[string]string{"monsta.conf": "[main]\n", "conf.d/big.conf": "[a]\n" + strings.Repeat("# padding\n", 1<<17),
				"conf.d/ok.conf": "[b]\nk=1\n"},
			main: "monsta.conf", confDir: "conf.d",
			wantErr:   []string{"%s/conf.d/big.conf: file too large: 1310724 bytes, more than 1 MiB (the limit is set with --max-file-size)"},
			wantFiles: 2,
		},
		{
			name:  "a file of exactly 1 MiB is fine",
			files: map[string]string{"monsta.conf": "[main]\n", "conf.d/big.conf": "[a]\n" + strings.Repeat("#", 1<<20-5) + "\n"},
			main:  "monsta.conf", confDir: "conf.d", wantFiles: 2,
		},
		{
			name:  "duplicate key in one file is a warning",
			files: map[string]string{"monsta.conf": "[main]\nuser = a\nuser = b\n"},
			main:  "monsta.conf", wantFiles: 1,
			wantWarn: []string{"%s/monsta.conf:3: warning: [main] user: set again (first set at line 2); the last value wins"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			confDir := ""
			if tt.confDir != "" {
				confDir = filepath.Join(dir, tt.confDir)
			}
			cfg, err := Load(filepath.Join(dir, tt.main), confDir)
			if tt.wantErr != nil {
				want := strings.ReplaceAll(strings.Join(tt.wantErr, "\n"), "%s", dir)
				if err == nil || err.Error() != want {
					t.Fatalf("Load() error =\n%v\nwant\n%s", err, want)
				}
				checkPartial(t, cfg, err, tt.wantNil, tt.wantFiles)
				return
			}
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if len(cfg.Files) != tt.wantFiles {
				t.Errorf("Files = %v, want %d files", cfg.Files, tt.wantFiles)
			}
			var warns []string
			for _, w := range cfg.Warnings {
				warns = append(warns, w.Error())
			}
			want := strings.ReplaceAll(strings.Join(tt.wantWarn, "\n"), "%s", dir)
			if got := strings.Join(warns, "\n"); got != want {
				t.Errorf("Warnings =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// checkPartial wants the configuration Load returned with err: nil when
// wantNil, else files files read and err's problems in Errors.
func checkPartial(t *testing.T, cfg *Config, err error, wantNil bool, files int) {
	t.Helper()
	if wantNil || cfg == nil {
		if !wantNil || cfg != nil {
			t.Errorf("Load() config = %v, want nil: %v", cfg, wantNil)
		}
		return
	}
	var errs []string
	for _, e := range cfg.Errors {
		errs = append(errs, e.Error())
	}
	if strings.Join(errs, "\n") != err.Error() || len(cfg.Files) != files {
		t.Errorf("Load() config has Errors\n%s\nand %d files; want\n%v\nand %d", strings.Join(errs, "\n"), len(cfg.Files), err, files)
	}
}

// TestLoadKeepsWhatCouldBeRead: a syntax error in one file does not hide
// the other files, nor the lines of its own file that could be read, so
// that later stages report their problems with it (issue 23, item 11).
func TestLoadKeepsWhatCouldBeRead(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"monsta.conf":   "[main]\nuser = a\n",
		"conf.d/a.conf": "[Check_a]\ntype = portconnect\nno equals\nport = 22\n[broken\nk = v\n[Test_a]\nchecks = a\n",
		"conf.d/b.conf": "[Check_b]\ntype = script\n",
	})
	cfg, err := Load(filepath.Join(dir, "monsta.conf"), filepath.Join(dir, "conf.d"))
	if err == nil || cfg == nil || len(cfg.Errors) != 2 {
		t.Fatalf("Load() = %v, %v; want the configuration and two errors", cfg, err)
	}
	got := names(cfg.Sections(), func(s *Section) string {
		return s.Name + "{" + names(s.Keys(), func(k *Key) string { return k.Name + "=" + k.Value }) + "}"
	})
	want := "main{user=a} Check_a{type=portconnect port=22} Test_a{checks=a} Check_b{type=script}"
	if got != want {
		t.Errorf("sections = %s, want %s", got, want)
	}
}

// TestLoadRefusesOddFiles: a FIFO named x.conf used to hang Load, and a
// .conf linked to /dev/zero exhausted memory. Both are errors naming the
// file, reported with the problems of the other files.
func TestLoadRefusesOddFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"monsta.conf": "[main]\n", "conf.d/b.conf": "[x\n"})
	if err := syscall.Mkfifo(filepath.Join(dir, "conf.d", "a-fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "conf.d", "c-zero.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b.conf", filepath.Join(dir, "conf.d", "d-link.conf")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(filepath.Join(dir, "monsta.conf"), filepath.Join(dir, "conf.d"))
	want := strings.ReplaceAll(`%s/conf.d/a-fifo.conf: not a regular file (a named pipe); only regular files (or links to them) are read
%s/conf.d/b.conf:1: section header "[x" has no closing ]
%s/conf.d/c-zero.conf: not a regular file (a character device); only regular files (or links to them) are read
%s/conf.d/d-link.conf:1: section header "[x" has no closing ]`, "%s", dir)
	if err == nil || err.Error() != want {
		t.Fatalf("Load() error =\n%v\nwant\n%s", err, want)
	}
}

// TestLoadWithMaxFileSize: the size limit can be raised, and lowered.
func TestLoadWithMaxFileSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := "[Check_a]\n" + strings.Repeat("# padding\n", 1<<17)
	writeFiles(t, dir, map[string]string{"monsta.conf": "[main]\nuser = x\n", "conf.d/big.conf": big})
	cfg, err := LoadWith(filepath.Join(dir, "monsta.conf"), filepath.Join(dir, "conf.d"), LoadOptions{MaxFileSize: 2 << 20})
	if err != nil || len(cfg.Files) != 2 {
		t.Fatalf("LoadWith(2 MiB) = %v, %v; want both files read", cfg, err)
	}
	_, err = LoadWith(filepath.Join(dir, "monsta.conf"), "", LoadOptions{MaxFileSize: 10})
	want := filepath.Join(dir, "monsta.conf") + ": file too large: 16 bytes, more than 10 bytes (the limit is set with --max-file-size)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrFileTooLarge) {
		t.Fatalf("LoadWith(10 bytes) error = %v, want %s", err, want)
	}
}

func TestPosString(t *testing.T) {
	tests := []struct {
		pos  Pos
		want string
	}{
		{Pos{}, "(built-in)"},
		{Pos{File: "monsta.conf"}, "monsta.conf"},
		{Pos{File: "conf.d/a.conf", Line: 12}, "conf.d/a.conf:12"},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.pos, got, tt.want)
		}
	}
}

// FuzzParse feeds Parse arbitrary files. It must never panic, and what it
// returns must be consistent: every error and key has a line inside the
// file, key names are lower case, every line of a value has its own
// position.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.conf")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		secs, warns, err := Parse("f.conf", data)
		lines := bytes.Count(data, []byte("\n")) + 1
		inFile := func(p Pos) bool { return p.File == "f.conf" && p.Line >= 1 && p.Line <= lines }
		if err != nil {
			checkParseError(t, secs, warns, err, inFile)
			return
		}
		for _, w := range warns {
			if !w.Warning || !inFile(w.Pos) {
				t.Fatalf("warning %q: not a warning with a line in the file", w)
			}
		}
		seen := map[string]bool{}
		for _, s := range secs {
			if s.Name == "" || seen[s.Name] || !inFile(s.Pos) {
				t.Fatalf("section %q at %v: empty, repeated or outside the file", s.Name, s.Pos)
			}
			seen[s.Name] = true
			for _, k := range s.Keys() {
				checkParsedKey(t, s, k, inFile)
			}
		}
		roundTrip(t, secs)
	})
}

// checkParseError wants a failed Parse to return nothing but a joined error
// of *Error, each with a line in the file.
func checkParseError(t *testing.T, secs []*Section, warns []*Error, err error, inFile func(Pos) bool) {
	t.Helper()
	if secs != nil || warns != nil {
		t.Fatalf("Parse() returned sections or warnings with an error")
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Parse() error %T is not joined", err)
	}
	for _, e := range j.Unwrap() {
		ce, ok := e.(*Error)
		if !ok || !inFile(ce.Pos) || ce.Warning {
			t.Fatalf("Parse() error %q (%T) has no line in the file", e, e)
		}
		_ = ce.Error()
	}
}

// checkParsedKey wants k, a key of s, to have a lower-case name, a line in
// the file after its section's, a continuation line per line of its value,
// each with its own later line, and to be found by s.Key.
func checkParsedKey(t *testing.T, s *Section, k *Key, inFile func(Pos) bool) {
	t.Helper()
	if k.Name == "" || k.Name != strings.ToLower(k.Name) || !inFile(k.Pos) || k.Pos.Line <= s.Pos.Line {
		t.Fatalf("[%s] key %q at %v: empty, not lower case or misplaced", s.Name, k.Name, k.Pos)
	}
	if strings.Contains(k.Value, "\r") || strings.Count(k.Raw, "\n") > len(k.More) ||
		(len(k.More) == 0 && strings.Contains(k.Raw, "\n")) {
		t.Fatalf("[%s] %s = %q: lines do not match its %d continuation lines", s.Name, k.Name, k.Raw, len(k.More))
	}
	prev := k.Pos.Line
	for _, l := range k.More {
		if !inFile(l.Pos) || l.Pos.Line <= prev || l.Text == "" || strings.ContainsAny(l.Text, "\r\n") {
			t.Fatalf("[%s] %s: continuation %q at %v misplaced or empty", s.Name, k.Name, l.Text, l.Pos)
		}
		prev = l.Pos.Line
		if got := k.LineOf(l.Text); got != l.Pos && strings.Count(k.Raw, l.Text) == 1 {
			t.Fatalf("[%s] %s: LineOf(%q) = %v, want %v", s.Name, k.Name, l.Text, got, l.Pos)
		}
	}
	if got, ok := s.Key(k.Name); !ok || got != k {
		t.Fatalf("[%s] Key(%q) does not find the key", s.Name, k.Name)
	}
}

// roundTrip writes plain sections back as INI and wants Parse to read the
// same back; sections or keys with quotes, comment or delimiter characters
// are left out.
func roundTrip(t *testing.T, secs []*Section) {
	plain := func(s string) bool {
		return s != "" && strings.TrimSpace(s) == s && !strings.ContainsAny(s, "\"'`#;=:[]\x00") &&
			!strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x85 || r == 0xa0 || r == 0xfeff })
	}
	var b strings.Builder
	want := map[[2]string]string{}
	for _, s := range secs {
		if !plain(s.Name) {
			continue
		}
		fmt.Fprintf(&b, "[%s]\n", s.Name)
		for _, k := range s.Keys() {
			if plain(k.Name) && (k.Value == "" || plain(k.Value)) {
				fmt.Fprintf(&b, "%s = %s\n", k.Name, k.Value)
				want[[2]string{s.Name, k.Name}] = k.Value
			}
		}
	}
	again, _, err := Parse("again.conf", []byte(b.String()))
	if err != nil {
		t.Fatalf("Parse(rendered) error = %v for\n%s", err, b.String())
	}
	got := map[[2]string]string{}
	for _, s := range again {
		for _, k := range s.Keys() {
			got[[2]string{s.Name, k.Name}] = k.Value
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("round trip of\n%s\ngot %v, want %v", b.String(), got, want)
	}
}

func TestParseLineTooLong(t *testing.T) {
	in := "[s]\nk = 1\nlong = " + strings.Repeat("x", 2<<20) + "\n"
	_, _, err := Parse("big.conf", []byte(in))
	if err == nil || !strings.HasPrefix(err.Error(), "big.conf:3: read: ") {
		t.Fatalf("Parse() error = %v, want one at big.conf:3", err)
	}
}

// BenchmarkParse10k parses a file of 10,000 checks and tests (five keys
// each), the size of the daemon's benchmark configuration.
func BenchmarkParse10k(b *testing.B) {
	var buf bytes.Buffer
	for i := range 10000 {
		fmt.Fprintf(&buf, "[Check_c%d]\ntype = portconnect\nhost = 127.0.0.%d\nport = %d\ntimeout = 2\nexpect = 220 ; banner\n\n",
			i, 1+i%4, 1024+i)
		fmt.Fprintf(&buf, "[Test_t%d]\nchecks = c%d\ninterval = 10\nnotify = 1:log\n\n", i, i)
	}
	data := buf.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse("big.conf", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseCarriageReturnInsideALine: ConfigParser ends a line at a lone \r,
// an editor may show it inside the line; either way the value is not what
// it looks like, so it is an error at that line.
func TestParseCarriageReturnInsideALine(t *testing.T) {
	_, _, err := Parse("cr.conf", []byte("[s]\r\nk = a\r\nj = b\rc\r\n"))
	want := `cr.conf:3: [s] a carriage return (\r) inside the line; lines end with \n or \r\n`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse() error = %v, want %s", err, want)
	}
}

// TestParseLargeSection: a section of more keys than it searches in order
// gets an index; lookups, overrides in place and "set again" warnings (with
// the first line, also when a key is set a third time) behave the same on
// both sides of that size.
func TestParseLargeSection(t *testing.T) {
	for _, n := range []int{smallSection - 1, smallSection, smallSection + 1, 3 * smallSection} {
		var b strings.Builder
		b.WriteString("[s]\n")
		for i := range n {
			fmt.Fprintf(&b, "K%02d = %d\n", i, i)
		}
		b.WriteString("k00 = again\nk00 = last\n") // lines n+2 and n+3
		secs, warns, err := Parse("big.conf", []byte(b.String()))
		if err != nil {
			t.Fatalf("n=%d: Parse() error = %v", n, err)
		}
		s := secs[0]
		if len(s.Keys()) != n {
			t.Errorf("n=%d: %d keys, want %d", n, len(s.Keys()), n)
		}
		for i := 1; i < n; i++ {
			k, ok := s.Key(fmt.Sprintf("K%02d", i))
			if !ok || k.Value != strconv.Itoa(i) || k.Pos.Line != i+2 {
				t.Errorf("n=%d: Key(K%02d) = %+v, %v; want %d at line %d", n, i, k, ok, i, i+2)
			}
		}
		if k, _ := s.Key("k00"); k == nil || k.Value != "last" || s.Keys()[0] != k {
			t.Errorf("n=%d: k00 = %+v, want the last value in the first place", n, k)
		}
		if _, ok := s.Key("nope"); ok {
			t.Errorf("n=%d: Key(nope) found", n)
		}
		want := fmt.Sprintf("big.conf:%d: warning: [s] k00: set again (first set at line 2); the last value wins", n+3)
		if len(warns) != 2 || warns[1].Error() != want {
			t.Errorf("n=%d: warnings = %v, want two, the last %q", n, warns, want)
		}
	}
}

// TestReadAllInParallel: parsed in parallel, files come back in their
// order with the same sections, warnings and errors as one after the
// other.
func TestReadAllInParallel(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 12 {
		body := fmt.Sprintf("[Check_c%d]\ntype = portconnect\nhost = h%d\nhost = again\n", i, i)
		if i == 5 {
			body += "oops\n"
		}
		f := filepath.Join(dir, fmt.Sprintf("%02d.conf", i))
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	files = append(files, filepath.Join(dir, "missing.conf"))
	render := func(rs []parsed) string {
		var b strings.Builder
		for i, r := range rs {
			fmt.Fprintf(&b, "%d: %v %v %v", i, r.readErr, r.errs, r.warns)
			for _, s := range r.secs {
				fmt.Fprintf(&b, " [%s]", s.Name)
				for _, k := range s.Keys() {
					fmt.Fprintf(&b, " %s=%s@%v", k.Name, k.Value, k.Pos)
				}
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	seq, par := render(readAll(files, 0, 1<<62)), render(readAll(files, 0, 0))
	if seq != par {
		t.Errorf("in parallel:\n%s\none after the other:\n%s", par, seq)
	}
	if !strings.Contains(seq, "00.conf:4") || !strings.Contains(seq, "expected key=value") || !strings.Contains(seq, "no such file") {
		t.Errorf("results lack a warning, an error or a read error:\n%s", seq)
	}
}
