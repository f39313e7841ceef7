package builtins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/monsta/monsta/internal/gsm7"
	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/redact"
	"github.com/monsta/monsta/internal/textx"
	"github.com/monsta/monsta/runtime"
)

// clickatellDescriptor describes the sms_clickatell notifier.
func clickatellDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindNotifier,
		Name:        "sms_clickatell",
		Aliases:     []string{"sms"},
		Description: "send the notification as one SMS through Clickatell",
		Help:        clickatellHelp,
		Options: append([]runtime.Option{
			{Name: "recipient", Required: true, Parse: runtime.Words,
				Help: "Phone numbers in international format, separated by spaces."},
			{Name: "username", Help: "Account name for the legacy HTTP API."},
			{Name: "password", Secret: true, Help: "Password for the legacy HTTP API."},
			{Name: "api_id", Help: "API id of the legacy HTTP API."},
			{Name: "api_key", Secret: true, Help: "API key of a REST integration; when set, the REST API is used."},
			{Name: "sender", Help: "Number or name the SMS comes from; empty: the account's default."},
			{Name: "api_url",
				Help: "Base URL of the API (scheme, host, port); empty: https://platform.clickatell.com for REST, https://api.clickatell.com for HTTP."},
			{Name: "timeout", Default: "30", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) one delivery may take."},
		}, tlsOptions()...),
		Example: `[Notification_sms_oncall]
type = sms_clickatell
api_key = REPLACE-WITH-KEY
recipient = 27999000001 27999000002
`,
		NewNotifier: newClickatell,
	}
}

// Default API base URLs.
const (
	clickatellRESTURL = "https://platform.clickatell.com"
	clickatellHTTPURL = "https://api.clickatell.com"
)

// clickatellAnswerMax caps an answer of Clickatell, which is parsed whole:
// a longer one is `reply too long (N bytes)`.
const clickatellAnswerMax = 64 << 10

// Clickatell sends notifications as one SMS through Clickatell.
type Clickatell struct {
	rest       bool
	base       string // API base URL without trailing slash
	host       string // for error messages
	recipients []string
	sender     string
	user, pass string
	apiID      string
	apiKey     string
	redact     func(string) string // Options.Redact: the password and the API key
	client     *http.Client
}

func newClickatell(o *runtime.Options) (runtime.Notifier, error) {
	c := &Clickatell{recipients: o.Words("recipient"), sender: strings.TrimSpace(o.String("sender")),
		user: o.String("username"), pass: o.String("password"), apiID: o.String("api_id"),
		apiKey: strings.TrimSpace(o.String("api_key")), redact: o.Redact}
	if len(c.recipients) == 0 {
		return nil, errors.New("recipient: no phone number given")
	}
	if err := c.pickAPI(o); err != nil {
		return nil, err
	}
	if s := strings.TrimSpace(o.String("api_url")); s != "" {
		c.base = s
	}
	u, err := url.Parse(c.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("api_url %q: want http(s)://host[:port]", c.base)
	}
	c.base, c.host = strings.TrimRight(u.String(), "/"), u.Host
	tc, err := tlsConfig(o, u.Hostname())
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = netx.HeaderMax
	tr.TLSClientConfig = tc
	tr.DialContext = netx.DialNetwork // as every probe dials
	c.client = &http.Client{Transport: tr}
	return c, nil
}

// pickAPI chooses the REST API (api_key) or the legacy HTTP API
// (username, password, api_id) and its default base URL.
func (c *Clickatell) pickAPI(o *runtime.Options) error {
	switch {
	case c.apiKey != "":
		c.rest, c.base = true, clickatellRESTURL
	case c.user != "" && c.pass != "" && c.apiID != "":
		c.base = clickatellHTTPURL
	default:
		var missing []string
		for _, k := range []string{"username", "password", "api_id"} {
			if o.String(k) == "" {
				missing = append(missing, k)
			}
		}
		return fmt.Errorf("needs api_key (REST API) or username, password and api_id (HTTP API); missing: api_key or %s",
			strings.Join(missing, ", "))
	}
	return nil
}

// Notify implements runtime.Notifier: it sends one SMS to every recipient.
func (c *Clickatell) Notify(ctx context.Context, m runtime.Message) error {
	text := smsText(m)
	if c.rest {
		return c.sendREST(ctx, text)
	}
	return c.sendHTTP(ctx, text)
}

