package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/monsta/monsta/runtime"
)

// packagedMain are the [main] keys the packaged configuration sets: the
// service's user and the directories its systemd unit provides.
var packagedMain = [][2]string{
	{"user", "monsta"},
	{"group", "monsta"},
	{"statedir", "/var/lib/monsta"},
	{"pidfile", "/run/monsta/monsta.pid"},
}

var sectionHeader = regexp.MustCompile(`(?m)^\[(Check|Notification)_([^\]]+)\]`)

// renderDefaultConfig writes the packaged /etc/monsta/monsta.conf: valid as
// it is (it runs nothing), with every [main] key and a commented-out
// example of every built-in type, generated from the descriptors so that
// it stays complete.
func renderDefaultConfig(reg *runtime.Registry) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w(`# /etc/monsta/monsta.conf: configuration of monsta(8).
#
# monsta reads this file, then every *.conf file in /etc/monsta/conf.d in
# lexical order; a later file adds sections and overrides keys of a section
# of the same name. Keep passwords in a conf.d file readable only by root
# and the monsta group (mode 0640, group monsta).
#
# Check it with "monsta --lint" and apply it with "systemctl reload monsta".
# Every option of every type: "monsta --help check TYPE",
# "monsta --help notification TYPE" and monsta(8).
#
# As shipped, nothing is monitored. Below [main] is an example of every
# built-in check and notification type, commented out: remove the "#" in
# front of a section and its keys to use it, and add a [Test_] section
# that names your checks and who to notify.

[main]
`)
	for _, kv := range packagedMain {
		w("%s = %s\n", kv[0], kv[1])
	}
	set := map[string]bool{}
	for _, kv := range packagedMain {
		set[kv[0]] = true
	}
	w("\n# Further keys of [main], shown with their defaults.\n")
	for _, o := range runtime.MainOptions() {
		if set[o.Name] {
			continue
		}
		w("\n# %s\n#%s\n", o.Help, strings.TrimSpace(o.Name+" = "+o.Default))
	}
	first := map[runtime.Kind]string{}
	for _, k := range []runtime.Kind{runtime.KindCheck, runtime.KindNotifier} {
		w("\n\n# ----------------------------------------------------------------\n# %s types\n", strings.ToUpper(k.String()[:1])+k.String()[1:])
		for _, d := range reg.List(k) {
			w("\n# %s: %s.\n", d.Name, strings.TrimSuffix(d.Description, "."))
			if d.Example == "" {
				w("#[%s_%s]\n#type = %s\n", sectionPrefix(k), d.Name, d.Name)
				continue
			}
			// The test example names the portconnect check and the log
			// notification, which need nothing but the local host.
			if m := sectionHeader.FindStringSubmatch(d.Example); m != nil && (first[k] == "" || d.Name == "portconnect" || d.Name == "log") {
				first[k] = m[2]
			}
			for _, l := range strings.Split(strings.TrimSpace(d.Example), "\n") {
				w("#%s\n", l)
			}
		}
	}
	check, note := first[runtime.KindCheck], first[runtime.KindNotifier]
	if check == "" {
		check = "NAME"
	}
	if note == "" {
		note = "NAME"
	}
	w(`

# ----------------------------------------------------------------
# Tests: a test runs its checks every interval seconds and, after the
# Nth failure in a row, sends the notifications of level N (level 0: after
# every run). Those notified get a RECOVERED message when it passes again.
#[Test_%[1]s]
#checks = %[1]s
#interval = 60
#notify = 1:%[2]s
`, check, note)
	return b.String()
}

func sectionPrefix(k runtime.Kind) string {
	if k == runtime.KindCheck {
		return "Check"
	}
	return "Notification"
}
