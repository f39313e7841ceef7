// Command monsta is a light-weight system and service monitoring daemon.
//
//	monsta [--config FILE] [--confdir DIR] [--foreground]   run the daemon
//	monsta --lint                                          validate everything
//	monsta --run SECTION                                   run one section once
//	monsta --help [check|notification [TYPE]]              generated help
//	monsta --status [--json]                               state of every test
//	monsta --silence PATTERN --for D [--reason T]          hold a test's pages
//	monsta --unsilence ID|PATTERN, monsta --silences
//	monsta --history TEST [--since 7d] [--json]            a test's uptime and outages
//	monsta --report [--since 30d] [--csv|--json]           the SLA table of every test
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
	"strconv"
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
  monsta --history TEST [--since 7d] [--json]
                                a test's uptime, outages and response times
  monsta --report [--since 30d] [--csv|--json]
                                the SLA table of every test; both ask the
                                daemon, or read STATEDIR/history.db when
                                none runs
  monsta --help check [TYPE]    list check types, or document one
  monsta --help notification [TYPE]
  monsta --help man|config      print the monsta(8) manual page, or the
                                packaged default configuration
  monsta --version              version, commit and Go release

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
	maxFileSize     int64
	args            []string
	// control commands, sent to the running daemon over its socket
	status, jsonOut bool
	silence         string
	silenceFor      string
	reason          string
	unsilence       string
	silences        bool
	socket          string
	history, since  string
	report, csv     bool
}

// newFlagSet declares the command line's flags, parsed into o; the man
// page is generated from the same declarations.
func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("monsta", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, with two dashes
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
	fs.Var((*byteSize)(&o.maxFileSize), "max-file-size", "largest configuration file read (*.conf, *.lua), a `SIZE` such as 4MiB (default 1MiB)")
	fs.BoolVar(&o.status, "status", false, "show every test of the running daemon")
	fs.BoolVar(&o.jsonOut, "json", false, "with --status, --silences, --history or --report: print JSON")
	fs.StringVar(&o.silence, "silence", "", "hold the notifications of the tests matching `PATTERN`")
	fs.StringVar(&o.silenceFor, "for", "", "with --silence: how long (`DURATION`: 90m, 2h, 1d)")
	fs.StringVar(&o.reason, "reason", "", "with --silence: why (shown in --status and the status page)")
	fs.StringVar(&o.unsilence, "unsilence", "", "end the silences with this `ID or PATTERN`")
	fs.BoolVar(&o.silences, "silences", false, "list the silences in force")
	fs.StringVar(&o.history, "history", "", "show the uptime, outages and response times of `TEST`")
	fs.BoolVar(&o.report, "report", false, "print the SLA table of every test")
	fs.StringVar(&o.since, "since", "", "with --history (default 7d) or --report (default 30d): the window, a `DURATION` back from now")
	fs.BoolVar(&o.csv, "csv", false, "with --report: print CSV (RFC 4180, a header row)")
	fs.StringVar(&o.socket, "socket", "", "control socket `PATH` (default: monsta.sock in [main] statedir)")
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
			return nil, flagError(err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		o.args = append(o.args, rest[0])
		args = rest[1:]
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.confdir == "" {
		o.confdir = filepath.Join(filepath.Dir(o.config), "conf.d")
	}
	return o, nil
}

// check rejects arguments and flags that do not go together.
func (o *options) check() error {
	if len(o.args) > 0 && !o.help {
		return fmt.Errorf("unexpected argument %q", o.args[0])
	}
	if modes := o.modes(); len(modes) > 1 {
		return fmt.Errorf("%s cannot be used together; give one of them", strings.Join(modes, " and "))
	}
	if o.noLogin && !o.lint {
		return errors.New("--no-login only applies to --lint")
	}
	if o.logFormat != "" && o.logFormat != "text" && o.logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	if o.silence != "" && o.silenceFor == "" {
		return errors.New("--silence needs --for DURATION (such as 90m or 2h)")
	}
	if o.silenceFor != "" && o.silence == "" {
		return errors.New("--for goes with --silence PATTERN")
	}
	if err := o.checkHistory(); err != nil {
		return err
	}
	switch o.logLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	return nil
}

// modes returns the mode flags given (--help, --lint, --run...), of which
// at most one may be.
func (o *options) modes() []string {
	var modes []string
	for _, m := range []struct {
		on   bool
		name string
	}{{o.help, "--help"}, {o.ver, "--version"}, {o.lint, "--lint"}, {o.run != "", "--run"}, {o.status, "--status"},
		{o.silence != "", "--silence"}, {o.unsilence != "", "--unsilence"}, {o.silences, "--silences"},
		{o.history != "", "--history"}, {o.report, "--report"}} {
		if m.on {
			modes = append(modes, m.name)
		}
	}
	return modes
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
		fmt.Fprintf(stderr, "monsta: %v (see --help)\n", err)
		return exitConfig
	}
	if !o.ver && !o.help && o.socket == "" {
		if _, err := os.Stat(o.config); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "monsta: %s: no such file; name the configuration with --config FILE\n", o.config)
			return exitConfig
		}
	}
	switch {
	case o.ver:
		fmt.Fprintf(stdout, "monsta %s\n", versionString())
		return exitOK
	case o.help:
		return cmdHelp(o, stdout, stderr)
	case o.daemon():
		return cmdDaemon(o, stderr)
	}
	return runCommand(o, stdout, stderr)
}

