// Package testconf holds configurations that the tests of several packages
// share, so that a scenario reads the same everywhere. Only tests import
// it.
package testconf

// Failing is a test that fails on every run (a connect to port 1, which is
// never open): [Test_down] runs every 2 s and pages [Notification_page], a
// log notifier, from its second failure. Its state directory is the
// placeholder STATEDIR, which the tests' writers replace.
const Failing = `
[main]
statedir = STATEDIR
[Check_down]
type = portconnect
host = 127.0.0.1
port = 1
timeout = 1
[Notification_page]
type = log
recipient = error
[Test_down]
checks = down
interval = 2
notify = 2:page
`
