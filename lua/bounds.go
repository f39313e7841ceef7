package lua

import (
	"fmt"
	"reflect"
	"strings"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"

	"github.com/monsta/monsta/internal/textx"
)

// Every library call that builds something (a string, a table) checks the
// size of what it would build before it builds it: against maxString for
// one result, and against what is left of the run's memory budget. The VM
// checks the budget only between instructions, and one library call is
// one instruction.

// measureFrom is the size from which a call measures what the run holds
// (a walk of its data) to compare with its budget; smaller results only
// check maxString.
const measureFrom = 1 << 20

// sizeGuard bounds what one library call builds.
type sizeGuard struct {
	s     *state
	what  string // "string.rep"; "" for the .. operator
	limit int64  // the one-result cap; 0: only the budget
	room  int64  // bytes the budget has left; -1: not measured yet
}

// guard starts the bounds of one call named what whose result is capped
// at limit bytes (0: the run's budget only).
func (s *state) guard(what string, limit int64) sizeGuard {
	return sizeGuard{s: s, what: what, limit: limit, room: -1}
}

// need raises the call's error, before anything is allocated, when its
// result would be n bytes: more than its cap, or more than the run's
// memory budget has left.
func (g *sizeGuard) need(n int64) {
	L := g.s.L
	if g.limit > 0 && n > g.limit {
		L.RaiseError("%s: result larger than %s (%s)", g.name(), textx.Bytes(g.limit), textx.Bytes(n))
	}
	if n < measureFrom {
		return
	}
	if g.room < 0 {
		g.room = g.s.budgetRoom()
	}
	if n > g.room {
		// The run fails for its memory even if the code catches the
		// error with pcall: the VM stops at the next instruction.
		err := fmt.Errorf("%w: %s of %s would take the run past its %s", ErrMemory, g.name(), textx.Bytes(n), textx.Bytes(g.s.budget.limit))
		g.s.budget.err, g.s.budget.where = err, strings.TrimSuffix(L.Where(1), ":")
		L.RaiseError("%s", err.Error())
	}
}

// L is the state of the guarded call.
func (g *sizeGuard) L() *glua.LState { return g.s.L }

func (g *sizeGuard) name() string {
	if g.what == "" {
		return "concatenation"
	}
	return g.what
}

// budgetRoom is how many bytes the running call may still build: the
// run's budget less what the run holds now. Without a budget it is
// unlimited (the one-result caps still apply).
func (s *state) budgetRoom() int64 {
	b := &s.budget
	if b.limit <= 0 || b.Context == nil {
		return 1 << 62
	}
	z := &s.size
	own := z.measure(s, z.base+b.limit) - z.base
	return max(b.limit-max(own, 0), 0)
}

// concatName is the name of the bounded concatenation, as a global and as
// the local every chunk starts with; it is no Lua identifier, so no code
// can name or shadow it.
const concatName = "monsta concat"

// baseConcat is the a .. b operator: compile turns every concatenation
// into a call of it. Strings and numbers are joined after their size was
// checked against the run's budget; otherwise the __concat metamethod of a
// or b is called, as Lua does.
func (s *state) baseConcat(L *glua.LState) int {
	a, b := L.Get(1), L.Get(2)
	if glua.LVCanConvToString(a) && glua.LVCanConvToString(b) {
		as, bs := glua.LVAsString(a), glua.LVAsString(b)
		g := s.guard("", 0)
		g.need(int64(len(as)) + int64(len(bs)))
		L.Push(glua.LString(as + bs))
		return 1
	}
	op := L.GetMetaField(a, "__concat")
	if op == glua.LNil {
		op = L.GetMetaField(b, "__concat")
	}
	if op.Type() != glua.LTFunction {
		L.RaiseError("cannot perform concat operation between %v and %v", a.Type().String(), b.Type().String())
	}
	L.Push(op)
	L.Push(a)
	L.Push(b)
	L.Call(2, 1)
	return 1
}

var exprType = reflect.TypeFor[ast.Expr]()

// guardConcat replaces every a .. b of chunk by a call of baseConcat (one
// value, never a tail call), and makes the chunk start with
// local <concatName> = <concatName>, so that the call costs a register or
// an upvalue, not a global lookup.
func guardConcat(chunk []ast.Stmt) []ast.Stmt {
	rewriteConcat(reflect.ValueOf(chunk))
	decl := &ast.LocalAssignStmt{Names: []string{concatName}, Exprs: []ast.Expr{&ast.IdentExpr{Value: concatName}}}
	return append([]ast.Stmt{decl}, chunk...)
}

// rewriteConcat walks an AST value; checkNesting has bounded its depth.
func rewriteConcat(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		if c, ok := v.Interface().(*ast.StringConcatOpExpr); ok && v.Type() == exprType && v.CanSet() {
			rewriteConcat(reflect.ValueOf(c).Elem())
			call := &ast.FuncCallExpr{Func: &ast.IdentExpr{Value: concatName}, Args: []ast.Expr{c.Lhs, c.Rhs}, AdjustRet: true}
			call.SetLine(c.Line())
			call.SetLastLine(c.LastLine())
			call.Func.SetLine(c.Line())
			v.Set(reflect.ValueOf(call))
			return
		}
		rewriteConcat(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				rewriteConcat(f)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			rewriteConcat(v.Index(i))
		}
	}
}
