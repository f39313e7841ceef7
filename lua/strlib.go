package lua

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/internal/textx"
)

// The string and table functions below replace gopher-lua's where those
// can run unbounded inside one call, out of reach of the VM's
// per-instruction deadline check: pattern matching, string.format,
// string.rep, table.concat and table.sort. Each checks the run's deadline
// (and memory budget) as it goes and refuses results over maxString bytes.

// tick is called by long-running library code; it raises the run's
// timeout, cancellation or memory error once there is one.
func (s *state) tick() {
	if s.budget.Context == nil {
		return
	}
	select {
	case <-s.budget.Done():
		s.L.RaiseError("%s", s.budget.Err().Error())
	default:
	}
}

// matcher runs fn on a fresh matchState of src and pat, turning pattern
// errors into Lua errors.
func (s *state) matcher(src, pat string, fn func(ms *matchState)) {
	ms := &matchState{src: src, pat: pat, tick: s.tick}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if pe, ok := r.(patternError); ok {
					s.L.RaiseError("%s", string(pe))
					return
				}
				panic(r)
			}
		}()
		fn(ms)
	}()
}

// pushCapture pushes capture i of the match src[st:e].
func pushCapture(L *glua.LState, ms *matchState, i, st, e int) {
	str, pos, isPos := ms.captureValue(i, st, e)
	if isPos {
		L.Push(glua.LNumber(pos))
	} else {
		L.Push(glua.LString(str))
	}
}

// posRelative turns a Lua string index (negative: from the end) into a
// 0-based offset clamped to [0, n].
func posRelative(i, n int) int {
	if i < 0 {
		i += n + 1
	}
	i--
	return max(0, min(i, n))
}

func (s *state) strFind(L *glua.LState) int  { return s.findAux(L, true) }
func (s *state) strMatch(L *glua.LState) int { return s.findAux(L, false) }

// findAux is string.find and string.match (str_find_aux).
func (s *state) findAux(L *glua.LState, find bool) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	init := posRelative(L.OptInt(3, 1), len(src))
	if find && (glua.LVAsBool(L.Get(4)) || noSpecials(pat)) {
		if i := strings.Index(src[init:], pat); i >= 0 {
			L.Push(glua.LNumber(init + i + 1))
			L.Push(glua.LNumber(init + i + len(pat)))
			return 2
		}
		L.Push(glua.LNil)
		return 1
	}
	n := 0
	s.matcher(src, pat, func(ms *matchState) {
		st, e := ms.find(init)
		if st < 0 {
			L.Push(glua.LNil)
			n = 1
			return
		}
		if find {
			L.Push(glua.LNumber(st + 1))
			L.Push(glua.LNumber(e))
			n = 2
		}
		k := ms.nCaptures(!find)
		for i := 0; i < k; i++ {
			pushCapture(L, ms, i, st, e)
		}
		n += k
	})
	return n
}

// strGmatch is string.gmatch: an iterator over the matches.
func (s *state) strGmatch(L *glua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	pos := 0
	L.Push(L.NewFunction(func(L *glua.LState) int {
		n := 0
		s.matcher(src, pat, func(ms *matchState) {
			for st := pos; st <= len(src); st++ {
				ms.level = 0
				if e := ms.match(st, 0); e >= 0 {
					pos = e
					if e == st {
						pos++ // empty match: go on at least one position
					}
					n = ms.nCaptures(true)
					for i := 0; i < n; i++ {
						pushCapture(L, ms, i, st, e)
					}
					return
				}
			}
			pos = len(src) + 1
		})
		return n
	}))
	return 1
}

// strGsub is string.gsub with its result limited to maxString bytes.
func (s *state) strGsub(L *glua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	L.CheckTypes(3, glua.LTString, glua.LTNumber, glua.LTTable, glua.LTFunction)
	repl := L.Get(3)
	maxN := L.OptInt(4, len(src)+1)
	var b strings.Builder
	g := s.guard("string.gsub", maxString)
	add := func(str string) {
		if n := b.Len() + len(str); n > b.Cap() {
			// The builder doubles: check what it is about to hold.
			g.need(int64(max(n, 2*b.Cap())))
		}
		b.WriteString(str)
	}
	n := 0
	s.matcher(src, pat, func(ms *matchState) {
		p := 0
		anchor := ms.at(0) == '^'
		if anchor {
			p = 1
		}
		st := 0
		for n < maxN {
			ms.level = 0
			e := ms.match(st, p)
			if e >= 0 {
				n++
				add(s.replacement(L, ms, repl, st, e))
			}
			switch {
			case e > st: // non-empty match: skip it
				st = e
			case st < len(src):
				add(src[st : st+1])
				st++
			default:
				st = len(src) + 1
			}
			if st > len(src) || anchor {
				break
			}
		}
		if st <= len(src) {
			add(src[st:])
		}
	})
	L.Push(glua.LString(b.String()))
	L.Push(glua.LNumber(n))
	return 2
}

