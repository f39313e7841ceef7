package builtins

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf16"

	"github.com/monsta/monsta/runtime"
)

// clickatellDescriptor describes the sms_clickatell notifier.
func clickatellDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindNotifier,
		Name:        "sms_clickatell",
		Aliases:     []string{"sms"},
		Description: "send the notification as one SMS through Clickatell",
		Help: "With api_key it uses Clickatell's REST API (POST /messages); with username, password and api_id " +
			"the legacy HTTP API (/http/sendmsg). The text is Subject, then Body, cut to one SMS: 160 GSM " +
			"characters, or 70 when it needs Unicode; the test's name and state are always kept.",
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
			{Name: "timeout", Default: "30", Parse: runtime.PositiveSeconds, Help: "Seconds one delivery may take."},
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
	client     *http.Client
}

func newClickatell(o *runtime.Options) (runtime.Notifier, error) {
	c := &Clickatell{recipients: o.Words("recipient"), sender: strings.TrimSpace(o.String("sender")),
		user: o.String("username"), pass: o.String("password"), apiID: o.String("api_id"),
		apiKey: strings.TrimSpace(o.String("api_key"))}
	if len(c.recipients) == 0 {
		return nil, errors.New("recipient: no phone number given")
	}
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
		return nil, fmt.Errorf("needs api_key (REST API) or username, password and api_id (HTTP API); missing: api_key or %s",
			strings.Join(missing, ", "))
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
	tr.TLSClientConfig = tc
	c.client = &http.Client{Transport: tr}
	return c, nil
}

// Notify implements runtime.Notifier: it sends one SMS to every recipient.
func (c *Clickatell) Notify(ctx context.Context, m runtime.Message) error {
	text, ucs2 := smsText(m)
	if c.rest {
		return c.sendREST(ctx, text)
	}
	return c.sendHTTP(ctx, text, ucs2)
}

// fail formats an error of one step.
func (c *Clickatell) fail(step string, err error) error {
	return fmt.Errorf("clickatell %s: %s: %w", c.host, step, err)
}

// post sends the request and returns status and (capped) body.
func (c *Clickatell) post(ctx context.Context, path, contentType string, body []byte, header map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, c.fail("send", c.redactErr(err))
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json, text/plain")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, c.fail("send", c.redactErr(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, c.fail("read answer", c.redactErr(err))
	}
	return resp.StatusCode, b, nil
}

