package lua

import (
	"github.com/yuin/gopher-lua/ast"
)

// maxNesting is how deeply blocks and expressions may nest in a chunk,
// LUAI_MAXCCALLS of Lua 5.1. gopher-lua's parser keeps its own stack, but
// its compiler recurses once per level: a file of 2,000,000 "{" overflows
// the Go stack, and that is fatal, not an error anyone can recover from.
// So every chunk is measured before it is compiled, by a walk that
// descends no deeper than maxNesting itself. An elseif does not count as a
// level (it does not in Lua either).
const maxNesting = 200

// nestingError is the position where a chunk nests too deeply.
type nestingError struct{ line int }

func (e *nestingError) Error() string { return "chunk has too many syntax levels" }

// checkNesting returns a *nestingError when chunk nests deeper than
// maxNesting.
func checkNesting(chunk []ast.Stmt) error {
	w := nestWalker{}
	w.stmts(chunk, 0)
	if w.line != 0 {
		return &nestingError{line: w.line}
	}
	return nil
}

type nestWalker struct {
	line int // line of the first level too deep; 0: none
}

// deep reports whether depth is too deep, recording line the first time.
func (w *nestWalker) deep(depth, line int) bool {
	if w.line != 0 {
		return true
	}
	if depth > maxNesting {
		w.line = max(line, 1)
		return true
	}
	return false
}

func (w *nestWalker) stmts(list []ast.Stmt, depth int) {
	for _, s := range list {
		w.stmt(s, depth)
	}
}

func (w *nestWalker) exprs(list []ast.Expr, depth int) {
	for _, e := range list {
		w.expr(e, depth)
	}
}

func (w *nestWalker) stmt(s ast.Stmt, depth int) {
	if s == nil || w.deep(depth, s.Line()) {
		return
	}
	d := depth + 1
	switch x := s.(type) {
	case *ast.AssignStmt:
		w.exprs(x.Lhs, d)
		w.exprs(x.Rhs, d)
	case *ast.LocalAssignStmt:
		w.exprs(x.Exprs, d)
	case *ast.FuncCallStmt:
		w.expr(x.Expr, d)
	case *ast.DoBlockStmt:
		w.stmts(x.Stmts, d)
	case *ast.WhileStmt:
		w.expr(x.Condition, d)
		w.stmts(x.Stmts, d)
	case *ast.RepeatStmt:
		w.expr(x.Condition, d)
		w.stmts(x.Stmts, d)
	case *ast.IfStmt:
		for { // an elseif chain is a loop, not a level each
			w.expr(x.Condition, d)
			w.stmts(x.Then, d)
			next, ok := elseIf(x.Else)
			if !ok {
				w.stmts(x.Else, d)
				break
			}
			x = next
		}
	case *ast.NumberForStmt:
		w.expr(x.Init, d)
		w.expr(x.Limit, d)
		w.expr(x.Step, d)
		w.stmts(x.Stmts, d)
	case *ast.GenericForStmt:
		w.exprs(x.Exprs, d)
		w.stmts(x.Stmts, d)
	case *ast.FuncDefStmt:
		if x.Name != nil {
			w.expr(x.Name.Func, d)
			w.expr(x.Name.Receiver, d)
		}
		w.expr(x.Func, d)
	case *ast.ReturnStmt:
		w.exprs(x.Exprs, d)
	}
}

// elseIf returns the IfStmt of an "elseif" (an else block holding just
// one if statement).
func elseIf(list []ast.Stmt) (*ast.IfStmt, bool) {
	if len(list) != 1 {
		return nil, false
	}
	x, ok := list[0].(*ast.IfStmt)
	return x, ok
}

func (w *nestWalker) expr(e ast.Expr, depth int) {
	if e == nil || w.deep(depth, e.Line()) {
		return
	}
	d := depth + 1
	switch x := e.(type) {
	case *ast.AttrGetExpr:
		w.expr(x.Object, d)
		w.expr(x.Key, d)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			w.expr(f.Key, d)
			w.expr(f.Value, d)
		}
	case *ast.FuncCallExpr:
		w.expr(x.Func, d)
		w.expr(x.Receiver, d)
		w.exprs(x.Args, d)
	case *ast.LogicalOpExpr:
		w.expr(x.Lhs, d)
		w.expr(x.Rhs, d)
	case *ast.RelationalOpExpr:
		w.expr(x.Lhs, d)
		w.expr(x.Rhs, d)
	case *ast.StringConcatOpExpr:
		leftNest(x)
		w.expr(x.Lhs, d)
		w.expr(x.Rhs, d)
	case *ast.ArithmeticOpExpr:
		w.expr(x.Lhs, d)
		w.expr(x.Rhs, d)
	case *ast.UnaryMinusOpExpr:
		w.expr(x.Expr, d)
	case *ast.UnaryNotOpExpr:
		w.expr(x.Expr, d)
	case *ast.UnaryLenOpExpr:
		w.expr(x.Expr, d)
	case *ast.FunctionExpr:
		w.stmts(x.Stmts, d)
	}
}

// leftNest turns the chain a .. b .. c .. d, which gopher-lua compiles to
// one instruction concatenating every operand at once, into
// ((a .. b) .. c) .. d, one instruction per operand, as if the user had
// written the parentheses. Between two instructions the run's deadline and
// memory budget are checked, so a chain over large strings stops once it
// is beyond the budget instead of allocating all of it in one step. The
// result is the same for strings and numbers; with __concat metamethods
// the pairs are taken from the left.
func leftNest(x *ast.StringConcatOpExpr) {
	ops := []ast.Expr{x.Lhs}
	nodes := []*ast.StringConcatOpExpr{x}
	cur := x.Rhs
	for {
		c, ok := cur.(*ast.StringConcatOpExpr)
		if !ok {
			break
		}
		ops = append(ops, c.Lhs)
		nodes = append(nodes, c)
		cur = c.Rhs
	}
	ops = append(ops, cur)
	if len(ops) <= 2 {
		return
	}
	left := ops[0]
	for i := 1; i < len(ops)-1; i++ {
		n := nodes[i]
		n.Lhs, n.Rhs = left, ops[i]
		left = n
	}
	x.Lhs, x.Rhs = left, ops[len(ops)-1]
}
