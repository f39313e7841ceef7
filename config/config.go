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
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
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
	Value string
	Pos   Pos
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

// Load reads mainFile (it must exist) and then every *.conf file of confDir
// in lexical order (a missing confDir is fine). A later file adds sections and
// overrides keys of a section of the same name. Every syntax problem of every
// file is returned at once, joined.
func Load(mainFile, confDir string) (*Config, error) {
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
		data, err := os.ReadFile(f)
		if err != nil {
			probs.Add(&Error{Pos: Pos{File: f}, Err: fmt.Errorf("read configuration: %w", unwrapPath(err))})
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

// confFiles lists the *.conf files of dir in lexical order; a missing dir
// has none. Other files (*.lua) and directories are not configuration.
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
		if strings.HasSuffix(e.Name(), ".conf") && !e.IsDir() {
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

// loadOptions make ini.v1 read files the way the original monsta did: keys
// are case-insensitive, " #" and " ;" start inline comments, a "#" inside a
// value (like a URL fragment) does not, and no backslash continuation.
var loadOptions = ini.LoadOptions{
	InsensitiveKeys:          true,
	SpaceBeforeInlineComment: true,
	IgnoreContinuation:       true,
	AllowShadows:             false,
}

// keyLineOptions are loadOptions for readKeys' documents, whose section
// names are unique by construction: ini.v1 checks uniqueness with a linear
// scan, which made 50,000 key lines take seconds.
var keyLineOptions = func() ini.LoadOptions {
	o := loadOptions
	o.AllowNonUniqueSections = true
	return o
}()

// keyLine is one key=value line found by Parse's own scan.
type keyLine struct {
	section string
	pos     Pos
	text    string
}

// Parse reads one file's content. name is used in positions. It returns the
// sections in file order and the warnings, or every problem found, joined.
//
// Parse scans the structure itself (sections, comments, which line holds
// which key), so that every key has its line and every problem is reported
// with one. The key names and values of the key lines are then read by
// ini.v1, each line in a section of its own, so that a quote that ini.v1
// reads across lines cannot move a key to another section.
func Parse(name string, data []byte) ([]*Section, []*Error, error) {
	var probs Problems
	var secs []*Section
	secIdx := map[string]int{}
	var lines []keyLine
	const bad = "\x00bad" // after a broken section header: skip its keys
	cur := ""
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
		switch {
		case text == "" || text[0] == '#' || text[0] == ';':
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
			if rest := strings.TrimSpace(text[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
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
			key := strings.ToLower(strings.TrimSpace(text[:i]))
			switch {
			case cur == "":
				probs.Addf(pos, "", key, "key outside of any [section]")
			case cur == bad:
			case key == "-":
				probs.Addf(pos, cur, "", "%q is not a key name", key)
			default:
				lines = append(lines, keyLine{section: cur, pos: pos, text: text})
			}
		}
	}
	if err := sc.Err(); err != nil {
		probs.Addf(Pos{File: name, Line: line + 1}, "", "", "read: %v", err)
	}
	if err := probs.Err(); err != nil {
		return nil, nil, err
	}

	keys := readKeys(lines, &probs)
	if err := probs.Err(); err != nil {
		return nil, nil, err
	}
	first := map[[2]string]Pos{}
	for i, k := range keys {
		s := secs[secIdx[lines[i].section]]
		id := [2]string{s.Name, k.Name}
		if prev, ok := first[id]; ok {
			probs.Warnf(k.Pos, s.Name, k.Name, "set again (first set at line %d); the last value wins", prev.Line)
		} else {
			first[id] = k.Pos
		}
		s.set(k)
	}
	return secs, probs.Warnings(), nil
}

// readKeys has ini.v1 read the name and value of every key line. It parses
// all lines at once; only when that fails, or a value spans lines, does it
// parse each line alone to find the lines at fault.
func readKeys(lines []keyLine, probs *Problems) []*Key {
	if len(lines) == 0 {
		return nil
	}
	var doc bytes.Buffer
	for i, l := range lines {
		doc.WriteString("[")
		doc.WriteString(strconv.Itoa(i))
		doc.WriteString("]\n")
		doc.WriteString(l.text)
		doc.WriteString("\n")
	}
	if f, err := ini.LoadSources(keyLineOptions, doc.Bytes()); err == nil {
		keys := make([]*Key, len(lines))
		ok := true
		for i, l := range lines {
			keys[i], err = oneKey(f, strconv.Itoa(i), l.pos)
			if err != nil {
				ok = false
				break
			}
		}
		if ok {
			return keys
		}
	}
	keys := make([]*Key, len(lines))
	for i, l := range lines {
		f, err := ini.LoadSources(keyLineOptions, []byte("[0]\n"+l.text+"\n"))
		if err == nil {
			keys[i], err = oneKey(f, "0", l.pos)
		}
		if err != nil {
			if strings.HasPrefix(err.Error(), "missing closing key quote") {
				// ini.v1's words for a """ or ` value without its end.
				err = errors.New("quoted value has no closing quote (values cannot span lines)")
			}
			probs.Addf(l.pos, l.section, "", "%w", err)
		}
	}
	return keys
}

// oneKey returns the only key of the ini.v1 section sec; a section without
// exactly one key, or a value spanning lines, is an error.
func oneKey(f *ini.File, sec string, pos Pos) (*Key, error) {
	s, err := f.GetSection(sec)
	if err != nil {
		return nil, errors.New("value runs into the next line (unclosed quote?)")
	}
	ks := s.Keys()
	if len(ks) != 1 {
		return nil, errors.New("cannot read key=value")
	}
	if v := ks[0].Value(); strings.ContainsAny(v, "\r\n") {
		return nil, errors.New("value runs into the next line (unclosed quote?)")
	}
	if ks[0].Name() == "" {
		return nil, errors.New("empty key name")
	}
	return &Key{Name: strings.ToLower(ks[0].Name()), Value: ks[0].Value(), Pos: pos}, nil
}

func displaySection(s string) string {
	if s == "\x00bad" {
		return ""
	}
	return s
}
