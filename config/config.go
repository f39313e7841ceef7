// Package config reads monsta's INI configuration: the main file, then every
// *.conf of the configuration directory in lexical order. It keeps the
// position (file and line) of every section and key, so that later stages can
// report problems as FILE:LINE: [Section] key: problem.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"gopkg.in/ini.v1"

	"github.com/monsta/monsta/internal/fileread"
	"github.com/monsta/monsta/internal/textx"
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
}

// Section is one [Name] section merged over all files.
type Section struct {
	Name string
	Pos  Pos // where the section was first opened
	keys []*Key
	// idx indexes keys once there are more than smallSection of them; a
	// section of a few keys is searched in order, which is faster than a
	// map and, at 100,000 sections, saves the memory of 100,000 maps.
	idx map[string]int
}

// smallSection is the most keys a Section searches without an index.
const smallSection = 8

// ReleaseKeys drops the section's keys, for a consumer that has resolved
// it and will not read it again: a configuration of 100,000 sections can
// then be let go section by section. The section keeps its name and
// position; it has no keys afterwards.
func (s *Section) ReleaseKeys() { s.keys, s.idx = nil, nil }

// Keys returns the keys of the section in the order they first appeared.
func (s *Section) Keys() []*Key { return s.keys }

// Key returns the key of that (lower-case) name.
func (s *Section) Key(name string) (*Key, bool) {
	i := s.index(strings.ToLower(name))
	if i < 0 {
		return nil, false
	}
	return s.keys[i], true
}

// index returns the position in keys of the key of that lower-case name,
// or -1.
func (s *Section) index(name string) int {
	if s.idx != nil {
		if i, ok := s.idx[name]; ok {
			return i
		}
		return -1
	}
	for i, k := range s.keys {
		if k.Name == name {
			return i
		}
	}
	return -1
}

// Value returns the key's value, or "" when the key is not set.
func (s *Section) Value(name string) string {
	if k, ok := s.Key(name); ok {
		return k.Value
	}
	return ""
}

func (s *Section) set(k *Key) {
	if i := s.index(k.Name); i >= 0 {
		s.keys[i] = k
		return
	}
	s.keys = append(s.keys, k)
	switch {
	case s.idx != nil:
		s.idx[k.Name] = len(s.keys) - 1
	case len(s.keys) > smallSection:
		s.idx = make(map[string]int, len(s.keys))
		for i, k := range s.keys {
			s.idx[k.Name] = i
		}
	}
}

