package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/history"
	"github.com/monsta/monsta/runtime/silence"
)

// errNoDaemon means nothing answers on the control socket.
var errNoDaemon = errors.New("no daemon")

// errDenied means this user may not use the control socket.
var errDenied = errors.New("permission denied")

// ctlClient talks to the running daemon over its unix socket.
type ctlClient struct {
	socket string
	http   *http.Client
	// stateDir, cfg and accounting let --history and --report read the
	// history database themselves when no daemon runs; cfg is nil with
	// --socket.
	stateDir   string
	cfg        *config.Config
	accounting history.Accounting
}

// newCtlClient finds the socket: --socket, or monsta.sock in [main]
// statedir of the configuration.
func newCtlClient(o *options) (*ctlClient, error) {
	path := o.socket
	var cfg *config.Config
	acc := history.Accounting{Location: time.Local}
	if path == "" {
		var err error
		cfg, err = config.Load(o.config, o.confdir)
		if err != nil {
			return nil, &app.ConfigError{Err: err}
		}
		m, err := runtime.NewResolver(cfg).Main()
		if err != nil {
			return nil, &app.ConfigError{Err: err}
		}
		path = control.SocketPath(m.StateDir)
		acc = history.Accounting{Maintenance: m.History.Maintenance, Location: m.History.Location}
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &ctlClient{socket: path, http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}, stateDir: filepath.Dir(path), cfg: cfg, accounting: acc}, nil
}

// do sends a request and decodes a 2xx answer into out; an error answer
// becomes an error with the daemon's message.
func (c *ctlClient) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://monsta"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e control.APIError
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("daemon answered %s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// dialError says why the request did not reach the daemon: a socket
// this user may not use is not a daemon that does not run.
func (c *ctlClient) dialError(err error) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return err
	}
	if errors.Is(op.Err, os.ErrPermission) {
		return fmt.Errorf("%w on the control socket %s: run as root, as the daemon's user or as a member of its group", errDenied, c.socket)
	}
	return fmt.Errorf("%w: cannot reach the daemon at %s (is monsta running?): %v", errNoDaemon, c.socket, op.Err)
}

// ctlFail reports err and returns the exit status: 2 when no daemon could
// be asked (none runs, or this user may not use its socket), for a pattern
// that matches no test, or for a configuration problem; 1 otherwise.
func ctlFail(stderr io.Writer, err error) int {
	var ce *app.ConfigError
	if errors.As(err, &ce) {
		printConfigError(stderr, ce.Err)
		return exitConfig
	}
	fmt.Fprintf(stderr, "monsta: %v\n", err)
	if errors.Is(err, errNoDaemon) || errors.Is(err, errDenied) || errors.Is(err, errNoMatch) {
		return exitConfig
	}
	return exitFail
}

