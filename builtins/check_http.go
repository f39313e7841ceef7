package builtins

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/redact"
	"github.com/monsta/monsta/internal/textx"
	"github.com/monsta/monsta/runtime"
)

// httpBodyMax caps how much of a response body the http check reads.
const httpBodyMax = netx.BodyMax

func httpDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "http",
		Description: "request a URL and check the status, headers and body of the answer",
		Help: "The check sends one request and fails on a connection or TLS error, a status outside " +
			"expect_status (then nothing else is checked), a header that does not match expect_header, or a body that does not match " +
			"expect or json_path/json_expect. Only the first 1 MiB of the body is read: expect sees only " +
			"that much, and json_path fails on a longer body with \"reply too long (N bytes)\", as does a response " +
			"header over 1 MiB. Each check has its own connection pool, and unless " +
			"keepalive=yes every run opens a new connection, so each run measures a full connect. " +
			"Proxy variables of the environment are ignored. Credentials in the URL and its query " +
			"string never appear in messages. Stats: status_code, ttfb_seconds (request sent to first " +
			"byte of the answer, DNS and connect included), total_seconds, and for https cert_days_left " +
			"(days until the server certificate expires).",
		Options: append([]runtime.Option{
			{Name: "url", Required: true, Parse: parseHTTPURL, Help: "The http:// or https:// URL to request."},
			{Name: "method", Default: "GET", Parse: parseMethod, Help: "HTTP method (GET, HEAD, POST, ...)."},
			{Name: "expect_status", Default: "200-399", Parse: parseStatusRanges,
				Help: "Status codes that pass: codes and ranges separated by spaces or commas (200 204 300-399)."},
			{Name: "expect", Parse: runtime.Optional(runtime.Regexp),
				Help: "Regular expression (Go syntax; ^ and $ match at each line) the body must match; empty: any body."},
			{Name: "expect_header", Parse: runtime.Optional(parseExpectHeader),
				Help: "A response header and a regular expression its value must match, as Name: regexp (Content-Type: ^text/html)."},
			{Name: "headers", Secret: true, Parse: runtime.Optional(parseHeaders),
				Help: "Request headers as Name: value, several separated by | (Accept: application/json | X-Probe: monsta)."},
			{Name: "body", Help: "Request body, sent as written (set a Content-Type in headers)."},
			{Name: "username", Help: "User name for HTTP basic authentication; empty: none."},
			{Name: "password", Secret: true, Help: "Password for basic authentication."},
			{Name: "password_file", Help: "File whose first line is the password, read at each run; instead of password."},
			{Name: "follow_redirects", Default: "yes", Parse: runtime.Bool,
				Help: "Follow up to 10 redirects (yes), or check the redirect answer itself (no)."},
			{Name: "ip_version", Default: "any", Parse: runtime.OneOf("any", "4", "6"),
				Help: "Connect over IPv4 only (4), IPv6 only (6), or whatever the name resolves to (any)."},
			{Name: "json_path", Help: "Dotted path into a JSON body (status, checks.0.state, $.db.ok); the value must exist."},
			{Name: "json_expect", Help: "The value json_path must have, compared as text (ok, true, 42, null); empty: any value."},
			{Name: "keepalive", Default: "no", Parse: runtime.Bool,
				Help: "Keep the connection open between runs (yes) instead of connecting anew each run (no)."},
		}, tlsOptions()...),
		Example: `[Check_www]
type = http
url = https://www.example.org/health
expect_status = 200
json_path = status
json_expect = ok
`,
		NewCheck: newHTTP,
	}
}

// HTTP passes when a request to url gets an answer whose status, header and
// body meet expect_status, expect_header, expect and json_path/json_expect.
type HTTP struct {
	url        *url.URL
	method     string
	status     []statusRange
	expect     *regexp.Regexp
	header     *headerExpect
	headers    http.Header
	body       string
	user, pass string
	passFile   string
	jsonPath   []string
	jsonWant   *string
	redact     func(string) string // Options.Redact: headers and password
	client     *http.Client
}

