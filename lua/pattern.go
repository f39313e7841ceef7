package lua

import "bytes"

// Lua 5.1 pattern matching, ported from lstrlib.c so that it can be
// bounded: gopher-lua's own matcher recurses once per backtracking point
// (a pattern of 3,000,000 "(" overflows the Go stack, which no recover can
// catch) and cannot be stopped (string.rep("a", 200000):match("(.-)</title>")
// runs for hours). This one recurses at most once per pattern item, refuses
// patterns nesting deeper than maxMatchDepth or with more than maxCaptures
// captures, and calls tick every patternTick steps so that the run's
// deadline stops it.

const (
	maxCaptures   = 32  // as LUA_MAXCAPTURES
	maxMatchDepth = 200 // as MAXCCALLS in Lua 5.2+: "pattern too complex"
	patternTick   = 1 << 10
	capUnfinished = -1
	capPosition   = -2
	lEsc          = '%'
	specials      = "^$*+?.([%-"
)

// patternError is raised (panicked) inside the matcher and turned into a
// Lua error by the string functions.
type patternError string

type capture struct{ init, len int }

// matchState is one match of pat against src.
type matchState struct {
	src, pat string
	level    int
	capture  [maxCaptures]capture
	depth    int
	steps    int
	tick     func() // called every patternTick steps; raises to stop
}

func (ms *matchState) fail(msg string) { panic(patternError(msg)) }

func (ms *matchState) step() {
	ms.steps++
	if ms.steps&(patternTick-1) == 0 && ms.tick != nil {
		ms.tick()
	}
}

// at returns pat[p], or 0 past its end (the C code's terminating NUL).
func (ms *matchState) at(p int) byte {
	if p < len(ms.pat) {
		return ms.pat[p]
	}
	return 0
}

func (ms *matchState) checkCapture(l byte) int {
	i := int(l) - '1'
	if i < 0 || i >= ms.level || ms.capture[i].len == capUnfinished {
		ms.fail("invalid capture index")
	}
	return i
}

func (ms *matchState) captureToClose() int {
	for l := ms.level - 1; l >= 0; l-- {
		if ms.capture[l].len == capUnfinished {
			return l
		}
	}
	ms.fail("invalid pattern capture")
	return 0
}

// classEnd returns the index just after the single-char class at p.
func (ms *matchState) classEnd(p int) int {
	c := ms.at(p)
	p++
	switch c {
	case lEsc:
		if p >= len(ms.pat) {
			ms.fail("malformed pattern (ends with '%')")
		}
		return p + 1
	case '[':
		if ms.at(p) == '^' {
			p++
		}
		for { // look for a ']'
			if p >= len(ms.pat) {
				ms.fail("malformed pattern (missing ']')")
			}
			c := ms.pat[p]
			p++
			if c == lEsc && p < len(ms.pat) {
				p++ // skip escapes (e.g. '%]')
			}
			if ms.at(p) == ']' {
				break
			}
		}
		return p + 1
	}
	return p
}