// replacement is the text that replaces the match src[st:e] (add_value).
func (s *state) replacement(L *glua.LState, ms *matchState, repl glua.LValue, st, e int) string {
	var v glua.LValue
	switch r := repl.(type) {
	case glua.LString, glua.LNumber:
		return expandReplacement(L, ms, r.String(), st, e)
	case *glua.LTable:
		pushCapture(L, ms, 0, st, e)
		k := L.Get(-1)
		L.Pop(1)
		v = L.GetTable(r, k)
	case *glua.LFunction:
		L.Push(r)
		n := ms.nCaptures(true)
		for i := 0; i < n; i++ {
			pushCapture(L, ms, i, st, e)
		}
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch x := v.(type) {
	case glua.LString:
		return string(x)
	case glua.LNumber:
		return x.String()
	}
	if !glua.LVAsBool(v) {
		return ms.src[st:e] // keep the original text
	}
	L.RaiseError("invalid replacement value (a %s)", v.Type())
	return ""
}

// expandReplacement is the replacement string news for the match
// src[st:e], with %0-%9 replaced by the match and its captures.
func expandReplacement(L *glua.LState, ms *matchState, news string, st, e int) string {
	if strings.IndexByte(news, lEsc) < 0 {
		return news
	}
	var b strings.Builder
	for i := 0; i < len(news); i++ {
		c := news[i]
		if c != lEsc || i+1 == len(news) {
			b.WriteByte(c)
			continue
		}
		i++
		d := news[i]
		if !isdigit(d) {
			b.WriteByte(d)
			continue
		}
		if d == '0' {
			b.WriteString(ms.src[st:e])
		} else {
			str, pos, isPos := ms.captureValue(int(d-'1'), st, e)
			if isPos {
				str = strconv.Itoa(pos)
			}
			b.WriteString(str)
		}
		if b.Len() > maxString {
			L.RaiseError("string.gsub: result would be larger than %s", textx.Bytes(maxString))
		}
	}
	return b.String()
}

// strRep is string.rep with its result checked before it is built.
func (s *state) strRep(L *glua.LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || len(str) == 0 {
		L.Push(glua.LString(""))
		return 1
	}
	g := s.guard("string.rep", maxString)
	if int64(n) > math.MaxInt64/int64(len(str)) {
		g.need(math.MaxInt64)
	}
	g.need(int64(len(str)) * int64(n))
	L.Push(glua.LString(strings.Repeat(str, n)))
	return 1
}

// strFormat is string.format as in Lua 5.1 (flags "-+ #0", width and
// precision of at most two digits), with its result limited to maxString
// bytes and checked before each piece is added.
func (s *state) strFormat(L *glua.LState) int {
	f := L.CheckString(1)
	arg := 1
	var b strings.Builder
	g := s.guard("string.format", maxString)
	g.need(int64(len(f)))
	b.Grow(min(len(f), 1<<10))
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			b.WriteByte('%')
			continue
		}
		var spec string
		spec, i = formatSpec(L, f, i)
		arg++
		formatArg(L, &g, &b, f[i], spec, arg)
	}
	L.Push(glua.LString(b.String()))
	return 1
}

// formatNeed checks, before a piece of n bytes is added to b, what b will
// hold (a builder doubles its capacity when it grows).
func formatNeed(g *sizeGuard, b *strings.Builder, n int) {
	if total := b.Len() + n; total > b.Cap() {
		g.need(int64(total))
		g.need(int64(max(total, 2*b.Cap())))
	}
}

// formatSpec reads the flags, width and precision of the conversion at
// f[i:] (just after its '%'). It returns them as a Go format without the
// verb, and the index of the conversion character.
func formatSpec(L *glua.LState, f string, i int) (string, int) {
	start := i
	for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
		i++
	}
	if i-start > 5 {
		L.RaiseError("invalid format (repeated flags)")
	}
	i = formatDigits(L, f, i)
	if i < len(f) && f[i] == '.' {
		i = formatDigits(L, f, i+1)
	}
	if i >= len(f) {
		L.RaiseError("invalid option '%%' to 'format'")
	}
	return "%" + f[start:i], i
}

// formatDigits skips a width or precision of at most two digits at f[i:]
// and returns the index after it.
func formatDigits(L *glua.LState, f string, i int) int {
	n := 0
	for i < len(f) && isdigit(f[i]) {
		i++
		n++
	}
	if n > 2 {
		L.RaiseError("invalid format (width or precision too long)")
	}
	return i
}