// Verify implements runtime.Verifier without sending an SMS: the legacy
// API logs in with /http/auth; the REST API reads the account balance
// (GET /public-client/balance), which needs a valid API key. A server
// without the balance endpoint (404, 405) cannot tell a right key from a
// wrong one, and Verify says so with runtime.ErrCannotVerify.
func (c *Clickatell) Verify(ctx context.Context) error {
	if c.rest {
		return c.verifyREST(ctx)
	}
	form := url.Values{"user": {c.user}, "password": {c.pass}, "api_id": {c.apiID}}
	status, body, err := c.do(ctx, "login", http.MethodPost, "/http/auth", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
	if err != nil {
		return err
	}
	answer := c.redact(strings.TrimSpace(string(body)))
	switch {
	case status/100 != 2:
		return c.httpStatusErr("login", status, clipAnswer(answer))
	case strings.HasPrefix(answer, "OK:"):
		return nil
	case strings.HasPrefix(answer, "ERR:"):
		code := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(answer, "ERR:"), ",", 2)[0])
		err := c.fail("login", errors.New(clipAnswer(answer)))
		if legacyPermanent(code) {
			return runtime.Permanent(err)
		}
		return err
	}
	return c.fail("login", fmt.Errorf("unexpected answer %s", textx.Quote(clipAnswer(answer))))
}

func (c *Clickatell) verifyREST(ctx context.Context) error {
	status, body, err := c.do(ctx, "balance", http.MethodGet, "/public-client/balance", "", nil, map[string]string{"Authorization": c.apiKey})
	if err != nil {
		return err
	}
	if status/100 == 2 {
		return nil
	}
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		// Without the endpoint a right and a wrong key look the same:
		// say so instead of reporting either as a failed login.
		return c.fail("balance", fmt.Errorf("GET /public-client/balance answered HTTP %d %s, so the API key cannot be checked on this server: %w",
			status, http.StatusText(status), runtime.ErrCannotVerify))
	}
	var a clickatellRESTAnswer
	msg := clipAnswer(c.redact(strings.TrimSpace(string(body))))
	if json.Unmarshal(body, &a) == nil {
		if t := restErrText(a.Error, a.ErrorCode, a.ErrorDescription); t != "" {
			msg = clipAnswer(c.redact(t))
		}
	}
	return restClassify(a.ErrorCode, c.httpStatusErr("balance", status, msg))
}

// fail formats an error of one step.
func (c *Clickatell) fail(step string, err error) error {
	return fmt.Errorf("clickatell %s: %s: %w", c.host, step, err)
}

// do sends a request for step ("send", "login") and returns status and
// (capped) body.
func (c *Clickatell) do(ctx context.Context, step, method, path, contentType string, body []byte, header map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, c.fail(step, c.redactErr(err))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json, text/plain")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, c.fail(step, c.redactErr(netx.HTTPCause(err)))
	}
	defer resp.Body.Close()
	b, err := netx.ReadBody(resp.Body, clickatellAnswerMax)
	if err != nil {
		return 0, nil, c.fail("read answer", c.redactErr(err))
	}
	return resp.StatusCode, b, nil
}

// sendHTTP uses the legacy HTTP API: POST /http/sendmsg, answered by lines
// "ID: <id>[ To: <number>]" or "ERR: <code>, <text>[ To: <number>]".
func (c *Clickatell) sendHTTP(ctx context.Context, text string) error {
	form := url.Values{"user": {c.user}, "password": {c.pass}, "api_id": {c.apiID},
		"to": {strings.Join(c.recipients, ",")}, "text": {text}}
	if c.sender != "" {
		form.Set("from", c.sender)
	}
	status, body, err := c.do(ctx, "send", http.MethodPost, "/http/sendmsg", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
	if err != nil {
		return err
	}
	answer := c.redact(strings.TrimSpace(string(body)))
	if status/100 != 2 {
		return c.httpStatusErr("send", status, clipAnswer(answer))
	}
	var errs []error
	permanent, ids := false, 0
	for _, line := range strings.Split(answer, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "ID:"):
			ids++
		case strings.HasPrefix(line, "ERR:"):
			code := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(line, "ERR:"), ",", 2)[0])
			permanent = permanent || legacyPermanent(code)
			step := "send"
			if i := strings.Index(line, " To: "); i >= 0 {
				step, line = "send to "+strings.TrimSpace(line[i+5:]), strings.TrimSpace(line[:i])
			}
			errs = append(errs, c.fail(step, errors.New(clipAnswer(line))))
		}
	}
	if len(errs) == 0 && ids == 0 {
		return c.fail("send", fmt.Errorf("unexpected answer %s", textx.Quote(clipAnswer(answer))))
	}
	err = errors.Join(errs...)
	if permanent {
		return runtime.Permanent(err)
	}
	return err
}

// clickatellREST is the request body and answer of the REST API.
type clickatellREST struct {
	To      []string `json:"to"`
	Content string   `json:"content"`
	From    string   `json:"from,omitempty"`
}

type clickatellRESTAnswer struct {
	Messages         []clickatellRESTMessage `json:"messages"`
	ErrorCode        *int                    `json:"errorCode"`
	Error            json.RawMessage         `json:"error"`
	ErrorDescription string                  `json:"errorDescription"`
}

