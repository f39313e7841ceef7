package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/runtime"
)

// cmdHelp prints usage, a list of types, or one type's generated help.
// Lua types of the configuration directory are included when it loads.
func cmdHelp(o *options, stdout, stderr io.Writer) int {
	if len(o.args) == 0 {
		fmt.Fprint(stdout, usageText)
		fmt.Fprintln(stdout, "  --config FILE    main configuration (default /etc/monsta/monsta.conf)")
		fmt.Fprintln(stdout, "  --confdir DIR    *.conf and *.lua files (default: conf.d next to --config)")
		fmt.Fprintln(stdout, "  --foreground     stay in the foreground even if [main] daemonize=1")
		fmt.Fprintln(stdout, "  --log-format F   text or json;  --log-level L  debug, info, warn, error")
		return exitOK
	}
	var kind runtime.Kind
	switch o.args[0] {
	case "man", "config":
		// Generated for the package from the built-in types only, so
		// that the output does not depend on the machine it is built on.
		reg := runtime.NewRegistry()
		if err := builtins.Register(reg, builtins.Env{}); err != nil {
			fmt.Fprintf(stderr, "monsta: %v\n", err)
			return exitFail
		}
		if o.args[0] == "man" {
			fmt.Fprint(stdout, renderMan(reg))
		} else {
			fmt.Fprint(stdout, renderDefaultConfig(reg))
		}
		return exitOK
	case "check", "checks":
		kind = runtime.KindCheck
	case "notification", "notifications", "notify":
		kind = runtime.KindNotifier
	default:
		fmt.Fprintf(stderr, "monsta: --help %s: want check, notification, man or config\n", o.args[0])
		return exitConfig
	}
	// The configuration's registry has its Lua types; without a usable
	// configuration, document the built-ins and whatever Lua loads.
	reg, closeReg, err := app.Registry(appOptions(o, nil))
	if err != nil {
		fmt.Fprintf(stderr, "monsta: %v\n", err)
		return exitConfig
	}
	defer closeReg()
	if len(o.args) == 1 {
		fmt.Fprintf(stdout, "%s types (monsta --help %s TYPE for details):\n", strings.ToUpper(kind.String()[:1])+kind.String()[1:], kind)
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		for _, d := range reg.List(kind) {
			fmt.Fprintf(tw, "  %s\t%s\n", d.Name, d.Description)
		}
		tw.Flush()
		return exitOK
	}
	d, ok := reg.Lookup(kind, o.args[1])
	if !ok {
		fmt.Fprintf(stderr, "monsta: no %s type %q; known: %s\n", kind, o.args[1], strings.Join(reg.Names(kind), ", "))
		return exitConfig
	}
	fmt.Fprint(stdout, renderHelp(d))
	return exitOK
}

// renderHelp documents a type from its descriptor: the same for Go and Lua.
func renderHelp(d *runtime.Descriptor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s type %s: %s\n", strings.ToUpper(d.Kind.String()[:1])+d.Kind.String()[1:], d.Name, d.Description)
	if len(d.Aliases) > 0 {
		fmt.Fprintf(&b, "Aliases: %s\n", strings.Join(d.Aliases, ", "))
	}
	fmt.Fprintf(&b, "Source: %s\n", d.Source)
	if d.Help != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(d.Help))
	}
	b.WriteString("\nOptions:\n")
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	for _, opt := range d.Options {
		def := "required"
		if !opt.Required {
			def = fmt.Sprintf("%q", opt.Default)
			if opt.Default == "" {
				def = `""`
			}
		}
		if opt.Secret && !opt.Required {
			def += " (secret)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", opt.Name, def, opt.Help)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nDefaults for every section of this type can be set in [%s_default].\n", d.Name)
	if d.Example != "" {
		b.WriteString("\nExample:\n")
		for _, l := range strings.Split(strings.TrimSpace(d.Example), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}
