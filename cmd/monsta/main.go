// Command monsta is a light-weight system and service monitoring daemon.
//
//	monsta [--config FILE] [--confdir DIR] [--foreground]   run the daemon
//	monsta --lint                                          validate everything
//	monsta --run SECTION                                   run one section once
//	monsta --help [check|notification [TYPE]]              generated help
//	monsta --status [--json]                               state of every test
//	monsta --silence PATTERN --for D [--reason T]          hold a test's pages
//	monsta --unsilence ID|PATTERN, monsta --silences
//	monsta --version
//
// Exit status: 0 success, 1 a check, test or notification failed, 2 the
// configuration or the command line is invalid.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit statuses.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

const (
	defaultConfig = "/etc/monsta/monsta.conf"
	usageText     = `Usage:
  monsta [--config FILE] [--confdir DIR] [--foreground]  run the daemon
  monsta --lint [--no-login]    validate the configuration, report unused
                                sections and try each notification's login
  monsta --run SECTION          run one Check_, Test_ or Notification_ section
                                once and print the outcome (a notification
                                sends a test message)
  monsta --status [--json]      show every test of the running daemon, failing
                                first; exit 0 all pass, 1 some fail, 2 no daemon
  monsta --silence PATTERN --for DURATION [--reason TEXT]
                                hold the notifications of the tests matching
                                PATTERN (a name or a glob such as web*) for
                                DURATION (90m, 2h, 1d)
  monsta --unsilence ID|PATTERN end silences
  monsta --silences             list the silences in force
  monsta --help check [TYPE]    list check types, or document one
  monsta --help notification [TYPE]
  monsta --version

Options:
`
)

// options are the parsed command line.
type options struct {
	config, confdir string
	foreground      bool
	lint, help, ver bool
	noLogin         bool
	run             string
	logFormat       string
	logLevel        string
	args            []string
	// control commands, sent to the running daemon over its socket
	status, jsonOut bool
	silence         string
	silenceFor      string
	reason          string
	unsilence       string
	silences        bool
	socket          string
}

// newFlagSet declares the command line's flags, parsed into o; the man
// page is generated from the same declarations.
func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("monsta", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", defaultConfig, "main configuration `FILE`")
	fs.StringVar(&o.confdir, "confdir", "", "`DIR` of *.conf and *.lua files (default: conf.d next to --config)")
	fs.BoolVar(&o.foreground, "foreground", false, "stay in the foreground even if [main] daemonize=1")
	fs.BoolVar(&o.lint, "lint", false, "validate the configuration and try each notification's login")
	fs.BoolVar(&o.noLogin, "no-login", false, "with --lint: do not try the notifications' logins (offline linting)")
	fs.StringVar(&o.run, "run", "", "run one `SECTION` once and print the outcome")
	fs.BoolVar(&o.help, "help", false, "show help; --help check|notification [TYPE] documents types")
	fs.BoolVar(&o.ver, "version", false, "print the version")
	fs.StringVar(&o.logFormat, "log-format", "", "log `FORMAT`: text or json (overrides [main] log_format)")
	fs.StringVar(&o.logLevel, "log-level", "", "lowest `LEVEL` logged: debug, info, warn, error (overrides [main] log_level)")
	fs.BoolVar(&o.status, "status", false, "show every test of the running daemon")
	fs.BoolVar(&o.jsonOut, "json", false, "with --status or --silences: print JSON")
	fs.StringVar(&o.silence, "silence", "", "hold the notifications of the tests matching `PATTERN`")
	fs.StringVar(&o.silenceFor, "for", "", "with --silence: how long (`DURATION`: 90m, 2h, 1d)")
	fs.StringVar(&o.reason, "reason", "", "with --silence: why (shown in --status and the status page)")
	fs.StringVar(&o.unsilence, "unsilence", "", "end the silences with this `ID or PATTERN`")
	fs.BoolVar(&o.silences, "silences", false, "list the silences in force")
	fs.StringVar(&o.socket, "socket", "", "control socket `PATH` (default: monsta.sock in [main] statedir)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	return fs
}

func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, stderr)
	// Accept "-h" like the standard library, as --help.
	for i, a := range args {
		if a == "-h" {
			args[i] = "--help"
		}
	}
	// Flags may come before or after positional words
	// (--help check TYPE --config FILE).
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		o.args = append(o.args, rest[0])
		args = rest[1:]
	}
	if len(o.args) > 0 && !o.help {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", o.args[0])
	}
	if o.confdir == "" {
		o.confdir = filepath.Join(filepath.Dir(o.config), "conf.d")
	}
	if o.logFormat != "" && o.logFormat != "text" && o.logFormat != "json" {
		return nil, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	if o.silence != "" && o.silenceFor == "" {
		return nil, errors.New("--silence needs --for DURATION (such as 90m or 2h)")
	}
	if o.silenceFor != "" && o.silence == "" {
		return nil, errors.New("--for goes with --silence PATTERN")
	}
	switch o.logLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	return o, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "monsta: %v\n", err)
		return exitConfig
	}
	switch {
	case o.ver:
		fmt.Fprintf(stdout, "monsta %s\n", versionString())
		return exitOK
	case o.help:
		return cmdHelp(o, stdout, stderr)
	case o.lint:
		return cmdLint(o, stdout, stderr)
	case o.run != "":
		return cmdRun(o, stdout, stderr)
	case o.status:
		return cmdStatus(o, stdout, stderr)
	case o.silence != "":
		return cmdSilence(o, stdout, stderr)
	case o.unsilence != "":
		return cmdUnsilence(o, stdout, stderr)
	case o.silences:
		return cmdSilences(o, stdout, stderr)
	}
	return cmdDaemon(o, stderr)
}

// printConfigError prints every line of a configuration error and a summary.
func printConfigError(w io.Writer, err error) {
	lines := strings.Split(err.Error(), "\n")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "monsta: configuration invalid: %d %s\n", len(lines), pluralize(len(lines), "problem", "problems"))
}

func pluralize(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