// newHTTP builds an http check from its options.
func newHTTP(o *runtime.Options) (runtime.Check, error) {
	u := o.Value("url").(*url.URL)
	c := &HTTP{
		url: u, method: o.String("method"), status: o.Value("expect_status").([]statusRange),
		body: o.String("body"), user: o.String("username"), pass: o.String("password"),
		passFile: o.String("password_file"), redact: o.Redact,
	}
	if o.Value("expect") != nil {
		c.expect = multiline(o.Raw("expect"))
	}
	c.header, _ = o.Value("expect_header").(*headerExpect)
	c.headers, _ = o.Value("headers").(http.Header)
	if c.pass != "" && c.passFile != "" {
		return nil, errors.New("password, password_file: set only one")
	}
	if (c.pass != "" || c.passFile != "") && c.user == "" {
		return nil, errors.New("password: needs username")
	}
	if p := o.String("json_path"); p != "" {
		c.jsonPath = splitJSONPath(p)
		if o.IsSet("json_expect") {
			w := o.String("json_expect")
			c.jsonWant = &w
		}
	} else if o.String("json_expect") != "" {
		return nil, errors.New("json_expect: needs json_path")
	}
	if c.method == "HEAD" && (c.expect != nil || c.jsonPath != nil) {
		return nil, errors.New("expect, json_path: a HEAD answer has no body")
	}
	tc, err := tlsConfig(o, "")
	if err != nil {
		return nil, err
	}
	c.client = &http.Client{Transport: httpTransport(o, tc)}
	if !o.Bool("follow_redirects") {
		c.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c, nil
}

// httpTransport dials like every probe, over ip_version, and keeps the
// connection between runs only with keepalive.
func httpTransport(o *runtime.Options, tc *tls.Config) *http.Transport {
	network := "tcp"
	if v := o.String("ip_version"); v != "any" {
		network += v
	}
	keep := o.Bool("keepalive")
	return &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			conn, err := netx.DialNetwork(ctx, network, addr)
			var ae *net.AddrError
			if network != "tcp" && errors.As(err, &ae) && ae.Err == "no suitable address found" {
				return nil, fmt.Errorf("%s has no IPv%s address (ip_version = %[2]s)", ae.Addr, network[3:])
			}
			if err == nil && !keep {
				// The connection is closed after each run; a reset
				// leaves no TIME_WAIT behind.
				netx.ResetOnClose(conn)
			}
			return conn, err
		},
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    0, // the run's deadline bounds it
		DisableKeepAlives:      !keep,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		ForceAttemptHTTP2:      true,
	}
}

// Run implements runtime.Check.
func (c *HTTP) Run(ctx context.Context) (runtime.Stats, error) {
	target := redactURL(c.url)
	start := time.Now()
	var ttfb time.Duration
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { ttfb = time.Since(start) }}
	req, pass, err := c.newRequest(httptrace.WithClientTrace(ctx, trace))
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.method, target, redactErr(netx.HTTPCause(err)))
	}
	defer resp.Body.Close()
	// The answer may come from a redirect target.
	target = redactURL(resp.Request.URL)
	stats := runtime.Stats{"status_code": float64(resp.StatusCode), "ttfb_seconds": ttfb.Seconds()}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		stats["cert_days_left"] = time.Until(resp.TLS.PeerCertificates[0].NotAfter).Hours() / 24
	}
	b, err := c.readBody(resp.Body)
	stats["total_seconds"] = time.Since(start).Seconds()
	if err != nil {
		return stats, fmt.Errorf("%s %s: read body: %w", c.method, target, redactErr(err))
	}
	return stats, c.judge(resp, b, target, pass)
}

// newRequest builds the request of one run: method, URL, body, headers
// and credentials; it returns the password it used (read from
// password_file at each run), for redaction.
func (c *HTTP) newRequest(ctx context.Context) (*http.Request, string, error) {
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url.String(), body)
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", c.method, redactURL(c.url), redactErr(err))
	}
	for k, v := range c.headers {
		req.Header[k] = v
	}
	if h := c.headers.Get("Host"); h != "" {
		req.Host = h
	}
	pass := c.pass
	if c.user != "" {
		if c.passFile != "" {
			if pass, err = readPasswordFile(c.passFile); err != nil {
				return nil, "", err
			}
		}
		req.SetBasicAuth(c.user, pass)
	}
	return req, pass, nil
}

