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
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/ini.v1"
)

// Pos is a place in a configuration file; Line is 1-based, 0 when unknown.
type Pos struct {
	File string
	Line int
}

// String renders the position as FILE:LINE.
func (p Pos) String() string {
	if p.File == "" {
		return "(built-in)"
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
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
	files := []string{mainFile}
	if confDir != "" {
		matches, err := filepath.Glob(filepath.Join(confDir, "*.conf"))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", confDir, err)
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	cfg := &Config{}
	var probs Problems
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			probs.Add(&Error{Pos: Pos{File: f}, Err: fmt.Errorf("read configuration: %w", unwrapPath(err))})
			continue
		}
		secs, warns, err := Parse(f, data)
		cfg.Warnings = append(cfg.Warnings, warns...)
		if err != nil {
			var e interface{ Unwrap() []error }
			if errors.As(err, &e) {
				for _, x := range e.Unwrap() {
					var ce *Error
					if errors.As(x, &ce) {
						probs.Add(ce)
					}
				}
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

// Parse reads one file's content. name is used in positions. It returns the
// sections in file order and the warnings, or every problem found, joined.
func Parse(name string, data []byte) ([]*Section, []*Error, error) {
	// Pass 1: our own scan, for positions and for errors with line numbers.
	var probs Problems
	type keyPos struct{ section, key string }
	secPos := map[string]Pos{}
	var secOrder []string
	keyLines := map[keyPos]Pos{}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		pos := Pos{File: name, Line: line}
		switch {
		case text == "" || text[0] == '#' || text[0] == ';':
		case text[0] == '[':
			end := strings.IndexByte(text, ']')
			if end < 0 {
				probs.Addf(pos, "", "", "section header %q has no closing ]", text)
				cur = "\x00bad"
				continue
			}
			sec := strings.TrimSpace(text[1:end])
			if rest := strings.TrimSpace(text[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				probs.Addf(pos, sec, "", "unexpected text %q after section header", rest)
			}
			if sec == "" {
				probs.Addf(pos, "", "", "empty section name")
				cur = "\x00bad"
				continue
			}
			cur = sec
			if _, ok := secPos[sec]; !ok {
				secPos[sec] = pos
				secOrder = append(secOrder, sec)
			}
		default:
			i := strings.IndexAny(text, "=:")
			if i <= 0 {
				probs.Addf(pos, displaySection(cur), "", "expected key=value, found %q", text)
				continue
			}
			key := strings.ToLower(strings.TrimSpace(text[:i]))
			if cur == "" {
				probs.Addf(pos, "", key, "key outside of any [section]")
				continue
			}
			if cur == "\x00bad" {
				continue
			}
			kp := keyPos{cur, key}
			if prev, ok := keyLines[kp]; ok {
				probs.Warnf(pos, cur, key, "set again (first set at line %d); the last value wins", prev.Line)
			}
			keyLines[kp] = pos
		}
	}
	if err := sc.Err(); err != nil {
		probs.Addf(Pos{File: name, Line: line + 1}, "", "", "read: %v", err)
	}
	if err := probs.Err(); err != nil {
		return nil, nil, err
	}
	// Pass 2: ini.v1 for the values.
	f, err := ini.LoadSources(loadOptions, data)
	if err != nil {
		return nil, nil, errors.Join(&Error{Pos: Pos{File: name}, Err: fmt.Errorf("parse: %w", err)})
	}
	var out []*Section
	for _, sn := range secOrder {
		is, err := f.GetSection(sn)
		if err != nil {
			continue
		}
		s := &Section{Name: sn, Pos: secPos[sn]}
		for _, k := range is.Keys() {
			kn := strings.ToLower(k.Name())
			p, ok := keyLines[keyPos{sn, kn}]
			if !ok {
				p = secPos[sn]
			}
			s.set(&Key{Name: kn, Value: k.Value(), Pos: p})
		}
		out = append(out, s)
	}
	return out, probs.Warnings(), nil
}

func displaySection(s string) string {
	if s == "\x00bad" {
		return ""
	}
	return s
}
