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

	glua "github.com/yuin/gopher-lua"
)

const maxJSONDepth = 100

// jsonModule is require("monsta.json").
func jsonModule(s *state) *glua.LTable {
	return s.L.SetFuncs(s.L.NewTable(), map[string]glua.LGFunction{
		"encode": jsonEncode,
		"decode": jsonDecode,
	})
}

// jsonEncode lua json.encode(value) returns (text) or (nil, err). Tables
// with keys 1..n are arrays, other tables objects; an empty table is {}.
func jsonEncode(L *glua.LState) int {
	v, err := toGo(L.CheckAny(1), 0)
	if err != nil {
		return pushErr(L, fmt.Errorf("json.encode: %w", err))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return pushErr(L, fmt.Errorf("json.encode: %w", err))
	}
	L.Push(glua.LString(bytes.TrimRight(b.Bytes(), "\n")))
	return 1
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

// toGo converts a Lua value for encoding/json.
func toGo(v glua.LValue, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("nested too deeply (or a cycle)")
	}
	switch x := v.(type) {
	case *glua.LNilType:
		return nil, nil
	case glua.LBool:
		return bool(x), nil
	case glua.LNumber:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v cannot be encoded", f)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1e15 {
			return int64(f), nil
		}
		return f, nil
	case glua.LString:
		return string(x), nil
	case *glua.LTable:
		n := x.Len()
		count := 0
		x.ForEach(func(_, _ glua.LValue) { count++ })
		if n > 0 && count == n {
			arr := make([]any, n)
			for i := 1; i <= n; i++ {
				e, err := toGo(x.RawGetInt(i), depth+1)
				if err != nil {
					return nil, err
				}
				arr[i-1] = e
			}
			return arr, nil
		}
		obj := make(map[string]any, count)
		var err error
		x.ForEach(func(k, val glua.LValue) {
			if err != nil {
				return
			}
			var key string
			switch kk := k.(type) {
			case glua.LString:
				key = string(kk)
			case glua.LNumber:
				key = kk.String()
			default:
				err = fmt.Errorf("object key of type %s", k.Type())
				return
			}
			obj[key], err = toGo(val, depth+1)
		})
		return obj, err
	}
	return nil, fmt.Errorf("value of type %s cannot be encoded", v.Type())
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
