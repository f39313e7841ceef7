package lua

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/internal/textx"
)

const maxJSONDepth = 100

// jsonModule is require("monsta.json").
func jsonModule(s *state) *glua.LTable {
	return s.L.SetFuncs(s.L.NewTable(), map[string]glua.LGFunction{
		"encode": s.jsonEncode,
		"decode": s.jsonDecode,
	})
}

// jsonEncode lua json.encode(value) returns (text) or (nil, err). Tables
// with keys 1..n are arrays, other tables objects; an empty table is {}.
// The text is limited to maxString bytes and the encoder checks the run's
// deadline as it goes: a table referring to itself twice per level
// (for i = 1, 40 do t = {t, t} end) would otherwise expand to 2^40 values.
func (s *state) jsonEncode(L *glua.LState) int {
	e := jsonEncoder{tick: s.tick, g: s.guard("json.encode", 0)}
	if err := e.value(L.CheckAny(1), 0); err != nil {
		return pushErr(L, fmt.Errorf("json.encode: %w", err))
	}
	L.Push(glua.LString(e.b))
	return 1
}

// jsonEncoder writes JSON as encoding/json would (compact, keys sorted, no
// HTML escaping).
type jsonEncoder struct {
	b     []byte
	g     sizeGuard // the run's budget; maxString is checked as it goes
	tick  func()
	steps int
	path  []*glua.LTable // tables being encoded, to tell a cycle
}

var errJSONSize = fmt.Errorf("result larger than %d bytes", maxString)

func (e *jsonEncoder) value(v glua.LValue, depth int) error {
	if e.steps++; e.steps&(patternTick-1) == 0 && e.tick != nil {
		e.tick()
	}
	if len(e.b) > maxString {
		return errJSONSize
	}
	switch x := v.(type) {
	case *glua.LNilType:
		e.b = append(e.b, "null"...)
	case glua.LBool:
		e.b = strconv.AppendBool(e.b, bool(x))
	case glua.LNumber:
		return e.number(float64(x))
	case glua.LString:
		e.str(string(x))
	case *glua.LTable:
		return e.table(x, depth)
	default:
		return fmt.Errorf("value of type %s cannot be encoded", v.Type())
	}
	return nil
}

func (e *jsonEncoder) number(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%v cannot be encoded", f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		e.b = strconv.AppendInt(e.b, int64(f), 10)
		return nil
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if n := len(e.b); format == 'e' && n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
		e.b[n-2] = e.b[n-1] // e-09 → e-9
		e.b = e.b[:n-1]
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// str writes s quoted like encoding/json (invalid UTF-8 becomes U+FFFD).
// What the buffer will hold is checked first: at least s and its quotes,
// in a buffer that doubles when it grows.
func (e *jsonEncoder) str(s string) {
	if n := len(e.b) + len(s) + 2; n > cap(e.b) {
		if n > maxString {
			e.g.L().RaiseError("json.encode: %s", errJSONSize.Error())
		}
		e.g.need(int64(max(n, 2*cap(e.b))))
	}
	e.b = append(e.b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				e.b = append(e.b, '\\', c)
			case c == '\n':
				e.b = append(e.b, '\\', 'n')
			case c == '\r':
				e.b = append(e.b, '\\', 'r')
			case c == '\t':
				e.b = append(e.b, '\\', 't')
			case c < 0x20:
				e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				e.b = append(e.b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			e.b = append(e.b, "\\ufffd"...)
		case r == '\u2028' || r == '\u2029':
			e.b = append(e.b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			e.b = append(e.b, s[i:i+size]...)
		}
		i += size
	}
	e.b = append(e.b, '"')
}

func (e *jsonEncoder) table(t *glua.LTable, depth int) error {
	if depth >= maxJSONDepth {
		return errors.New("nested too deeply")
	}
	for _, p := range e.path {
		if p == t {
			return errors.New("a table contains itself")
		}
	}
	e.path = append(e.path, t)
	defer func() { e.path = e.path[:len(e.path)-1] }()
	n := t.Len()
	count := 0
	t.ForEach(func(_, _ glua.LValue) { count++ })
	if n > 0 && count == n {
		e.b = append(e.b, '[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				e.b = append(e.b, ',')
			}
			if err := e.value(t.RawGetInt(i), depth+1); err != nil {
				return err
			}
		}
		e.b = append(e.b, ']')
		return nil
	}
	type kv struct {
		k string
		v glua.LValue
	}
	fields := make([]kv, 0, count)
	var err error
	t.ForEach(func(k, v glua.LValue) {
		switch kk := k.(type) {
		case glua.LString:
			fields = append(fields, kv{string(kk), v})
		case glua.LNumber:
			fields = append(fields, kv{kk.String(), v})
		default:
			if err == nil {
				err = fmt.Errorf("object key of type %s", k.Type())
			}
		}
	})
	if err != nil {
		return err
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].k < fields[j].k })
	e.b = append(e.b, '{')
	for i, f := range fields {
		if i > 0 && f.k == fields[i-1].k {
			continue // 1 and "1": keep one
		}
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(f.k)
		e.b = append(e.b, ':')
		if err := e.value(f.v, depth+1); err != nil {
			return err
		}
	}
	e.b = append(e.b, '}')
	return nil
}

