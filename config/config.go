// Package config reads monsta's INI configuration: the main file, then every
// *.conf of the configuration directory in lexical order. It keeps the
// position (file and line) of every section and key, so that later stages can
// report problems as FILE:LINE: [Section] key: problem.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Pos is a place in a configuration file; Line is 1-based, 0 when unknown.
type Pos struct {
	File string
	Line int
}

// String renders the position as FILE:LINE, or FILE alone when the line is
// unknown (a file that cannot be read).
func (p Pos) String() string {
	if p.File == "" {
		return "(built-in)"
	}
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Key is one key=value of a section, with where it was last set.
type Key struct {
	Name  string
	Value string // comment removed, one-line values without outer quotes, lines joined by "\n"
	Raw   string // Value with its quotes kept, for options that read quotes themselves
	Pos   Pos    // the key's line
	More  []Line // the continuation lines, if the value has any
	text  string // the value on the key's own line
}

// Section is one [Name] section merged over all files.
type Section struct {
	Name string
	Pos  Pos // where the section was first opened
	keys []*Key
	idx  map[string]int
}

// Keys returns the keys of the section in the order they first appeared.
func (s *Section) Keys() []*Key { return s.keys }

// Key returns the key of that (lower-case) name.
func (s *Section) Key(name string) (*Key, bool) {
	i, ok := s.idx[strings.ToLower(name)]
	if !ok {
		return nil, false
	}
	return s.keys[i], true
}

// Value returns the key's value, or "" when the key is not set.
func (s *Section) Value(name string) string {
	if k, ok := s.Key(name); ok {
		return k.Value
	}
	return ""
}

func (s *Section) set(k *Key) {
	if s.idx == nil {
		s.idx = map[string]int{}
	}
	if i, ok := s.idx[k.Name]; ok {
		s.keys[i] = k
		return
	}
	s.idx[k.Name] = len(s.keys)
	s.keys = append(s.keys, k)
}

// Config is the merged configuration.
type Config struct {
	Files    []string // the files read, in order
	Warnings []*Error // problems that do not invalidate the configuration
	sections []*Section
	idx      map[string]int
}

// Sections returns every section in the order it first appeared.
func (c *Config) Sections() []*Section { return c.sections }

// Section returns the section of that exact name.
func (c *Config) Section(name string) (*Section, bool) {
	i, ok := c.idx[name]
	if !ok {
		return nil, false
	}
	return c.sections[i], true
}

func (c *Config) merge(secs []*Section) {
	if c.idx == nil {
		c.idx = map[string]int{}
	}
	for _, s := range secs {
		i, ok := c.idx[s.Name]
		if !ok {
			c.idx[s.Name] = len(c.sections)
			c.sections = append(c.sections, &Section{Name: s.Name, Pos: s.Pos})
			i = len(c.sections) - 1
		}
		for _, k := range s.keys {
			c.sections[i].set(k)
		}
	}
}

// Error is one problem at one place. Load and later validation stages return
// every problem at once, joined with errors.Join.
type Error struct {
	Pos     Pos
	Section string // without brackets; empty for file-level problems
	Key     string // empty for section-level problems
	Err     error
	Warning bool // reported, but does not make the configuration invalid
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Warning {
		b.WriteString("warning: ")
	}
	if e.Section != "" {
		fmt.Fprintf(&b, "[%s] ", e.Section)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error at pos.
func Errorf(pos Pos, section, key, format string, args ...any) *Error {
	return &Error{Pos: pos, Section: section, Key: key, Err: fmt.Errorf(format, args...)}
}

// Problems collects Errors; its Err method sorts them by position and joins
// the ones that are not warnings.
type Problems struct {
	List []*Error
}

// Add records a problem.
func (p *Problems) Add(e *Error) { p.List = append(p.List, e) }

// Addf records a problem built like Errorf.
func (p *Problems) Addf(pos Pos, section, key, format string, args ...any) {
	p.Add(Errorf(pos, section, key, format, args...))
}

// Warnf records a warning built like Errorf.
func (p *Problems) Warnf(pos Pos, section, key, format string, args ...any) {
	e := Errorf(pos, section, key, format, args...)
	e.Warning = true
	p.Add(e)
}

// Sorted returns every problem (warnings included) ordered by file and line.
func (p *Problems) Sorted() []*Error {
	out := append([]*Error(nil), p.List...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return out
}

// Warnings returns only the warnings, sorted.
func (p *Problems) Warnings() []*Error {
	var w []*Error
	for _, e := range p.Sorted() {
		if e.Warning {
			w = append(w, e)
		}
	}
	return w
}

// Err joins every problem that is not a warning, sorted by position; nil when
// there is none.
func (p *Problems) Err() error {
	var errs []error
	for _, e := range p.Sorted() {
		if !e.Warning {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// DefaultMaxFileSize is the largest configuration file Load reads: a
// larger file is almost certainly not a configuration (a log, an image, a
// device).
const DefaultMaxFileSize = 1 << 20

// LoadOptions tune Load.
type LoadOptions struct {
	// MaxFileSize is the largest file read, in bytes; 0 means
	// DefaultMaxFileSize.
	MaxFileSize int64
}

// Load is LoadWith with the default options.
func Load(mainFile, confDir string) (*Config, error) {
	return LoadWith(mainFile, confDir, LoadOptions{})
}

// LoadWith reads mainFile (it must exist) and then every *.conf file of
// confDir in lexical order (a missing confDir is fine). A later file adds
// sections and overrides keys of a section of the same name. Every problem
// of every file is returned at once, joined: syntax errors, and files that
// are not regular files or are larger than o.MaxFileSize.
func LoadWith(mainFile, confDir string, o LoadOptions) (*Config, error) {
	var probs Problems
	files := []string{mainFile}
	if confDir != "" {
		more, err := confFiles(confDir)
		if err != nil {
			probs.Add(err)
		}
		files = append(files, more...)
	}
	cfg := &Config{}
	for _, f := range files {
		data, err := ReadFile(f, o.MaxFileSize)
		if err != nil {
			probs.Add(&Error{Pos: Pos{File: f}, Err: err})
			continue
		}
		secs, warns, err := Parse(f, data)
		cfg.Warnings = append(cfg.Warnings, warns...)
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, x := range errs {
				ce, ok := x.(*Error)
				if !ok {
					ce = &Error{Pos: Pos{File: f}, Err: x}
				}
				probs.Add(ce)
			}
			continue
		}
		cfg.Files = append(cfg.Files, f)
		cfg.merge(secs)
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ErrFileTooLarge is returned (wrapped) by ReadFile for a file over its limit.
var ErrFileTooLarge = errors.New("file too large")

// ReadFile reads a file of the configuration (a .conf or a .lua) that must be
// a regular file of at most max bytes (0: DefaultMaxFileSize). Anything else
// (a FIFO, a device, a directory, a link to one of those) is refused without
// being read, so that it can neither block nor exhaust memory: the path is
// checked before it is opened, opened without blocking, and checked again
// through the open descriptor.
func ReadFile(path string, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFileSize
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", unwrapPath(err))
	}
	if err := regularFile(fi, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", unwrapPath(err))
	}
	defer f.Close()
	ofi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", unwrapPath(err))
	}
	if err := regularFile(ofi, max); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", unwrapPath(err))
	}
	if int64(len(data)) > max { // it grew since the check
		return nil, fmt.Errorf("%w: more than %s (the limit is set with --max-file-size)", ErrFileTooLarge, sizeText(max))
	}
	return data, nil
}

// regularFile refuses what ReadFile must not read.
func regularFile(fi fs.FileInfo, max int64) error {
	m := fi.Mode()
	if !m.IsRegular() {
		return fmt.Errorf("not a regular file (%s); only regular files (or links to them) are read", fileKind(m))
	}
	if fi.Size() > max {
		return fmt.Errorf("%w: %d bytes, more than %s (the limit is set with --max-file-size)", ErrFileTooLarge, fi.Size(), sizeText(max))
	}
	return nil
}

// fileKind names the kind of a file that is not regular.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.Type().String()
}

// sizeText renders a byte count, in MiB or KiB when it is a whole number of
// them.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// confFiles lists the *.conf entries of dir in lexical order; a missing dir
// has none. Other names (*.lua) are not configuration. An entry named *.conf
// that is not a regular file is listed all the same, so that reading it
// reports the problem instead of skipping the file in silence.
func confFiles(dir string) ([]string, *Error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &Error{Pos: Pos{File: dir}, Err: fmt.Errorf("list configuration directory: %w", unwrapPath(err))}
	}
	var files []string
	for _, e := range ents { // ReadDir sorts by name
		if strings.HasSuffix(e.Name(), ".conf") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Line is one continuation line of a value: its text (comment removed) and
// where it is.
type Line struct {
	Text string
	Pos  Pos
}

// Parse reads one file's content the way Python's ConfigParser, which the
// original monsta used, reads it. name is used in positions. It returns the
// sections in file order and the warnings, or every problem found, joined.
//
//   - Lines starting with # or ; (indented or not) are comments; so is the
//     rest of a value from a # or ; that follows a space or a tab (not one
//     that starts the value: recipient = #ops).
//   - A key line is NAME = VALUE or NAME: VALUE; names are case-insensitive.
//   - A line indented deeper than the key line before it continues that
//     key's value (blank and comment lines in between do not end it). The
//     lines are joined with "\n"; each keeps its own position (Key.More).
//   - A value on one line that is wholly in matching "double" or 'single'
//     quotes loses them (Key.Raw keeps them), and a # or ; inside such
//     quotes is not a comment.
func Parse(name string, data []byte) ([]*Section, []*Error, error) {
	var probs Problems
	var secs []*Section
	secIdx := map[string]int{}
	first := map[[2]string]int{} // section, key → line first set in this file
	const bad = "\x00bad"        // after a broken section header: skip its keys
	cur := ""
	var key *Key // the key that an indented line continues
	keyIndent := 0
	finish := func() {
		if key != nil {
			key.finish()
		}
		key = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Text()
		if line == 1 {
			raw = strings.TrimPrefix(raw, "\ufeff")
		}
		text := strings.TrimSpace(raw)
		pos := Pos{File: name, Line: line}
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		if strings.IndexByte(text, '\r') >= 0 {
			// ConfigParser would end the line there, an editor may not.
			probs.Addf(pos, displaySection(cur), "", "a carriage return (\\r) inside the line; lines end with \\n or \\r\\n")
			if text[0] == '[' {
				cur = bad
			}
			finish()
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
		if key != nil && indent > keyIndent {
			if v := strings.TrimSpace(cutComment(text, 0)); v != "" {
				key.More = append(key.More, Line{Text: v, Pos: pos})
			}
			continue
		}
		finish()
		switch {
		case text[0] == '[':
			end := strings.IndexByte(text, ']')
			if end < 0 {
				probs.Addf(pos, "", "", "section header %q has no closing ]", text)
				cur = bad
				continue
			}
			sec := strings.TrimSpace(text[1:end])
			if sec == "" {
				probs.Addf(pos, "", "", "empty section name")
				cur = bad
				continue
			}
			if rest := strings.TrimSpace(cutComment(text[end+1:], 0)); rest != "" && rest[0] != '#' && rest[0] != ';' {
				probs.Addf(pos, sec, "", "unexpected text %q after section header", rest)
			}
			cur = sec
			if _, ok := secIdx[sec]; !ok {
				secIdx[sec] = len(secs)
				secs = append(secs, &Section{Name: sec, Pos: pos})
			}
		default:
			i := strings.IndexAny(text, "=:")
			if i <= 0 {
				probs.Addf(pos, displaySection(cur), "", "expected key=value, found %q", text)
				continue
			}
			kn := strings.ToLower(strings.TrimSpace(text[:i]))
			switch {
			case cur == "":
				probs.Addf(pos, "", kn, "key outside of any [section]")
				continue
			case cur == bad:
				continue
			}
			v, err := readValue(text[i+1:])
			if err != nil {
				probs.Addf(pos, cur, kn, "%v", err)
				continue
			}
			key = &Key{Name: kn, Pos: pos, text: v}
			keyIndent = indent
			id := [2]string{cur, kn}
			if prev, ok := first[id]; ok {
				probs.Warnf(pos, cur, kn, "set again (first set at line %d); the last value wins", prev)
			} else {
				first[id] = line
			}
			secs[secIdx[cur]].set(key)
		}
	}
	finish()
	if err := sc.Err(); err != nil {
		probs.Addf(Pos{File: name, Line: line + 1}, "", "", "read: %v", err)
	}
	if err := probs.Err(); err != nil {
		return nil, nil, err
	}
	return secs, probs.Warnings(), nil
}

// readValue returns the value of a key line: the text after the delimiter
// without its comment and surrounding space. A # or ; that starts the value
// is part of it (recipient = #ops). A value that starts with a quote must
// close it on the same line.
func readValue(s string) (string, error) {
	t := strings.TrimLeft(s, " \t")
	from := 1
	if t != "" && (t[0] == '"' || t[0] == '\'') {
		end := strings.IndexByte(t[1:], t[0])
		if end < 0 {
			return "", fmt.Errorf("value starts with %c but has no closing %c (a quoted value cannot span lines)", t[0], t[0])
		}
		from = end + 2 // a comment can only start after the closing quote
	}
	return strings.TrimSpace(cutComment(t, from)), nil
}

// cutComment returns s up to an inline comment: a # or ; at from or later
// that follows a space or a tab.
func cutComment(s string, from int) string {
	for i := max(from, 1); i < len(s); i++ {
		if (s[i] == '#' || s[i] == ';') && (s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i]
		}
	}
	return s
}

// finish sets Value and Raw once every continuation line is known: the
// lines joined with "\n", and matching outer quotes removed from Value when
// the value is one line.
func (k *Key) finish() {
	if len(k.More) > 0 {
		parts := make([]string, 0, len(k.More)+1)
		if k.text != "" {
			parts = append(parts, k.text)
		}
		for _, l := range k.More {
			parts = append(parts, l.Text)
		}
		k.Raw = strings.Join(parts, "\n")
		k.Value = k.Raw
		return
	}
	k.Raw = k.text
	k.Value = k.text
	if v := k.text; len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && strings.IndexByte(v[1:], v[0]) == len(v)-2 {
		k.Value = v[1 : len(v)-1]
	}
}

// Lines returns every line of the value: the key's own (unless the value
// starts on the next line) and its continuation lines.
func (k *Key) Lines() []Line {
	if k.text == "" {
		return k.More
	}
	return append([]Line{{Text: k.text, Pos: k.Pos}}, k.More...)
}

// LineOf returns the position of the line of the key's value that holds
// text: the one line that has it as a word, else the one line that
// contains it. When no single line does, it returns the key's line.
func (k *Key) LineOf(text string) Pos {
	if len(k.More) == 0 || text == "" {
		return k.Pos
	}
	lines := k.Lines()
	isWord := func(l Line) bool { return slices.Contains(strings.Fields(l.Text), text) }
	contains := func(l Line) bool { return strings.Contains(l.Text, text) }
	for _, match := range []func(Line) bool{isWord, contains} {
		found, n := Pos{}, 0
		for _, l := range lines {
			if match(l) {
				found, n = l.Pos, n+1
			}
		}
		if n == 1 {
			return found
		}
		if n > 1 {
			return k.Pos
		}
	}
	return k.Pos
}

func displaySection(s string) string {
	if s == "\x00bad" {
		return ""
	}
	return s
}