// readBody reads at most httpBodyMax bytes of the body. expect sees the
// first httpBodyMax bytes of a longer body; json_path cannot parse a part,
// so a longer body is `reply too long (N bytes)` for it.
func (c *HTTP) readBody(r io.Reader) ([]byte, error) {
	b, err := netx.ReadBody(r, httpBodyMax)
	if errors.Is(err, netx.ErrTooLong) && c.jsonPath == nil {
		err = nil
	}
	return b, err
}

// judge checks the answer: status, then header, expect and json_path;
// pass is the password of the run, redacted from what the server sent.
func (c *HTTP) judge(resp *http.Response, b []byte, target, pass string) error {
	if !statusIn(resp.StatusCode, c.status) {
		// The body of an error page says nothing about expect or json_path.
		return fmt.Errorf("%s %s: status %s, want %s", c.method, target, resp.Status, statusText(c.status))
	}
	var errs []error
	red := c.redactor(pass)
	if c.header != nil {
		if err := c.header.check(resp.Header, red); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", c.method, target, err))
		}
	}
	if c.expect != nil && !c.expect.Match(b) {
		errs = append(errs, fmt.Errorf("%s %s: body (%s read) does not match expect %q",
			c.method, target, runtime.FormatSize(float64(len(b))), strings.TrimPrefix(c.expect.String(), "(?m)")))
	}
	if c.jsonPath != nil {
		if err := c.checkJSON(b, red); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", c.method, target, err))
		}
	}
	for i, err := range errs {
		// The runtime redacts the options' secrets, but not the password
		// read from password_file.
		errs[i] = redact.WithText(err, red(err.Error()))
	}
	return errors.Join(errs...)
}

// redactor returns what removes the check's secrets from a server's answer:
// those of its options, and the password read from password_file or
// written in the URL.
func (c *HTTP) redactor(pass string) func(string) string {
	user := c.user
	if c.passFile == "" {
		// Credentials in the URL (https://user:pw@host/) go out as Basic
		// auth too, and no option marks them secret.
		pass = ""
		if u := c.url.User; u != nil {
			if p, ok := u.Password(); ok {
				user, pass = u.Username(), p
			}
		}
	}
	if pass == "" {
		return c.redact
	}
	var once sync.Once
	var extra *redact.Set
	return func(s string) string {
		once.Do(func() { extra = redact.NewSet(redact.Credential{Secret: pass, Users: []string{user}}) })
		return extra.Text(c.redact(s))
	}
}

// checkJSON looks up json_path in body and compares it with json_expect;
// red redacts the value before it is clipped into the message.
func (c *HTTP) checkJSON(body []byte, red func(string) string) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	path := strings.Join(c.jsonPath, ".")
	for i, seg := range c.jsonPath {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return fmt.Errorf("json_path %s: no %q in %s", path, seg, jsonWhere(c.jsonPath[:i]))
			}
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(x) {
				return fmt.Errorf("json_path %s: no index %s in the %d-element array %s", path, seg, len(x), jsonWhere(c.jsonPath[:i]))
			}
			v = x[n]
		default:
			return fmt.Errorf("json_path %s: %s is not an object or array", path, jsonWhere(c.jsonPath[:i]))
		}
	}
	got := jsonText(v)
	if c.jsonWant != nil && got != *c.jsonWant {
		return fmt.Errorf("json_path %s is %s, want %s", path, redact.Clip(red(got), 200), *c.jsonWant)
	}
	return nil
}

// jsonWhere names a position in a JSON document for messages.
func jsonWhere(path []string) string {
	if len(path) == 0 {
		return "the document"
	}
	return strings.Join(path, ".")
}

// jsonText renders a JSON value as json_expect compares it: strings without
// quotes, everything else as compact JSON.
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// splitJSONPath turns "$.a.b[0].c" or "a.b.0.c" into its segments.
func splitJSONPath(p string) []string {
	p = strings.TrimPrefix(strings.TrimPrefix(p, "$"), ".")
	p = strings.NewReplacer("[", ".", "]", "").Replace(p)
	var segs []string
	for _, s := range strings.Split(p, ".") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

// readPasswordFile returns the first line of a password file. Its errors
// name the file, never its content.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// parseHTTPURL accepts an absolute http or https URL.
func parseHTTPURL(s string) (any, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", redactErr(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s: not an http:// or https:// URL", redactURL(u))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: no host", redactURL(u))
	}
	return u, nil
}