// restErrText renders an "error" field: null, a string, or an object
// {"code": n, "description": "..."}.
func restErrText(raw json.RawMessage, code *int, desc string) string {
	var text string
	if len(raw) > 0 && string(raw) != "null" {
		var s string
		var obj struct {
			Code        *int   `json:"code"`
			Description string `json:"description"`
		}
		switch {
		case json.Unmarshal(raw, &s) == nil:
			text = s
		case json.Unmarshal(raw, &obj) == nil:
			text = obj.Description
			if code == nil {
				code = obj.Code
			}
		default:
			text = string(raw)
		}
	}
	if text == "" {
		text = desc
	}
	if code != nil {
		if text == "" {
			return fmt.Sprintf("error %d", *code)
		}
		return fmt.Sprintf("%s (error %d)", text, *code)
	}
	return text
}

// clickatellRESTMessage is one recipient's part of a REST answer.
type clickatellRESTMessage struct {
	APIMessageID *string         `json:"apiMessageId"`
	Accepted     bool            `json:"accepted"`
	To           string          `json:"to"`
	ErrorCode    *int            `json:"errorCode"`
	Error        json.RawMessage `json:"error"`
}

// sendREST uses the REST API: POST /messages with the key in Authorization.
func (c *Clickatell) sendREST(ctx context.Context, text string) error {
	body, err := json.Marshal(clickatellREST{To: c.recipients, Content: text, From: c.sender})
	if err != nil {
		return c.fail("send", err)
	}
	status, answer, err := c.do(ctx, "send", http.MethodPost, "/messages", "application/json", body, map[string]string{"Authorization": c.apiKey})
	if err != nil {
		return err
	}
	var a clickatellRESTAnswer
	jsonErr := json.Unmarshal(answer, &a)
	if status/100 != 2 {
		msg := clipAnswer(c.redact(strings.TrimSpace(string(answer))))
		if jsonErr == nil {
			if t := restErrText(a.Error, a.ErrorCode, a.ErrorDescription); t != "" {
				msg = clipAnswer(c.redact(t))
			}
		}
		return restClassify(a.ErrorCode, c.httpStatusErr("send", status, msg))
	}
	if jsonErr != nil {
		return c.fail("read answer", fmt.Errorf("HTTP %d: %w", status, jsonErr))
	}
	if t := restErrText(a.Error, a.ErrorCode, a.ErrorDescription); t != "" {
		return restClassify(a.ErrorCode, c.fail("send", errors.New(clipAnswer(c.redact(t)))))
	}
	return c.restAccepted(status, a.Messages)
}

// restAccepted judges the REST answer's per-recipient results: a rejected
// recipient (invalid, opted out) is not fixed by retrying, so only the
// documented temporary codes are retried.
func (c *Clickatell) restAccepted(status int, msgs []clickatellRESTMessage) error {
	var errs []error
	permanent := false
	accepted := 0
	for _, m := range msgs {
		if m.Accepted && (len(m.Error) == 0 || string(m.Error) == "null") {
			accepted++
			continue
		}
		t := restErrText(m.Error, m.ErrorCode, "")
		if t == "" {
			t = "not accepted"
		}
		permanent = permanent || m.ErrorCode == nil || !restTemporary[*m.ErrorCode]
		errs = append(errs, c.fail("send to "+m.To, errors.New(clipAnswer(c.redact(t)))))
	}
	switch {
	case len(errs) > 0 && permanent:
		return runtime.Permanent(errors.Join(errs...))
	case len(errs) > 0:
		return errors.Join(errs...)
	case accepted == 0:
		return c.fail("send", fmt.Errorf("HTTP %d: no message accepted", status))
	}
	return nil
}

// legacyTemporary are the documented error codes of the legacy HTTP API
// ("ERR: NNN, text") that a later attempt can get past: session expired,
// message expired, MT limit reached until a time, no credit left, maximum
// allowed credit, internal error. Every other documented code (001
// authentication failed, 002 unknown user, 004 account frozen, 007 IP
// lockdown, 10x bad parameters or destination, 113 too many message parts,
// 114 cannot route, 116 invalid Unicode, 12x blocked, opted out or bad
// sender, 128 number delisted, 20x batch errors) means this message will
// never be accepted.
var legacyTemporary = map[string]bool{"003": true, "115": true, "130": true, "301": true, "302": true, "901": true}

// legacyPermanent tells whether a legacy ERR code is permanent. Codes
// outside the documented range are retried.
func legacyPermanent(code string) bool {
	n, err := strconv.Atoi(code)
	if err != nil || legacyTemporary[code] {
		return false
	}
	return n >= 1 && n <= 7 || n >= 100 && n <= 202
}

