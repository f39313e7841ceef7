package lua

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"syscall"

	"github.com/yuin/gopher-lua/ast"
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

// ErrFileTooLarge is the error of a .lua file over its size limit.
var ErrFileTooLarge = errors.New("file too large")

// readSource reads a .lua file that must be a regular file of at most max
// bytes. Anything else (a FIFO, a device, a directory) is refused without
// being read, so that it can neither block nor exhaust memory: the path is
// checked, opened without blocking, and checked again through the open
// descriptor.
func readSource(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read: %w", pathCause(err))
	}
	if err := sourceFile(fi, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read: %w", pathCause(err))
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("read: %w", pathCause(err))
	}
	if err := sourceFile(fi, max); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", pathCause(err))
	}
	if int64(len(data)) > max { // it grew since the check
		return nil, fmt.Errorf("%w: more than %s, the limit of a .lua file", ErrFileTooLarge, sizeText(max))
	}
	return data, nil
}

// sourceFile refuses what readSource must not read.
func sourceFile(fi fs.FileInfo, max int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (mode %s); only regular files (or links to them) are loaded", fi.Mode().Type())
	}
	if fi.Size() > max {
		return fmt.Errorf("%w: %d bytes, more than %s, the limit of a .lua file", ErrFileTooLarge, fi.Size(), sizeText(max))
	}
	return nil
}

// pathCause drops the path of a *fs.PathError: the error is shown beside
// the file's name already.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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