// formatArg writes argument arg as the conversion conv with spec's flags,
// width and precision.
func formatArg(L *glua.LState, g *sizeGuard, b *strings.Builder, conv byte, spec string, arg int) {
	formatNeed(g, b, 128) // a number, a width of 99 at most
	switch conv {
	case 'c':
		b.WriteByte(byte(L.CheckInt(arg)))
	case 'd', 'i':
		fmt.Fprintf(b, spec+"d", int64(L.CheckNumber(arg)))
	case 'o', 'x', 'X':
		fmt.Fprintf(b, spec+string(conv), uint64(int64(L.CheckNumber(arg))))
	case 'u':
		fmt.Fprintf(b, spec+"d", uint64(int64(L.CheckNumber(arg))))
	case 'e', 'E', 'f', 'g', 'G':
		fmt.Fprintf(b, spec+string(conv), float64(L.CheckNumber(arg)))
	case 'q':
		str := L.CheckString(arg)
		formatNeed(g, b, quotedLen(str))
		quoteString(b, str)
	case 's':
		str := L.ToStringMeta(L.CheckAny(arg)).String()
		formatNeed(g, b, len(str)+100)
		fmt.Fprintf(b, spec+"s", str)
	default:
		L.RaiseError("invalid option '%%%c' to 'format'", conv)
	}
}

// quotedLen is the length of s written by quoteString.
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\', '\n', '\r':
			n++
		case 0:
			n += 3
		}
	}
	return n
}

// quoteString writes s as a Lua string literal (%q).
func quoteString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// tableConcat is table.concat with its result measured, and checked,
// before it is built.
func (s *state) tableConcat(L *glua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i, j := L.OptInt(3, 1), L.OptInt(4, t.Len())
	g := s.guard("table.concat", maxString)
	total := int64(0)
	for k := i; k <= j; k++ {
		if k&(patternTick-1) == 0 {
			s.tick()
		}
		switch v := t.RawGetInt(k).(type) {
		case glua.LString:
			total += int64(len(v))
		case glua.LNumber:
			total += int64(len(v.String()))
		default:
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		if k < j {
			total += int64(len(sep))
		}
		if total > maxString {
			g.need(total)
		}
	}
	g.need(total)
	var b strings.Builder
	b.Grow(int(max(total, 0)))
	for k := i; k <= j; k++ {
		b.WriteString(glua.LVAsString(t.RawGetInt(k)))
		if k < j {
			b.WriteString(sep)
		}
	}
	L.Push(glua.LString(b.String()))
	return 1
}

// sameSize wraps a string function whose result is as long as its first
// argument (string.upper, lower, reverse), checking that size first.
func (s *state) sameSize(what string, fn glua.LGFunction) glua.LGFunction {
	return func(L *glua.LState) int {
		g := s.guard(what, maxString)
		g.need(int64(len(L.CheckString(1))))
		return fn(L)
	}
}

// tableSort is table.sort checking the run's deadline as it compares.
func (s *state) tableSort(L *glua.LState) int {
	t := L.CheckTable(1)
	n := t.Len()
	vals := make([]glua.LValue, n)
	for i := range vals {
		vals[i] = t.RawGetInt(i + 1)
	}
	cmp, hasCmp := L.Get(2).(*glua.LFunction)
	if !hasCmp && L.Get(2) != glua.LNil {
		L.ArgError(2, "function expected")
	}
	steps := 0
	less := func(a, b glua.LValue) bool {
		if steps++; steps&(patternTick-1) == 0 {
			s.tick()
		}
		if !hasCmp {
			return L.LessThan(a, b)
		}
		L.Push(cmp)
		L.Push(a)
		L.Push(b)
		L.Call(2, 1)
		r := glua.LVAsBool(L.Get(-1))
		L.Pop(1)
		return r
	}
	sort.SliceStable(vals, func(i, j int) bool { return less(vals[i], vals[j]) })
	for i, v := range vals {
		t.RawSetInt(i+1, v)
	}
	return 0
}

// maxResults is how many values unpack and string.byte return at most
// (LUAI_MAXCSTACK of Lua 5.1). It keeps the value stack from filling up:
// a full stack leaves no room for the error handler of a protected call.
const maxResults = 8000

// baseUnpack is unpack(t, i?, j?) refusing more than maxResults values.
func baseUnpack(L *glua.LState) int {
	t := L.CheckTable(1)
	i := L.OptInt(2, 1)
	j := L.OptInt(3, t.Len())
	if i > j {
		return 0
	}
	if j-i >= maxResults {
		L.RaiseError("too many results to unpack")
	}
	for k := i; k <= j; k++ {
		L.Push(t.RawGetInt(k))
	}
	return j - i + 1
}

// strByte is string.byte(s, i?, j?) refusing more than maxResults values.
func strByte(L *glua.LState) int {
	str := L.CheckString(1)
	i := L.OptInt(2, 1)
	j := L.OptInt(3, i)
	n := len(str)
	if i < 0 {
		i += n + 1
	}
	if j < 0 {
		j += n + 1
	}
	i = max(i, 1)
	j = min(j, n)
	if i > j {
		return 0
	}
	if j-i >= maxResults {
		L.RaiseError("string slice too long")
	}
	for k := i; k <= j; k++ {
		L.Push(glua.LNumber(str[k-1]))
	}
	return j - i + 1
}
