package lua

import (
	"fmt"
	"reflect"

	"github.com/yuin/gopher-lua/ast"

	"github.com/monsta/monsta/internal/fileread"
)

// Compiling cannot be interrupted, and gopher-lua's compiler looks every
// constant up in a list (a function of n constants costs n² steps: 120,000
// constants took 27-44 s). So what it compiles is bounded first: a .lua
// file's size, and the constants of each function.
const (
	// MaxSourceSize is the largest .lua file (or library) loaded.
	MaxSourceSize = 256 << 10
	// maxConstants is how many literals and names one function may hold.
	maxConstants = 5000
)

// ErrFileTooLarge is the error of a .lua file over its size limit (the
// same error as config.ErrFileTooLarge).
var ErrFileTooLarge = fileread.ErrTooLarge

// readSource reads a .lua file that must be a regular file of at most max
// bytes; anything else (a FIFO, a device, a directory) is refused without
// being read, so that it can neither block nor exhaust memory (see
// fileread.Read).
func readSource(path string, max int64) ([]byte, error) {
	data, err := fileread.Read(path, max, "the limit of a .lua file")
	if err != nil && !fileread.Refused(err) {
		return nil, fmt.Errorf("read: %w", err)
	}
	return data, err
}

// sourceLimit is the size limit of a file: MaxSourceSize, or the smaller
// limit of the configuration files (--max-file-size).
func (e *Engine) sourceLimit() int64 {
	if m := e.cfg.MaxFileSize; m > 0 && m < MaxSourceSize {
		return m
	}
	return MaxSourceSize
}

// constantsError is the position where a function has more constants
// than maxConstants.
type constantsError struct{ line int }

func (e *constantsError) Error() string {
	return fmt.Sprintf("function has more than %d constants (literals and names); split it, or keep the data in a file the check reads", maxConstants)
}

// checkConstants returns a *constantsError when a function of chunk has
// more than maxConstants literals and names (counted where they occur, as
// the compiler looks each one up). checkNesting has bounded the depth.
func checkConstants(chunk []ast.Stmt) error {
	c := constCounter{}
	c.walk(reflect.ValueOf(chunk))
	if c.line != 0 {
		return &constantsError{line: c.line}
	}
	return nil
}

type constCounter struct {
	n    int // constants of the function being walked
	line int // where the first function went over; 0: none
}

func (c *constCounter) walk(v reflect.Value) {
	if c.line != 0 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		c.node(v)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanInterface() {
				c.walk(f)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			c.walk(v.Index(i))
		}
	}
}

// node counts a constant, or walks a function on a count of its own.
func (c *constCounter) node(v reflect.Value) {
	switch x := v.Interface().(type) {
	case *ast.FunctionExpr:
		outer := c.n
		c.n = 0
		c.walk(reflect.ValueOf(x).Elem())
		c.n = outer
		return
	case *ast.StringExpr, *ast.NumberExpr, *ast.IdentExpr:
		if c.n++; c.n > maxConstants {
			c.line = max(x.(ast.Expr).Line(), 1)
		}
		return
	case *ast.FuncCallExpr:
		if x.Method != "" {
			c.n++
		}
	}
	c.walk(v.Elem())
}