// sendHTTP uses the legacy HTTP API: POST /http/sendmsg, answered by lines
// "ID: <id>[ To: <number>]" or "ERR: <code>, <text>[ To: <number>]".
func (c *Clickatell) sendHTTP(ctx context.Context, text string, ucs2 bool) error {
	form := url.Values{"user": {c.user}, "password": {c.pass}, "api_id": {c.apiID},
		"to": {strings.Join(c.recipients, ",")}}
	if ucs2 {
		var b []byte
		for _, u := range utf16.Encode([]rune(text)) {
			b = append(b, byte(u>>8), byte(u))
		}
		form.Set("text", strings.ToUpper(hex.EncodeToString(b)))
		form.Set("unicode", "1")
	} else {
		form.Set("text", text)
	}
	if c.sender != "" {
		form.Set("from", c.sender)
	}
	status, body, err := c.post(ctx, "/http/sendmsg", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
	if err != nil {
		return err
	}
	answer := c.redact(strings.TrimSpace(string(body)))
	if status/100 != 2 {
		return c.httpStatusErr(status, answer)
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
			switch code {
			case "001", "002", "007", "108", "105", "114":
				// Authentication, IP lockdown, api_id; invalid or unroutable number.
				permanent = true
			}
			step := "send"
			if i := strings.Index(line, " To: "); i >= 0 {
				step, line = "send to "+strings.TrimSpace(line[i+5:]), strings.TrimSpace(line[:i])
			}
			errs = append(errs, c.fail(step, errors.New(line)))
		}
	}
	if len(errs) == 0 && ids == 0 {
		return c.fail("send", fmt.Errorf("unexpected answer %q", clipAnswer(answer)))
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
	Messages []struct {
		APIMessageID *string         `json:"apiMessageId"`
		Accepted     bool            `json:"accepted"`
		To           string          `json:"to"`
		ErrorCode    *int            `json:"errorCode"`
		Error        json.RawMessage `json:"error"`
	} `json:"messages"`
	ErrorCode        *int            `json:"errorCode"`
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"errorDescription"`
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

// sendREST uses the REST API: POST /messages with the key in Authorization.
func (c *Clickatell) sendREST(ctx context.Context, text string) error {
	body, err := json.Marshal(clickatellREST{To: c.recipients, Content: text, From: c.sender})
	if err != nil {
		return c.fail("send", err)
	}
	status, answer, err := c.post(ctx, "/messages", "application/json", body, map[string]string{"Authorization": c.apiKey})
	if err != nil {
		return err
	}
	var a clickatellRESTAnswer
	jsonErr := json.Unmarshal(answer, &a)
	if status/100 != 2 {
		msg := c.redact(clipAnswer(strings.TrimSpace(string(answer))))
		if jsonErr == nil {
			if t := restErrText(a.Error, a.ErrorCode, a.ErrorDescription); t != "" {
				msg = c.redact(t)
			}
		}
		err := c.httpStatusErr(status, msg)
		if a.ErrorCode != nil && restAuthCode(*a.ErrorCode) {
			return runtime.Permanent(err)
		}
		return err
	}
	if jsonErr != nil {
		return c.fail("read answer", fmt.Errorf("HTTP %d: %w", status, jsonErr))
	}
	if t := restErrText(a.Error, a.ErrorCode, a.ErrorDescription); t != "" {
		err := c.fail("send", errors.New(c.redact(t)))
		if a.ErrorCode != nil && restAuthCode(*a.ErrorCode) {
			return runtime.Permanent(err)
		}
		return err
	}
	var errs []error
	accepted := map[string]bool{}
	for _, m := range a.Messages {
		if m.Accepted && (len(m.Error) == 0 || string(m.Error) == "null") {
			accepted[m.To] = true
			continue
		}
		t := restErrText(m.Error, m.ErrorCode, "")
		if t == "" {
			t = "not accepted"
		}
		errs = append(errs, c.fail("send to "+m.To, errors.New(c.redact(t))))
	}
	if len(errs) > 0 {
		// A rejected recipient (invalid, opted out) is not fixed by retrying.
		return runtime.Permanent(errors.Join(errs...))
	}
	if len(accepted) == 0 {
		return c.fail("send", fmt.Errorf("HTTP %d: no message accepted", status))
	}
	return nil
}

// restAuthCode tells whether a REST error code means bad credentials or a
// disabled account or integration.
func restAuthCode(code int) bool {
	switch code {
	case 1, 2, 3, 7:
		return true
	}
	return false
}

// httpStatusErr is the error for an HTTP error status; client errors other
// than rate limiting are permanent.
func (c *Clickatell) httpStatusErr(status int, text string) error {
	err := c.fail("send", fmt.Errorf("HTTP %d %s: %s", status, http.StatusText(status), text))
	if status/100 == 4 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
		return runtime.Permanent(err)
	}
	return err
}

// redact removes the password and API key from text.
func (c *Clickatell) redact(text string) string {
	for _, s := range []string{c.pass, c.apiKey, url.QueryEscape(c.pass), url.QueryEscape(c.apiKey)} {
		if len(s) >= 3 {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
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

// clipAnswer shortens a server answer for an error message.
func clipAnswer(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		return string(r[:200]) + "..."
	}
	return s
}

// GSM 03.38: the basic alphabet (one septet each) and the extension table
// (two septets each, escape included).
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "^{}\\[~]|€\f"
)

// smsLen is the length of s in GSM septets, or -1 if s needs UCS-2.
func smsLen(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case strings.ContainsRune(gsm7Basic, r):
			n++
		case strings.ContainsRune(gsm7Ext, r):
			n += 2
		default:
			return -1
		}
	}
	return n
}

// ucs2Len is the length of s in UTF-16 code units.
func ucs2Len(s string) int { return len(utf16.Encode([]rune(s))) }

// SMS sizes: one SMS holds 160 GSM-7 or 70 UCS-2 characters.
const (
	smsGSM7  = 160
	smsUCS2  = 70
	gsmEllip = "..." // "…" is not in the GSM alphabet
	ucsEllip = "…"
)

// smsText renders m as one SMS: the subject, then the body, cut with an
// ellipsis. The test's name and state are always kept: if the cut text
// lost them, it starts with "STATE test" instead. It reports whether the
// text needs UCS-2.
func smsText(m runtime.Message) (string, bool) {
	full := squeeze(m.Subject)
	if b := squeeze(m.Body); b != "" {
		full += "\n" + b
	}
	head := strings.TrimSpace(string(m.State) + " " + m.Test)
	keeps := func(s string) bool {
		return strings.Contains(s, m.Test) && strings.Contains(s, string(m.State))
	}
	build := func(ucs2 bool) string {
		t := smsCut(full, ucs2)
		if keeps(t) || !keeps(full) {
			return t
		}
		return smsCut(head+"\n"+full, ucs2)
	}
	if t := build(false); smsLen(t) >= 0 {
		return t, false
	}
	return build(true), true
}

// squeeze drops blank lines and runs of blanks, which cost SMS characters
// and only align columns.
func squeeze(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// smsCut cuts s to one SMS, ending in an ellipsis when it had to cut.
func smsCut(s string, ucs2 bool) string {
	size, ellip, length := smsGSM7, gsmEllip, smsLen
	if ucs2 {
		size, ellip, length = smsUCS2, ucsEllip, ucs2Len
	}
	if n := length(s); n >= 0 && n <= size {
		return s
	}
	budget := size - length(ellip)
	var b strings.Builder
	used := 0
	for _, r := range s {
		if used >= budget {
			break
		}
		n := length(string(r))
		if n < 0 { // not GSM: the caller falls back to UCS-2
			return s
		}
		if used+n > budget {
			break
		}
		b.WriteRune(r)
		used += n
	}
	return strings.TrimRight(b.String(), " \n") + ellip
}
