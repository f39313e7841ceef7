package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/runtime"
)

var update = flag.Bool("update", false, "rewrite docs/types.md and the help golden files")

// TestTypesReference keeps docs/types.md equal to what the descriptors say
// (go test ./cmd/monsta -run TestTypesReference -update rewrites it).
func TestTypesReference(t *testing.T) {
	t.Parallel()
	reg := runtime.NewRegistry()
	if err := builtins.Register(reg, builtins.Env{}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# Built-in types\n\nGenerated from the type descriptors by `go test ./cmd/monsta -run TestTypesReference -update`; `monsta --help check TYPE` prints the same. Any option can also be set for every section of a type in `[TYPE_default]`.\n\n## Check types\n\n")
	for _, d := range reg.List(runtime.KindCheck) {
		b.WriteString(renderMarkdown(d) + "\n")
	}
	b.WriteString("## Notification types\n\n")
	for _, d := range reg.List(runtime.KindNotifier) {
		b.WriteString(renderMarkdown(d) + "\n")
	}
	golden(t, "../../docs/types.md", b.String())
	for _, k := range []runtime.Kind{runtime.KindCheck, runtime.KindNotifier} {
		for _, d := range reg.List(k) {
			golden(t, filepath.Join("testdata", "help", k.String()+"_"+d.Name+".golden"), renderHelp(d))
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/monsta -run TestTypesReference -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date; run go test ./cmd/monsta -run TestTypesReference -update\n--- got:\n%s", path, got)
	}
}

// TestExamplesLint lints every configuration under examples/.
func TestExamplesLint(t *testing.T) {
	t.Parallel()
	var confs []string
	filepath.WalkDir("../../examples", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".conf") && filepath.Base(filepath.Dir(p)) != "conf.d" {
			confs = append(confs, p)
		}
		return nil
	})
	if len(confs) == 0 {
		t.Fatal("no example configurations found")
	}
	for _, c := range confs {
		t.Run(c, func(t *testing.T) {
			r := monsta(t, "--lint", "--no-login", "--config", c)
			if r.code != 0 {
				t.Errorf("--lint %s exit = %d\n%s%s", c, r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestREADMESnippets lints every ```ini block of README.md as a whole
// configuration, with every ```lua block of the README in its conf.d.
func TestREADMESnippets(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```ini\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ini snippets")
	}
	var lua strings.Builder
	for _, b := range regexp.MustCompile("(?s)```lua\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
		lua.WriteString(b[1] + "\n")
	}
	for i, b := range blocks {
		conf := writeConf(t, map[string]string{"monsta.conf": b[1], "conf.d/readme.lua": lua.String()})
		r := monsta(t, "--lint", "--no-login", "--config", conf)
		if r.code != 0 {
			t.Errorf("README snippet %d does not lint (exit %d):\n%s\n%s%s", i+1, r.code, b[1], r.stdout, r.stderr)
		}
	}
}

// renderMarkdown documents a type for docs/types.md, from the same
// descriptor as --help. Only TestTypesReference renders it, so it lives here.
func renderMarkdown(d *runtime.Descriptor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s `%s`\n\n%s.", d.Kind, d.Name, strings.TrimSuffix(d.Description, "."))
	if len(d.Aliases) > 0 {
		fmt.Fprintf(&b, " Aliases: `%s`.", strings.Join(d.Aliases, "`, `"))
	}
	b.WriteString("\n\n")
	if d.Help != "" {
		b.WriteString(strings.TrimSpace(d.Help) + "\n\n")
	}
	b.WriteString("| option | default | meaning |\n|---|---|---|\n")
	for _, opt := range d.Options {
		def := "*required*"
		if !opt.Required {
			def = "`" + opt.Default + "`"
			if opt.Default == "" {
				def = `""`
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", opt.Name, def, strings.ReplaceAll(opt.Help, "|", `\|`))
	}
	if d.Example != "" {
		fmt.Fprintf(&b, "\n```ini\n%s\n```\n", strings.TrimSpace(d.Example))
	}
	return b.String()
}