// parseMethod accepts an HTTP method token, upper-cased.
func parseMethod(s string) (any, error) {
	m := strings.ToUpper(strings.TrimSpace(s))
	if m == "" || strings.ContainsFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return nil, fmt.Errorf("%q is not an HTTP method", s)
	}
	return m, nil
}

// redactURL renders u without user info, query and fragment, which may
// hold secrets: https://user:pw@host/p?token=x becomes https://host/p?….
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := r.String()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}

// redactErr turns a *url.Error, whose text carries the whole URL, into the
// text of its cause, with the net.OpError layers removed. A url.Parse error
// keeps only its reason.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ee *url.EscapeError
	if errors.As(err, &ee) {
		return errors.New("invalid URL escape")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &causeError{err}
}

// causeError shows the cause of a network error without the layers that
// repeat addresses and system calls; Unwrap reaches the whole chain.
type causeError struct{ err error }

func (e *causeError) Error() string {
	var ce *tls.CertificateVerificationError
	if errors.As(e.err, &ce) {
		return "TLS: " + ce.Err.Error()
	}
	var re tls.RecordHeaderError
	if errors.As(e.err, &re) {
		return "TLS handshake: the server did not answer with TLS"
	}
	return netx.Cause(context.Background(), e.err).Error()
}
func (e *causeError) Unwrap() error { return e.err }

// statusRange is an inclusive range of HTTP status codes.
type statusRange struct{ lo, hi int }

// parseStatusRanges parses "200-399", "200 204", "200,301-302".
func parseStatusRanges(s string) (any, error) {
	var out []statusRange
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		lo, hi, isRange := strings.Cut(f, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("%q is not a status code or range of them (100-599)", f)
		}
		out = append(out, statusRange{a, b})
	}
	if len(out) == 0 {
		return nil, errors.New("no status code given")
	}
	return out, nil
}

func statusIn(code int, rs []statusRange) bool {
	for _, r := range rs {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

func statusText(rs []statusRange) string {
	var parts []string
	for _, r := range rs {
		if r.lo == r.hi {
			parts = append(parts, strconv.Itoa(r.lo))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r.lo, r.hi))
		}
	}
	return strings.Join(parts, " ")
}

// headerExpect is a response header name and a pattern for its value.
type headerExpect struct {
	name string
	re   *regexp.Regexp
}

func parseExpectHeader(s string) (any, error) {
	name, pat, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return nil, fmt.Errorf("%q is not Name: regexp", s)
	}
	re, err := regexp.Compile(strings.TrimSpace(pat))
	if err != nil {
		return nil, fmt.Errorf("%q is not a regular expression: %w", strings.TrimSpace(pat), err)
	}
	return &headerExpect{name: http.CanonicalHeaderKey(name), re: re}, nil
}

// check passes when some value of the header matches; red redacts the
// value before it is clipped into the message.
func (h *headerExpect) check(hdr http.Header, red func(string) string) error {
	vals := hdr.Values(h.name)
	if len(vals) == 0 {
		return fmt.Errorf("no %s header, want one matching %q", h.name, h.re)
	}
	for _, v := range vals {
		if h.re.MatchString(v) {
			return nil
		}
	}
	return fmt.Errorf("header %s: %s does not match %q", h.name, textx.Quote(redact.Clip(red(vals[0]), 200)), h.re)
}

// parseHeaders parses "Name: value | Name2: value2" into request headers.
func parseHeaders(s string) (any, error) {
	h := http.Header{}
	for i, part := range strings.Split(s, "|") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		name, val, ok := strings.Cut(part, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			// The value may be a token: say where, not what.
			return nil, fmt.Errorf("header %d (of those separated by |) is not Name: value", i+1)
		}
		h.Add(name, strings.TrimSpace(val))
	}
	return h, nil
}
