package lua

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	glua "github.com/yuin/gopher-lua"
)

const maxJSONDepth = 100

// jsonModule is require("monsta.json").
func jsonModule(s *state) *glua.LTable {
	return s.L.SetFuncs(s.L.NewTable(), map[string]glua.LGFunction{
		"encode": s.jsonEncode,
		"decode": jsonDecode,
	})
}

// jsonEncode lua json.encode(value) returns (text) or (nil, err). Tables
// with keys 1..n are arrays, other tables objects; an empty table is {}.
// The text is limited to maxString bytes and the encoder checks the run's
// deadline as it goes: a table referring to itself twice per level
// (for i = 1, 40 do t = {t, t} end) would otherwise expand to 2^40 values.
func (s *state) jsonEncode(L *glua.LState) int {
	e := jsonEncoder{tick: s.tick}
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
func (e *jsonEncoder) str(s string) {
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

// jsonDecode lua json.decode(text) returns (value) or (nil, err); null
// becomes nil.
func jsonDecode(L *glua.LState) int {
	dec := json.NewDecoder(bytes.NewReader([]byte(L.CheckString(1))))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return pushErr(L, fmt.Errorf("json.decode: %w", err))
	}
	L.Push(fromGo(L, v))
	return 1
}

// fromGo converts decoded JSON (with json.Number) to Lua.
func fromGo(L *glua.LState, v any) glua.LValue {
	switch x := v.(type) {
	case nil:
		return glua.LNil
	case bool:
		return glua.LBool(x)
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		return glua.LNumber(f)
	case float64:
		return glua.LNumber(x)
	case string:
		return glua.LString(x)
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(fromGo(L, e))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.RawSetString(k, fromGo(L, x[k]))
		}
		return t
	}
	return glua.LString(fmt.Sprint(v))
}

// logModule is require("monsta.log"): debug, info, warn and error, each
// log(message, key, value, …) or log(message, {key=value, …}).
func logModule(s *state) *glua.LTable {
	mk := func(level slog.Level) glua.LGFunction {
		return func(L *glua.LState) int {
			msg := L.CheckString(1)
			attrs := []any{"file", s.f.name}
			if t, ok := L.Get(2).(*glua.LTable); ok && L.GetTop() == 2 {
				t.ForEach(func(k, v glua.LValue) { attrs = append(attrs, k.String(), logValue(v)) })
			} else {
				for i := 2; i <= L.GetTop(); i += 2 {
					attrs = append(attrs, L.Get(i).String(), logValue(L.Get(i+1)))
				}
			}
			s.f.e.log.Log(s.ctx(), level, msg, attrs...)
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

func logValue(v glua.LValue) any {
	switch x := v.(type) {
	case glua.LNumber:
		return float64(x)
	case glua.LBool:
		return bool(x)
	case *glua.LNilType:
		return nil
	}
	return v.String()
}
