package lua

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// LoadError is one problem of a Lua file at one place ("conf.d/x.lua:12:
// message"). Load returns every problem of every file at once, joined and
// sorted by file and line.
type LoadError struct {
	File string // as shown: "conf.d/redis.lua"
	Line int    // 0: the file as a whole
	Err  error
}

// Error returns "file:line: message", or "file: message" without a line.
func (e *LoadError) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Err.Error()
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
}

// Unwrap returns the problem without its position.
func (e *LoadError) Unwrap() error { return e.Err }

// loadErr is a LoadError at file:line.
func loadErr(file string, line int, err error) *LoadError {
	return &LoadError{File: file, Line: line, Err: err}
}

// problems collects the LoadErrors of a Load.
type problems struct{ list []*LoadError }

func (p *problems) add(e *LoadError) { p.list = append(p.list, e) }

// err joins the problems sorted by position; nil when there is none.
func (p *problems) err() error {
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i], p.list[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	errs := make([]error, len(p.list))
	for i, e := range p.list {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// exampleSection is the one section of a type's example snippet.
type exampleSection struct {
	name string
	keys [][2]string // key, value in order
}

// value returns the value of key, or "".
func (s exampleSection) value(key string) string {
	for _, kv := range s.keys {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

// parseExample reads a type's example: INI as monsta.conf writes it, one
// or more "[Section]" headers with "key = value" lines, comments starting
// with "#" or ";" (also after a value, following a space). The daemon's
// configuration reader lints the same snippets in the tests of examples/.
func parseExample(text string) ([]exampleSection, error) {
	var secs []exampleSection
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("line %d: bad section header %q", i+1, line)
			}
			secs = append(secs, exampleSection{name: strings.TrimSpace(line[1 : len(line)-1])})
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || len(secs) == 0 || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("line %d: want [Section] or key = value, not %q", i+1, line)
		}
		for _, c := range []string{" #", " ;", "\t#", "\t;"} {
			if j := strings.Index(v, c); j >= 0 {
				v = v[:j]
			}
		}
		last := &secs[len(secs)-1]
		last.keys = append(last.keys, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return secs, nil
}