// cmdStatus prints every test, failing first. Exit 0 when none fails, 1
// when one does (silenced and in-maintenance tests do not count), 2 when
// no daemon answers.
func cmdStatus(o *options, stdout, stderr io.Writer) int {
	c, err := newCtlClient(o)
	if err != nil {
		return ctlFail(stderr, err)
	}
	var list control.TestList
	if err := c.do("GET", "/api/v1/tests", nil, &list); err != nil {
		return ctlFail(stderr, err)
	}
	control.SortForPeople(list.Tests)
	if list.PagesAtRisk > 0 {
		fmt.Fprintf(stderr, "monsta: %d PAGES AT RISK: the outbox cannot be written (%s); they are lost if the daemon dies\n", list.PagesAtRisk, list.PagesAtRiskError)
	}
	code := exitOK
	for i := range list.Tests {
		if list.Tests[i].Failing() {
			code = exitFail
		}
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(list)
		return code
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tTEST\tFAILURES\tSINCE\tLAST RUN\tNEXT RUN\tHELD\tERROR")
	for i := range list.Tests {
		t := &list.Tests[i]
		held := "-"
		if t.Shard == "dependency" {
			held = "shard dependency (pages from its own shard)"
		}
		if t.Hold != nil {
			held = strings.ToLower(string(t.Hold.Reason))
			if t.Hold.By != "" {
				held += " " + t.Hold.By
			}
			if !t.Hold.Until.IsZero() {
				held += " until " + t.Hold.Until.Local().Format("01-02 15:04")
			}
		}
		errText := t.FirstError()
		if len(errText) > 80 {
			errText = errText[:77] + "..."
		}
		if errText == "" {
			errText = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", t.State, t.Name, t.Failures,
			stamp(t.Since, now), stamp(t.LastRun, now), stamp(t.NextRun, now), held, strings.ReplaceAll(errText, "\t", " "))
	}
	tw.Flush()
	return code
}

// stamp shows a time as a clock time and a relative one, or "-".
func stamp(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	rel := d.Round(time.Second).String() + " ago"
	if d < 0 {
		rel = "in " + (-d).Round(time.Second).String()
	}
	return t.Local().Format("15:04:05") + " (" + rel + ")"
}

func cmdSilence(o *options, stdout, stderr io.Writer) int {
	if _, err := silence.ParseDuration(o.silenceFor); err != nil {
		fmt.Fprintf(stderr, "monsta: --for: %v\n", err)
		return exitConfig
	}
	if _, err := silence.NormalizePattern(o.silence); err != nil {
		fmt.Fprintf(stderr, "monsta: --silence: %v\n", err)
		return exitConfig
	}
	c, err := newCtlClient(o)
	if err != nil {
		return ctlFail(stderr, err)
	}
	if err := c.matchesATest(o.silence); err != nil {
		return ctlFail(stderr, err)
	}
	var added control.SilenceAdded
	if err := c.do("POST", "/api/v1/silences", control.SilenceRequest{Pattern: o.silence, Duration: o.silenceFor, Reason: o.reason}, &added); err != nil {
		return ctlFail(stderr, err)
	}
	s := added.Silence
	fmt.Fprintf(stdout, "silenced %s until %s (id %s)\n", s.Pattern, s.End.Local().Format("2006-01-02 15:04:05 MST"), s.ID)
	fmt.Fprintf(stdout, "tests: %s\n", strings.Join(added.Tests, " "))
	return exitOK
}

// errNoMatch is a silence pattern that matches no configured test: most
// likely a typo, which would silence nothing.
var errNoMatch = errors.New("matches no configured test")

// matchesATest refuses a silence pattern that matches none of the running
// daemon's tests, with the closest test name as a hint.
func (c *ctlClient) matchesATest(pattern string) error {
	p, err := silence.NormalizePattern(pattern)
	if err != nil {
		return err
	}
	var list control.TestList
	if err := c.do("GET", "/api/v1/tests", nil, &list); err != nil {
		return err
	}
	names := make([]string, 0, len(list.Tests))
	sl := silence.Silence{Pattern: p}
	for _, t := range list.Tests {
		if sl.Matches(t.Name) {
			return nil
		}
		names = append(names, t.Name)
	}
	return fmt.Errorf("--silence %q: %w%s", p, errNoMatch, runtime.Suggest(p, names))
}

func cmdUnsilence(o *options, stdout, stderr io.Writer) int {
	c, err := newCtlClient(o)
	if err != nil {
		return ctlFail(stderr, err)
	}
	var gone control.SilenceRemoved
	if err := c.do("DELETE", "/api/v1/silences?match="+url.QueryEscape(o.unsilence), nil, &gone); err != nil {
		return ctlFail(stderr, err)
	}
	for _, s := range gone.Removed {
		fmt.Fprintf(stdout, "removed silence %s (%s)\n", s.ID, s.Pattern)
	}
	return exitOK
}

func cmdSilences(o *options, stdout, stderr io.Writer) int {
	c, err := newCtlClient(o)
	if err != nil {
		return ctlFail(stderr, err)
	}
	var list control.SilenceList
	if err := c.do("GET", "/api/v1/silences", nil, &list); err != nil {
		return ctlFail(stderr, err)
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(list)
		return exitOK
	}
	if len(list.Silences) == 0 {
		fmt.Fprintln(stdout, "no silences")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPATTERN\tUNTIL\tREASON")
	for _, s := range list.Silences {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Pattern, s.End.Local().Format("2006-01-02 15:04:05"), s.Reason)
	}
	tw.Flush()
	return exitOK
}