// jsonCost is what decoded values cost the run, as the budget counts
// them, charged before each is made.
const (
	jsonCostTable = 128 // a table, with room for a few entries
	jsonCostSlot  = 48  // one more entry of an array or an object
)

// jsonDecode lua json.decode(text) returns (value) or (nil, err); null
// becomes nil. A text over 16 MiB is refused before it is read, and the
// values are built one by one, each charged to the run's memory budget
// before it is made, so that no text (a 15 MB "[[],[],…]" would make
// five million tables) takes the run past its budget.
func (s *state) jsonDecode(L *glua.LState) int {
	text := L.CheckString(1)
	if len(text) > maxString {
		L.RaiseError("json.decode: text larger than %s (%s)", textx.Bytes(maxString), textx.Bytes(int64(len(text))))
	}
	d := jsonDecoder{dec: json.NewDecoder(strings.NewReader(text)), L: L, g: s.guard("json.decode", 0), tick: s.tick}
	d.dec.UseNumber()
	v, err := d.next(0)
	if err != nil {
		return pushErr(L, fmt.Errorf("json.decode: %w", err))
	}
	L.Push(v)
	return 1
}

// jsonDecoder builds Lua values from the tokens of a JSON text.
type jsonDecoder struct {
	dec   *json.Decoder
	L     *glua.LState
	g     sizeGuard
	used  int64 // bytes charged so far
	tick  func()
	steps int
}

// charge counts n more bytes, failing the run beyond its budget.
func (d *jsonDecoder) charge(n int64) {
	d.used += n
	d.g.need(d.used)
	if d.steps++; d.steps&(patternTick-1) == 0 {
		d.tick()
	}
}

// next reads one value.
func (d *jsonDecoder) next(depth int) (glua.LValue, error) {
	tok, err := d.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return glua.LNil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		if depth >= maxJSONDepth {
			return glua.LNil, errors.New("nested too deeply")
		}
		if x == '[' {
			return d.array(depth + 1)
		}
		return d.object(depth + 1)
	case string:
		d.charge(int64(len(x)) + sizeString)
		return glua.LString(x), nil
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		return glua.LNumber(f), nil
	case bool:
		return glua.LBool(x), nil
	}
	return glua.LNil, nil
}

// array reads the elements after a '['.
func (d *jsonDecoder) array(depth int) (glua.LValue, error) {
	d.charge(jsonCostTable)
	t := d.L.CreateTable(0, 0)
	for d.dec.More() {
		d.charge(jsonCostSlot)
		v, err := d.next(depth)
		if err != nil {
			return glua.LNil, err
		}
		t.Append(v)
	}
	_, err := d.dec.Token() // ']'
	return t, err
}

// object reads the members after a '{'.
func (d *jsonDecoder) object(depth int) (glua.LValue, error) {
	d.charge(jsonCostTable)
	t := d.L.CreateTable(0, 0)
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return glua.LNil, err
		}
		k, _ := tok.(string)
		d.charge(jsonCostSlot + int64(len(k)) + sizeString)
		v, err := d.next(depth)
		if err != nil {
			return glua.LNil, err
		}
		t.RawSetString(k, v)
	}
	_, err := d.dec.Token() // '}'
	return t, err
}

// logModule is require("monsta.log"): debug, info, warn and error, each
// log(message, key, value, …) or log(message, {key=value, …}); messages,
// keys and values lose the secrets of the run's section (logLine).
func logModule(s *state) *glua.LTable {
	mk := func(level slog.Level) glua.LGFunction {
		return func(L *glua.LState) int {
			msg := L.CheckString(1)
			var attrs []any
			add := func(k, v glua.LValue) {
				if len(attrs) < 2*maxLogAttrs {
					attrs = append(attrs, s.red.clean(k.String()), s.red.logValue(v))
				}
			}
			if t, ok := L.Get(2).(*glua.LTable); ok && L.GetTop() == 2 {
				t.ForEach(add)
			} else {
				for i := 2; i <= L.GetTop(); i += 2 {
					add(L.Get(i), L.Get(i+1))
				}
			}
			s.logLine(level, msg, attrs...)
			return 0
		}
	}
	return s.L.SetFuncs(s.L.NewTable(), map[string]glua.LGFunction{
		"debug": mk(slog.LevelDebug),
		"info":  mk(slog.LevelInfo),
		"warn":  mk(slog.LevelWarn),
		"error": mk(slog.LevelError),
	})
}

// logValue is v as a log attribute: numbers, booleans and nil as they
// are, other values as text without r's secrets, clipped and cleaned.
func (r *redactor) logValue(v glua.LValue) any {
	switch x := v.(type) {
	case glua.LNumber:
		return float64(x)
	case glua.LBool:
		return bool(x)
	case *glua.LNilType:
		return nil
	}
	return r.clean(v.String())
}