// restTemporary are the documented REST errorCodes that retrying can get
// past: 18 internal error, 19 internal error (retry), 20 insufficient
// balance, 43 rate limit. The others (1 bad API key, 2 and 3 account or
// integration inactive, 7 IP not approved, 21-25 malformed payload or
// recipient, 26-28 recipient opted out or unavailable, 30-45 content,
// channel or sender problems, 100 maximum message parts, 101-111 routing
// limits) are permanent.
var restTemporary = map[int]bool{18: true, 19: true, 20: true, 43: true}

// restClassify marks err permanent by the REST errorCode when there is
// one; without a code, the HTTP status decides (as httpStatusErr did).
func restClassify(code *int, err error) error {
	if code == nil {
		return err
	}
	var perm *runtime.PermanentError
	inner := err
	if errors.As(err, &perm) {
		inner = perm.Err
	}
	if restTemporary[*code] {
		return inner
	}
	return runtime.Permanent(inner)
}

// httpStatusErr is the error for an HTTP error status; client errors other
// than rate limiting are permanent.
func (c *Clickatell) httpStatusErr(step string, status int, text string) error {
	err := c.fail(step, fmt.Errorf("HTTP %d %s: %s", status, http.StatusText(status), text))
	if status/100 == 4 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
		return runtime.Permanent(err)
	}
	return err
}

// redactErr strips the query from URLs in err and makes sure no secret is
// in its text (losing the chain only if one still is).
func (c *Clickatell) redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.User = "", nil
			ue.URL = u.String()
		}
	}
	if s := err.Error(); c.redact(s) != s {
		return errors.New(c.redact(s))
	}
	return err
}

// clipAnswer shortens a server answer for an error message to 200
// characters, its white space collapsed. Redact the answer first (a clip
// through a secret leaves a part no redaction recognizes); the clip never
// cuts a [redacted] mark.
func clipAnswer(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	n := 0
	for i := range s {
		if n == 200 {
			return redact.Clip(s, i)
		}
		n++
	}
	return s
}

// smsText renders m as one single-part SMS: the short form in the GSM
// alphabet (transliterated, never UCS-2), fitted to 160 septets without
// losing the state, the test's name or the start of the first error.
func smsText(m runtime.Message) string {
	t := m
	t.Test, t.Host = gsm7.Transliterate(m.Test), gsm7.Transliterate(m.Host)
	t.Short = gsm7.Transliterate(runtime.OneLine(m.Short))
	if t.Short == "" && len(m.Checks) == 0 {
		t.Short = gsm7.Transliterate(runtime.OneLine(m.Long))
	}
	t.Checks = make([]runtime.CheckResult, len(m.Checks))
	for i, c := range m.Checks {
		c.Check = gsm7.Transliterate(c.Check)
		c.Errors = slices.Clone(c.Errors)
		for j, e := range c.Errors {
			c.Errors[j] = gsm7.Transliterate(e)
		}
		t.Checks[i] = c
	}
	return t.Fit(gsm7.SingleSMS, gsm7.Size)
}

// clickatellHelp documents the notifier, with the SMS of three failures
// (TestSMSExamplesInHelp keeps them equal to what smsText sends).
const clickatellHelp = `With api_key it uses Clickatell's REST API (POST /messages); with username, password and api_id the legacy HTTP API (/http/sendmsg).

Every SMS is one part: the message's short form in the GSM 7-bit alphabet (characters outside it are transliterated, e.g. "µ" to "u", or replaced by "?"; the SMS is never sent as UCS-2) and at most 160 characters. When the text is longer, the host is dropped, the streak is shortened, then the error is cut; the state, the test's name and the start of the first error are always kept. The SMS of three failures:

    FAIL web on vm: web: connect 127.0.0.1:8080: connection refused (3 failures since 03:12 UTC)
    FAIL mail on mx1.example.org: roundtrip: message not in "INBOX" after 60s (2 failures since 03:17 UTC)
    FAIL dns: serial: serials differ: ns1.example.org:53=2026112401 ns2.example.org:53=2026112401 ns3.example.net:53=2026112300 (5 failures since 01:40 UTC)

Errors the API documents as final (legacy ERR 001 authentication failed, 105 invalid destination, 113 too many message parts, ...; REST errorCode 1 bad API key, 25 invalid recipient, ...; any other HTTP 4xx but 408 and 429) set the message aside in the state directory's failed/ folder at once, so the next SMS goes out without waiting; the others (HTTP 5xx, ERR 301 no credit, 901 internal error, REST 19 and 43) are retried in order.

--lint sends nothing: it logs in to the legacy API with /http/auth, and with the REST API it reads the account balance (GET /public-client/balance), which needs a valid API key; a server without that endpoint (HTTP 404) is reported as "cannot verify", since it cannot tell a right key from a wrong one.`
