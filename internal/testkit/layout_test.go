// Package testkit_test pins the layering docs/architecture.md describes:
// imports point down, plug-ins see only runtime's contract, and test fakes
// never reach a shipped binary.
package testkit_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/monsta/monsta/"

// goList runs go list with a template over pkgs and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Fields(string(out))
}

func TestLayering(t *testing.T) {
	tests := []struct {
		name      string
		args      []string // go list arguments
		forbidden string   // no line may start with module+forbidden
		allowed   []string // … but these packages (module+allowed) may
	}{
		{name: "plug-ins never reach the engine", forbidden: "runtime/engine",
			args: []string{"-deps", "./builtins", "./lua"}},
		{name: "the shipped binaries hold no test fake", forbidden: "internal/testkit",
			args: []string{"-deps", "./cmd/monsta", "./cmd/monsta-bench"}},
		{name: "no file under lua/ imports config", forbidden: "config",
			args: []string{"-f", "{{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./lua"}},
		// The leaf helpers that read files (fileread) and render sizes
		// (textx) are shared with lua, which must not import config; they
		// import nothing of monsta but each other.
		{name: "config reaches nothing of monsta but two leaf helpers", forbidden: "",
			allowed: []string{"config", "internal/fileread", "internal/textx"},
			args:    []string{"-deps", "./config"}},
		{name: "runtime never imports its engine", forbidden: "runtime/engine",
			args: []string{"-f", "{{join .Imports \" \"}}", "./runtime"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range goList(t, tc.args...) {
				if strings.HasPrefix(p, module+tc.forbidden) && !slices.Contains(tc.allowed, strings.TrimPrefix(p, module)) {
					t.Errorf("%s: reaches %s", strings.Join(tc.args, " "), p)
				}
			}
		})
	}
}