// Config is the merged configuration.
type Config struct {
	Files    []string // the files read, in order
	Warnings []*Error // problems that do not invalidate the configuration
	// Errors are the problems of the files that LoadWith returned with
	// the configuration (syntax errors, unreadable files): the
	// configuration is invalid, but what could be read is there, so that
	// the next stages can report their problems with these, all at once.
	Errors   []*Error
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
			// The file's section is the configuration's: nothing else
			// holds it once the file is parsed.
			c.idx[s.Name] = len(c.sections)
			c.sections = append(c.sections, s)
			continue
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
	for _, e := range p.errors() {
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// errors returns the problems that are not warnings, sorted.
func (p *Problems) errors() []*Error {
	var errs []*Error
	for _, e := range p.Sorted() {
		if !e.Warning {
			errs = append(errs, e)
		}
	}
	return errs
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
//
// With an error, the configuration is returned too, unless mainFile
// cannot be read: it holds what the files that could be read say (the
// lines of a file with a syntax error that could be read included), and
// the problems in Errors, so that a later stage reports its own problems
// with them instead of after they are mended.
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
	results := readAll(files, o.MaxFileSize, parallelParse)
	for i, r := range results {
		if r.readErr != nil {
			probs.Add(&Error{Pos: Pos{File: files[i]}, Err: r.readErr})
			continue
		}
		cfg.Warnings = append(cfg.Warnings, r.warns...)
		probs.List = append(probs.List, r.errs...)
		cfg.Files = append(cfg.Files, files[i])
		cfg.merge(r.secs)
	}
	err := probs.Err()
	if err == nil {
		return cfg, nil
	}
	if results[0].readErr != nil {
		return nil, err
	}
	cfg.Errors = probs.Sorted()
	return cfg, err
}

// parsed is one file read and parsed by readAll.
type parsed struct {
	secs    []*Section
	warns   []*Error
	errs    []*Error // the syntax errors; secs holds what could be read
	readErr error    // ReadFile's
}

// readAll reads and parses files and returns the results in the files'
// order. Files of parallelFrom bytes or more in all are parsed as many at
// once as there are CPUs (each file on its own: 100,000 tests load in
// about half the time on two); smaller ones one after the other, since
// parsing in parallel only saves a fraction of a second there, and holds
// the parser's garbage of several files at once: at 10,000 tests the peak
// memory of the whole run is set while loading, 49-53 MiB in parallel
// against 45 one after the other.
func readAll(files []string, max, parallelFrom int64) []parsed {
	out := make([]parsed, len(files))
	work := make(chan int)
	var wg sync.WaitGroup
	workers := 1
	if totalSize(files) >= parallelFrom {
		workers = min(goruntime.GOMAXPROCS(0), goruntime.NumCPU(), len(files))
	}
	for range workers {
		wg.Go(func() {
			for i := range work {
				r := &out[i]
				data, err := ReadFile(files[i], max)
				if err != nil {
					r.readErr = err
					continue
				}
				r.secs, r.warns, r.errs = parse(files[i], data)
			}
		})
	}
	for i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

// parallelParse is the size of a configuration from which readAll parses
// its files in parallel (about 35,000 tests).
const parallelParse = 4 << 20

// totalSize returns the sum of the sizes of files that can be stat'ed.
func totalSize(files []string) int64 {
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// ErrFileTooLarge is returned (wrapped) by ReadFile for a file over its limit.
var ErrFileTooLarge = fileread.ErrTooLarge

// ReadFile reads a file of the configuration (a .conf or a .lua) that must be
// a regular file of at most max bytes (0: DefaultMaxFileSize). Anything else
// (a FIFO, a device, a directory, a link to one of those) is refused without
// being read, so that it can neither block nor exhaust memory (see
// fileread.Read).
func ReadFile(path string, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFileSize
	}
	data, err := fileread.Read(path, max, "the limit is set with --max-file-size")
	if err != nil && !fileread.Refused(err) {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return data, err
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
//   - A section opened a second time in the file continues the first,
//     with a warning (RepeatedSection).
//
// The work is split in two, each done once. Parse scans the lines for
// what ini.v1 does not give: the structure (which line is a section, a key
// or a continuation line, and of which key), the position of each, and the
// errors with their lines. gopkg.in/ini.v1 reads the values, all of a file
// in one pass: it removes inline comments, surrounding space and escapes,
// and what it reads is the value. The scan writes the document ini.v1
// reads: every value under a name of its own (see writeName), in ini.v1's
// syntax for what ConfigParser's rules say (see iniText).
func Parse(name string, data []byte) ([]*Section, []*Error, error) {
	secs, warns, errs := parse(name, data)
	if len(errs) > 0 {
		return nil, nil, joinErrors(errs)
	}
	return secs, warns, nil
}

// joinErrors joins errs, sorted by position, into one error.
func joinErrors(errs []*Error) error {
	p := Problems{List: errs}
	return p.Err()
}

// parse is Parse, returning with the syntax errors the sections and
// warnings of every line that could be read, for LoadWith.
func parse(name string, data []byte) ([]*Section, []*Error, []*Error) {
	p := &parser{name: name, secIdx: map[string]int{}}
	p.doc.Grow(len(data))
	// One string for the file: every name and value is a part of it, not
	// an allocation of its own.
	rest := strings.TrimPrefix(string(data), "\ufeff")
	for line := 1; rest != ""; line++ {
		var raw string
		raw, rest, _ = strings.Cut(rest, "\n")
		if len(raw) > maxLine {
			p.probs.Addf(Pos{File: name, Line: line}, "", "", "read: line longer than %s", textx.Bytes(maxLine))
			break
		}
		if line > 1 {
			p.doc.WriteByte('\n')
		}
		p.line(strings.TrimSuffix(raw, "\r"), line)
	}
	return p.result()
}

// maxLine is the longest line Parse reads.
const maxLine = 1 << 20

// badSection is the current section after a broken section header: its
// keys are skipped.
const badSection = "\x00bad"

// parser is the state of one Parse: the sections found so far, the key an
// indented line continues, and the document written for ini.v1.
type parser struct {
	name      string // the file's name, for positions
	probs     Problems
	secs      []*Section
	secIdx    map[string]int
	first     map[[2]string]int // section, key → line first set, for keys set again in this file
	cur       string            // the current section, "" before the first one
	key       *Key              // the key that an indented line continues
	keyIndent int
	doc       bytes.Buffer // for ini.v1: a line per line of data, and room's
	vals      iniValues
	headers   int // [section] lines written for ini.v1; it makes a section of each
	inHeader  int // values written for ini.v1 under the last [section] line
}

// line reads one line of the file, its number line.
func (p *parser) line(raw string, line int) {
	text := strings.TrimSpace(raw)
	if text == "" || text[0] == '#' || text[0] == ';' {
		return
	}
	pos := Pos{File: p.name, Line: line}
	if strings.IndexByte(text, '\r') >= 0 {
		// ConfigParser would end the line there, an editor may not.
		p.probs.Addf(pos, displaySection(p.cur), "", "a carriage return (\\r) inside the line; lines end with \\n or \\r\\n")
		if text[0] == '[' {
			p.cur = badSection
		}
		p.key = nil
		return
	}
	indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
	if p.key != nil && indent > p.keyIndent {
		p.continuation(text, line)
		return
	}
	p.key = nil
	if text[0] == '[' {
		p.header(text, pos)
		return
	}
	p.keyLine(text, pos, indent)
}

// continuation writes a continuation line of p.key for ini.v1, as a key of
// its own under a name that no key line can have (it would end at the
// colon).
func (p *parser) continuation(text string, line int) {
	v := iniValue{key: p.key, sec: p.vals.last().sec, line: line}
	p.writeName()
	p.doc.WriteByte('=')
	iniText(&p.doc, text, 1)
	p.vals.add(v)
}

// header reads a [section] line and starts the section, or notes why it
// cannot.
func (p *parser) header(text string, pos Pos) {
	end := strings.IndexByte(text, ']')
	if end < 0 {
		p.probs.Addf(pos, "", "", "section header %q has no closing ]", text)
		p.cur = badSection
		return
	}
	sec := strings.TrimSpace(text[1:end])
	if sec == "" {
		p.probs.Addf(pos, "", "", "empty section name")
		p.cur = badSection
		return
	}
	if rest := strings.TrimSpace(cutComment(text[end+1:], 0)); rest != "" && rest[0] != '#' && rest[0] != ';' {
		p.probs.Addf(pos, sec, "", "unexpected text %q after section header", rest)
	}
	if i, ok := p.secIdx[sec]; ok {
		p.probs.Add(&Error{Pos: pos, Section: sec, Err: &RepeatedSection{First: p.secs[i].Pos.Line, Merged: true}, Warning: true})
	} else {
		// A copy: check and test names outlive the file's text.
		sec = strings.Clone(sec)
		p.secIdx[sec] = len(p.secs)
		p.secs = append(p.secs, &Section{Name: sec, Pos: pos, keys: make([]*Key, 0, 4)})
	}
	p.cur = sec
}

// RepeatedSection is the problem of a section opened a second time in one
// file, likely a copy meant to be renamed. Parse reports it as a warning
// and merges the two, as the original's ConfigParser did; the runtime
// makes it an error unless [main] strict = no, as Python 3's strict
// ConfigParser does.
type RepeatedSection struct {
	First  int  // the line of the first [Section]
	Merged bool // a warning: the keys went to the first
}

func (e *RepeatedSection) Error() string {
	if e.Merged {
		return fmt.Sprintf("section repeated in this file (first at line %d); its keys are merged into the first", e.First)
	}
	return fmt.Sprintf("section repeated in this file (first at line %d); merge the two, or rename one", e.First)
}

// keyLine reads a NAME = VALUE line of the current section.
func (p *parser) keyLine(text string, pos Pos, indent int) {
	i := strings.IndexAny(text, "=:")
	if i <= 0 {
		p.probs.Addf(pos, displaySection(p.cur), "", "expected key=value, found %q", text)
		return
	}
	kn := strings.TrimSpace(text[:i])
	lkn := strings.ToLower(kn)
	switch p.cur {
	case "":
		p.probs.Addf(pos, "", lkn, "key outside of any [section]")
		return
	case badSection:
		return
	}
	t := strings.TrimLeftFunc(text[i+1:], unicode.IsSpace)
	from, ok := p.commentFrom(t, pos, lkn)
	if !ok {
		return
	}
	p.key = &Key{Name: lkn, Pos: pos}
	p.keyIndent = indent
	s := p.setKey(p.key)
	v := iniValue{key: p.key, sec: s}
	p.writeName()
	p.doc.WriteByte(text[i])
	iniText(&p.doc, t, from)
	p.vals.add(v)
}

// commentFrom returns where an inline comment may start in t, a value from
// its first character: after the closing quote of a quoted value. It is
// false, with the problem noted, when the quote is not closed on the line.
func (p *parser) commentFrom(t string, pos Pos, key string) (int, bool) {
	if t == "" || (t[0] != '"' && t[0] != '\'') {
		return 1, true
	}
	end := strings.IndexByte(t[1:], t[0])
	if end < 0 {
		p.probs.Addf(pos, p.cur, key, "value starts with %c but has no closing %c (a quoted value cannot span lines)", t[0], t[0])
		return 0, false
	}
	return end + 2, true
}

// setKey adds k to the current section, with a warning when the file set
// it before, and returns the section.
func (p *parser) setKey(k *Key) *Section {
	s := p.secs[p.secIdx[p.cur]]
	if i := s.index(k.Name); i >= 0 {
		id := [2]string{p.cur, k.Name}
		first, ok := p.first[id]
		if !ok {
			first = s.keys[i].Pos.Line
			if p.first == nil {
				p.first = map[[2]string]int{}
			}
			p.first[id] = first
		}
		p.probs.Warnf(k.Pos, p.cur, k.Name, "set again (first set at line %d); the last value wins", first)
	}
	s.set(k)
	return s
}

// writeName starts the line of the next value in the document for ini.v1:
// a [section] line first when the last one has iniSectionKeys values, then
// the value's name. ini.v1
// only reads values here (the scan knows the sections and keys), so every
// value has a name of its own that no key line can have (it would end at
// the colon), under sections named 1, 2, … that each hold many of the
// configuration's sections: ini.v1 builds two maps for each of its
// sections, and compares each new key with all those of its section.
func (p *parser) writeName() {
	if p.headers == 0 || p.inHeader == iniSectionKeys {
		p.headers++
		p.inHeader = 0
		p.doc.WriteByte('[')
		p.doc.WriteString(strconv.Itoa(p.headers))
		p.doc.WriteString("]\n")
	}
	p.inHeader++
	var num [20]byte
	p.doc.WriteString("`:")
	p.doc.Write(strconv.AppendInt(num[:0], int64(p.vals.n), 10))
	p.doc.WriteByte('`')
}

// result has ini.v1 read the values once every line is scanned, and returns
// what parse returns.
func (p *parser) result() ([]*Section, []*Error, []*Error) {
	if err := readValues(p.doc.Bytes(), p.headers, &p.vals); err != nil {
		p.probs.Add(err)
		return nil, p.probs.Warnings(), p.probs.errors()
	}
	for _, s := range p.secs {
		for _, k := range s.keys {
			k.finish()
		}
	}
	return p.secs, p.probs.Warnings(), p.probs.errors()
}

// iniValue is one value of a file for ini.v1 to read: a key line's or a
// continuation line's.
type iniValue struct {
	key  *Key     // the key it belongs to
	sec  *Section // the key's section
	line int      // a continuation line's line; 0 for a key line
}

// iniValues is a list of iniValue kept in blocks, so that it grows without
// copying (a slice grows by a quarter at a time for a large file).
type iniValues struct {
	blocks [][]iniValue
	n      int
}

func (l *iniValues) add(v iniValue) {
	if l.n%256 == 0 {
		l.blocks = append(l.blocks, make([]iniValue, 0, 256))
	}
	b := &l.blocks[len(l.blocks)-1]
	*b = append(*b, v)
	l.n++
}

func (l *iniValues) at(i int) *iniValue { return &l.blocks[i/256][i%256] }

func (l *iniValues) last() *iniValue {
	b := l.blocks[len(l.blocks)-1]
	return &b[len(b)-1]
}

// iniSectionKeys is the most values Parse has ini.v1 read in one section.
// ini.v1 keeps a map of each section's keys; a Go map of up to 8 entries
// is one group, without the table (and its growth and rehash) that a 9th
// entry brings. Measured at 100,000 checks and tests: 459 MB allocated
// while parsing with 8 against 580 MB with 32 or 16, and about a tenth
// less CPU; with 4 the extra sections cost more than they save.
const iniSectionKeys = 8

// iniOptions have ini.v1 read values the way ConfigParser does, in the
// document Parse writes for it (see iniText).
var iniOptions = ini.LoadOptions{
	IgnoreContinuation:       true, // a backslash at the end of a line is text
	SpaceBeforeInlineComment: true, // a#b is a value; a #b is a with a comment
	PreserveSurroundedQuote:  true, // Key.Raw keeps quotes; finish removes them from Value
	// \# and \; are a # and a ; that start no comment (see iniText).
	UnescapeValueCommentSymbols: true,
	KeyValueDelimiters:          "=:",
	// No linear search for a section of the same name at each header
	// (they are unique: 1, 2, …).
	AllowNonUniqueSections: true,
}

// iniText writes t, a value from its first character, to doc for ini.v1,
// in ini.v1's syntax for what ConfigParser's rules say of it, so that the
// value ini.v1 reads is the one ConfigParser reads. from is where a
// comment may start (after the closing quote of a quoted value).
//
//   - A tab or space then # or ; from from on starts the comment: it is
//     written " #", the one form ini.v1 knows (it knows no tab, and looks
//     for " #" before " ;").
//   - A # or ; that starts no comment although ini.v1 would take it for one
//     (after a space inside quotes), or whose backslash ini.v1 would drop
//     (\#), is escaped with a backslash, which ini.v1 removes
//     (UnescapeValueCommentSymbols).
//   - ini.v1 reads a value that starts with ` or """ up to the matching
//     quotes, over several lines; such a value is written in ini.v1's raw
//     quotes, `…`, up to its comment.
func iniText(doc *bytes.Buffer, t string, from int) {
	if t != "" && (t[0] == '`' || strings.HasPrefix(t, `"""`)) {
		doc.WriteByte('`')
		doc.WriteString(strings.TrimRightFunc(cutComment(t, from), unicode.IsSpace))
		doc.WriteByte('`')
		return
	}
	if !strings.ContainsAny(t, "#;") { // most values
		doc.WriteString(t)
		return
	}
	done := 0
	for j := 1; j < len(t); j++ {
		if t[j] != '#' && t[j] != ';' {
			continue
		}
		switch space := t[j-1] == ' ' || t[j-1] == '\t'; {
		case space && j >= from:
			doc.WriteString(t[done : j-1])
			doc.WriteString(" #")
			doc.WriteString(t[j+1:])
			return
		case space || t[j-1] == '\\':
			doc.WriteString(t[done:j])
			doc.WriteByte('\\')
			done = j
		}
	}
	doc.WriteString(t[done:])
}

// readValues has ini.v1 read doc, the document Parse wrote, in one pass,
// and sets the text of every value in vals that is still in use to what
// ini.v1 read: the scan placed the values, ini.v1's reading is not checked
// against anything. headers is the number of [section] lines of doc. An
// error means that ini.v1 read a different number of sections or values
// than Parse wrote: a bug, reported at the value's line.
func readValues(doc []byte, headers int, vals *iniValues) *Error {
	if vals.n == 0 {
		return nil
	}
	fail := func(v *iniValue, format string, args ...any) *Error {
		pos := v.key.Pos
		if v.line != 0 {
			pos.Line = v.line
		}
		return Errorf(pos, v.sec.Name, v.key.Name, "internal error: "+format, args...)
	}
	f, err := ini.LoadSources(iniOptions, doc)
	if err != nil {
		return fail(vals.at(0), "ini.v1: %w", err)
	}
	secs := f.Sections() // the default section first, then one per header
	if len(secs) != headers+1 {
		return fail(vals.at(0), "ini.v1 read %d sections, want %d", len(secs)-1, headers)
	}
	// ini.v1 keeps the keys of a section in the document's order, which
	// is vals' order.
	n := 0
	for _, s := range secs[1:] {
		for _, k := range s.Keys() {
			if n == vals.n {
				return fail(vals.at(n-1), "ini.v1 read more values than written")
			}
			readValue(vals.at(n), k.Value())
			n++
		}
	}
	if n != vals.n {
		return fail(vals.at(n), "ini.v1 read %d values, want %d", n, vals.n)
	}
	return nil
}

// readValue sets v's text to what ini.v1 read for it, unless the key was
// set again later in the file.
func readValue(v *iniValue, text string) {
	if v.sec.keys[v.sec.index(v.key.Name)] != v.key {
		return // set again later: that value wins
	}
	switch {
	case v.line == 0:
		v.key.Raw = text // finish makes Raw and Value of it
	case text != "":
		v.key.More = append(v.key.More, Line{Text: text, Pos: Pos{File: v.key.Pos.File, Line: v.line}})
	}
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
	text := k.Raw // the value on the key's own line, until now
	if len(k.More) > 0 {
		parts := make([]string, 0, len(k.More)+1)
		if text != "" {
			parts = append(parts, text)
		}
		for _, l := range k.More {
			parts = append(parts, l.Text)
		}
		k.Raw = strings.Join(parts, "\n")
		k.Value = k.Raw
		return
	}
	k.Value = text
	if v := text; len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && strings.IndexByte(v[1:], v[0]) == len(v)-2 {
		k.Value = v[1 : len(v)-1]
	}
}

// text returns the value on the key's own line: Raw's first line when the
// value has one line more than its continuation lines.
func (k *Key) text() string {
	if len(k.More) == 0 {
		return k.Raw
	}
	if strings.Count(k.Raw, "\n") < len(k.More) {
		return "" // the value starts on the next line
	}
	first, _, _ := strings.Cut(k.Raw, "\n")
	return first
}

// Lines returns every line of the value: the key's own (unless the value
// starts on the next line) and its continuation lines.
func (k *Key) Lines() []Line {
	text := k.text()
	if text == "" {
		return k.More
	}
	return append([]Line{{Text: text, Pos: k.Pos}}, k.More...)
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
