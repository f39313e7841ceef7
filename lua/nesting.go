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
	for _, s := range chunk {
		w.walk(s, 0)
	}
	if w.line != 0 {
		return &nestingError{line: w.line}
	}
	return nil
}

type nestWalker struct {
	line int // line of the first level too deep; 0: none
}

// node is a statement or an expression.
type node interface{ Line() int }

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

// walk measures n at depth and, unless that is too deep, its children one
// level deeper.
func (w *nestWalker) walk(n node, depth int) {
	if n == nil || w.deep(depth, n.Line()) {
		return
	}
	child := func(c node) { w.walk(c, depth+1) }
	switch x := n.(type) {
	case ast.Stmt:
		stmtChildren(x, child)
	case ast.Expr:
		exprChildren(x, child)
	}
}

// each calls child for every node of list.
func each[T node](list []T, child func(node)) {
	for _, n := range list {
		child(n)
	}
}

// stmtChildren calls child for each statement and expression s holds.
func stmtChildren(s ast.Stmt, child func(node)) {
	switch x := s.(type) {
	case *ast.AssignStmt:
		each(x.Lhs, child)
		each(x.Rhs, child)
	case *ast.LocalAssignStmt:
		each(x.Exprs, child)
	case *ast.FuncCallStmt:
		child(x.Expr)
	case *ast.DoBlockStmt:
		each(x.Stmts, child)
	case *ast.WhileStmt:
		child(x.Condition)
		each(x.Stmts, child)
	case *ast.RepeatStmt:
		child(x.Condition)
		each(x.Stmts, child)
	case *ast.IfStmt:
		ifChildren(x, child)
	case *ast.NumberForStmt:
		each([]ast.Expr{x.Init, x.Limit, x.Step}, child)
		each(x.Stmts, child)
	case *ast.GenericForStmt:
		each(x.Exprs, child)
		each(x.Stmts, child)
	case *ast.FuncDefStmt:
		if x.Name != nil {
			child(x.Name.Func)
			child(x.Name.Receiver)
		}
		child(x.Func)
	case *ast.ReturnStmt:
		each(x.Exprs, child)
	}
}

// ifChildren is stmtChildren for an if statement: an elseif chain is a
// loop, not a level each.
func ifChildren(x *ast.IfStmt, child func(node)) {
	for {
		child(x.Condition)
		each(x.Then, child)
		next, ok := elseIf(x.Else)
		if !ok {
			each(x.Else, child)
			return
		}
		x = next
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

// exprChildren calls child for each expression and statement e holds.
func exprChildren(e ast.Expr, child func(node)) {
	switch x := e.(type) {
	case *ast.AttrGetExpr:
		child(x.Object)
		child(x.Key)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			child(f.Key)
			child(f.Value)
		}
	case *ast.FuncCallExpr:
		child(x.Func)
		child(x.Receiver)
		each(x.Args, child)
	case *ast.LogicalOpExpr:
		child(x.Lhs)
		child(x.Rhs)
	case *ast.RelationalOpExpr:
		child(x.Lhs)
		child(x.Rhs)
	case *ast.StringConcatOpExpr:
		leftNest(x)
		child(x.Lhs)
		child(x.Rhs)
	case *ast.ArithmeticOpExpr:
		child(x.Lhs)
		child(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		child(x.Expr)
	case *ast.UnaryNotOpExpr:
		child(x.Expr)
	case *ast.UnaryLenOpExpr:
		child(x.Expr)
	case *ast.FunctionExpr:
		each(x.Stmts, child)
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