func isalpha(c byte) bool  { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isdigit(c byte) bool  { return c >= '0' && c <= '9' }
func islower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isupper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isspace(c byte) bool  { return c == ' ' || c >= '\t' && c <= '\r' }
func iscntrl(c byte) bool  { return c < 32 || c == 127 }
func ispunct(c byte) bool  { return c > 32 && c < 127 && !isalpha(c) && !isdigit(c) }
func isxdigit(c byte) bool { return isdigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// classLetters are the letters of the character classes (%a, %c, …), in
// the order of their bits in classBits.
const classLetters = "acdlpsuwxz"

// classBits has, for each byte, bit i set when the byte is in the class
// classLetters[i]; classBit has, for each class letter in either case, its
// bit (0 for any other byte).
var classBits, classBit = func() (bits [256]uint16, bit [256]uint16) {
	in := [len(classLetters)]func(byte) bool{isalpha, iscntrl, isdigit, islower, ispunct, isspace, isupper,
		func(c byte) bool { return isalpha(c) || isdigit(c) }, isxdigit, func(c byte) bool { return c == 0 }}
	for i, f := range in {
		bit[classLetters[i]] = 1 << i
		bit[classLetters[i]-'a'+'A'] = 1 << i
		for c := range bits {
			if f(byte(c)) {
				bits[c] |= 1 << i
			}
		}
	}
	return bits, bit
}()

// matchClass matches c against the class letter cl (%a: a letter, %A: not
// a letter), or against cl itself when it names no class.
func matchClass(c, cl byte) bool {
	bit := classBit[cl]
	if bit == 0 {
		return cl == c
	}
	return (classBits[c]&bit != 0) == islower(cl)
}

// matchBracketClass matches c against the set pat[p:ec+1] ("[...]", ec at
// the closing bracket).
func (ms *matchState) matchBracketClass(c byte, p, ec int) bool {
	sig := true
	if ms.at(p+1) == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		switch {
		case ms.pat[p] == lEsc:
			p++
			if matchClass(c, ms.at(p)) {
				return sig
			}
		case ms.at(p+1) == '-' && p+2 < ec:
			p += 2
			if ms.pat[p-2] <= c && c <= ms.pat[p] {
				return sig
			}
		case ms.pat[p] == c:
			return sig
		}
	}
	return !sig
}

func (ms *matchState) singleMatch(s, p, ep int) bool {
	if s >= len(ms.src) {
		return false
	}
	c := ms.src[s]
	switch ms.pat[p] {
	case '.':
		return true
	case lEsc:
		return matchClass(c, ms.at(p+1))
	case '[':
		return ms.matchBracketClass(c, p, ep-1)
	}
	return ms.pat[p] == c
}

func (ms *matchState) matchBalance(s, p int) int {
	if p+1 >= len(ms.pat) {
		ms.fail("unbalanced pattern")
	}
	if s >= len(ms.src) || ms.src[s] != ms.pat[p] {
		return -1
	}
	b, e := ms.pat[p], ms.pat[p+1]
	cont := 1
	for s++; s < len(ms.src); s++ {
		ms.step()
		switch ms.src[s] {
		case e:
			if cont--; cont == 0 {
				return s + 1
			}
		case b:
			cont++
		}
	}
	return -1
}

func (ms *matchState) maxExpand(s, p, ep int) int {
	i := 0
	for ms.singleMatch(s+i, p, ep) {
		ms.step()
		i++
	}
	for ; i >= 0; i-- { // try with the most repetitions first
		if res := ms.match(s+i, ep+1); res >= 0 {
			return res
		}
	}
	return -1
}

func (ms *matchState) minExpand(s, p, ep int) int {
	for {
		if res := ms.match(s, ep+1); res >= 0 {
			return res
		}
		if !ms.singleMatch(s, p, ep) {
			return -1
		}
		s++
	}
}

func (ms *matchState) startCapture(s, p, what int) int {
	l := ms.level
	if l >= maxCaptures {
		ms.fail("too many captures")
	}
	ms.capture[l] = capture{s, what}
	ms.level = l + 1
	res := ms.match(s, p)
	if res < 0 {
		ms.level-- // undo the capture
	}
	return res
}

func (ms *matchState) endCapture(s, p int) int {
	l := ms.captureToClose()
	ms.capture[l].len = s - ms.capture[l].init
	res := ms.match(s, p)
	if res < 0 {
		ms.capture[l].len = capUnfinished
	}
	return res
}

func (ms *matchState) matchCapture(s int, l byte) int {
	i := ms.checkCapture(l)
	c := ms.capture[i]
	if len(ms.src)-s >= c.len && ms.src[c.init:c.init+c.len] == ms.src[s:s+c.len] {
		return s + c.len
	}
	return -1
}

// match returns the end of the match of pat[p:] at src[s:], or -1.
func (ms *matchState) match(s, p int) int {
	ms.depth++
	if ms.depth > maxMatchDepth {
		ms.fail("pattern too complex")
	}
	defer func() { ms.depth-- }()
	for {
		ms.step()
		if p >= len(ms.pat) { // end of pattern
			return s
		}
		switch ms.pat[p] {
		case '(':
			if ms.at(p+1) == ')' {
				return ms.startCapture(s, p+2, capPosition)
			}
			return ms.startCapture(s, p+1, capUnfinished)
		case ')':
			return ms.endCapture(s, p+1)
		case '$':
			if p+1 == len(ms.pat) {
				return ms.matchEnd(s)
			}
		case lEsc:
			if ns, np, ok := ms.matchEscape(s, p); ok {
				if ns < 0 {
					return -1
				}
				s, p = ns, np
				continue
			}
		}
		var done bool
		if s, p, done = ms.matchItem(s, p); done {
			return s
		}
	}
}

// matchEnd matches a final '$': the end of src.
func (ms *matchState) matchEnd(s int) int {
	if s == len(ms.src) {
		return s
	}
	return -1
}

// matchEscape matches the escapes at pat[p] that are not a single-char
// class: %b, %f and a back reference. ok is false for any other escape;
// otherwise s is where the match goes on (-1 if it fails) and p the next
// pattern item.
func (ms *matchState) matchEscape(s, p int) (int, int, bool) {
	switch c := ms.at(p + 1); {
	case c == 'b':
		return ms.matchBalance(s, p+2), p + 4, true
	case c == 'f':
		return ms.matchFrontier(s, p+2)
	case isdigit(c):
		return ms.matchCapture(s, c), p + 2, true
	}
	return s, p, false
}

// matchFrontier matches the frontier %f[set] whose set starts at pat[p]:
// the character before s is not in the set and the one at s is. It
// returns s (-1 if it fails) and the item after the set, as matchEscape.
func (ms *matchState) matchFrontier(s, p int) (int, int, bool) {
	if ms.at(p) != '[' {
		ms.fail("missing '[' after '%f' in pattern")
	}
	ep := ms.classEnd(p)
	var prev, cur byte
	if s > 0 {
		prev = ms.src[s-1]
	}
	if s < len(ms.src) {
		cur = ms.src[s]
	}
	if ms.matchBracketClass(prev, p, ep-1) || !ms.matchBracketClass(cur, p, ep-1) {
		return -1, ep, true
	}
	return s, ep, true
}

// matchItem matches the single-char class at pat[p], maybe with a
// repetition suffix. With done set, s is the end of the whole match (or
// -1); without, s and p are where the match goes on.
func (ms *matchState) matchItem(s, p int) (int, int, bool) {
	ep := ms.classEnd(p)
	m := ms.singleMatch(s, p, ep)
	switch ms.at(ep) {
	case '?':
		if m {
			if res := ms.match(s+1, ep+1); res >= 0 {
				return res, 0, true
			}
		}
		return s, ep + 1, false
	case '*':
		return ms.maxExpand(s, p, ep), 0, true
	case '+':
		if !m {
			return -1, 0, true
		}
		return ms.maxExpand(s+1, p, ep), 0, true
	case '-':
		return ms.minExpand(s, p, ep), 0, true
	}
	if !m {
		return -1, 0, true
	}
	return s + 1, ep, false
}

// find runs the pattern from init on (the loop of str_find_aux). It
// returns the start and end of the first match, or -1.
func (ms *matchState) find(init int) (start, end int) {
	p := 0
	anchor := ms.at(0) == '^'
	if anchor {
		p = 1
	}
	for s := init; s <= len(ms.src); s++ {
		ms.level = 0
		if e := ms.match(s, p); e >= 0 {
			return s, e
		}
		if anchor {
			break
		}
	}
	return -1, -1
}

// captureValue returns capture i of a match of src[s:e]: a string, or a
// position (1-based) for a position capture.
func (ms *matchState) captureValue(i, s, e int) (str string, pos int, isPos bool) {
	if i >= ms.level {
		if i != 0 {
			ms.fail("invalid capture index")
		}
		return ms.src[s:e], 0, false
	}
	c := ms.capture[i]
	switch c.len {
	case capUnfinished:
		ms.fail("unfinished capture")
	case capPosition:
		return "", c.init + 1, true
	}
	return ms.src[c.init : c.init+c.len], 0, false
}

// nCaptures is how many values a match pushes (the whole match when the
// pattern has no captures and wholeMatch is set).
func (ms *matchState) nCaptures(wholeMatch bool) int {
	if ms.level == 0 && wholeMatch {
		return 1
	}
	return ms.level
}

// noSpecials tells whether pat can be searched for plainly.
func noSpecials(pat string) bool {
	return !bytes.ContainsAny([]byte(pat), specials)
}