// runCommand runs the mode other than the daemon, --help and --version.
// What these print comes in part from servers and Lua code: no control
// character reaches the terminal raw.
func runCommand(o *options, stdout, stderr io.Writer) int {
	stderr = termWriter{stderr}
	switch {
	case o.jsonOut:
		stdout = jsonWriter{stdout}
	case o.csv: // its fields are sanitized one by one: CRLF ends its lines
	default:
		stdout = termWriter{stdout}
	}
	switch {
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
	case o.history != "":
		return cmdHistory(o, stdout, stderr)
	case o.report:
		return cmdReport(o, stdout, stderr)
	}
	return cmdSilences(o, stdout, stderr)
}

// daemon reports whether no mode flag is given: monsta runs the daemon.
func (o *options) daemon() bool { return len(o.modes()) == 0 }

// printConfigError prints every problem of a configuration error and a
// summary that counts the problems (not the lines: a message may hold
// several).
func printConfigError(w io.Writer, err error) {
	fmt.Fprintln(w, err)
	n := countProblems(err)
	fmt.Fprintf(w, "monsta: configuration invalid: %d %s\n", n, pluralize(n, "problem", "problems"))
}

// countProblems counts the leaves of a tree of joined errors.
func countProblems(err error) int {
	switch e := err.(type) {
	case nil:
		return 0
	case interface{ Unwrap() []error }:
		n := 0
		for _, x := range e.Unwrap() {
			n += countProblems(x)
		}
		return n
	}
	return 1
}

// flagError rewrites the flag package's errors to name flags the way they
// are documented, with two dashes ("--run", not "-run").
func flagError(err error) error {
	msg := err.Error()
	for _, p := range []string{"flag needs an argument: -", "flag provided but not defined: -", " for flag -", "bad flag syntax: -"} {
		if i := strings.Index(msg, p); i >= 0 {
			rest := msg[i+len(p):]
			if !strings.HasPrefix(rest, "-") {
				rest = "-" + rest
			}
			msg = msg[:i+len(p)] + rest
		}
	}
	return errors.New(msg)
}

// byteSize is a flag holding a number of bytes, written 1048576, 512KiB,
// 4MiB or 4M.
type byteSize int64

func (b *byteSize) String() string {
	if b == nil || *b == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	num := strings.TrimRight(s, "kKMGiB")
	unit := strings.TrimSuffix(strings.TrimSuffix(s[len(num):], "B"), "i")
	n, err := strconv.ParseInt(num, 10, 64)
	shift := map[string]int{"": 0, "K": 10, "k": 10, "M": 20, "G": 30}
	sh, ok := shift[unit]
	if err != nil || !ok || n < 1 || n > (1<<40)>>sh {
		return errors.New("want a size such as 1048576, 512KiB or 4MiB")
	}
	*b = byteSize(n << sh)
	return nil
}

func pluralize(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
