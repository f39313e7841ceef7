package builtins

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/runtime"
)

// webhookDescriptor describes the webhook notifier.
func webhookDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindNotifier,
		Name:        "webhook",
		Description: "POST the notification as JSON to a URL (generic, Slack or Mattermost)",
		Help: "format=json posts the message's fields: test, state, host, failures, since (RFC 3339, empty when " +
			"unknown), duration (seconds), reminder, time, short, long and checks (check, type, ok, errors, " +
			"duration). format=slack posts {\"text\": ...} with the short form in bold and the long form as a " +
			"code block, which Slack and Mattermost incoming webhooks accept. template replaces either with a Go " +
			"text/template over the same fields ({{.test}}, {{.short}}, {{range .checks}}...); its json function " +
			"quotes a value as JSON. A 2xx answer counts as sent; 408, 429 and 5xx are retried; any other answer " +
			"is final and sets the message aside. Keep the URL out of the configuration with url_file. --lint cannot " +
			"verify a webhook without sending.",
		Options: append([]runtime.Option{
			{Name: "url", Required: true, Secret: true,
				Help: "URL to POST to; it often carries a token, so it is treated as a secret."},
			{Name: "format", Default: "json", Parse: runtime.OneOf("json", "slack"),
				Help: "Body format: json (the message's fields) or slack (Slack and Mattermost incoming webhooks)."},
			{Name: "template", Parse: parseWebhookTemplate,
				Help: "Go text/template rendering the JSON body instead of format; empty: the format's own."},
			{Name: "headers", Parse: parseHeaders,
				Help: "Extra request headers as Name: value pairs separated by |."},
			{Name: "bearer_token", Secret: true, Help: "Token sent as Authorization: Bearer."},
			{Name: "username", Help: "User name for HTTP basic authentication."},
			{Name: "password", Secret: true, Help: "Password for HTTP basic authentication."},
			{Name: "timeout", Default: "30", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) one delivery may take."},
		}, tlsOptions()...),
		Example: `[Notification_chat]
type = webhook
format = slack
url = https://hooks.slack.com/services/T000/B000/REPLACE-WITH-TOKEN
`,
		NewNotifier: newWebhook,
	}
}

// Webhook posts each message as JSON to a URL.
type Webhook struct {
	url     string
	host    string // for error messages: the URL may hold a token
	format  string
	tmpl    *template.Template // nil: the format's own body
	headers http.Header
	redact  func(string) string // Options.Redact: the URL's tokens and the credentials
	client  *http.Client
}

func parseWebhookTemplate(s string) (any, error) {
	if strings.TrimSpace(s) == "" {
		return (*template.Template)(nil), nil
	}
	t, err := template.New("body").Funcs(template.FuncMap{"json": jsonQuote}).Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// jsonQuote renders v as JSON, for templates: {{json .short}}.
func jsonQuote(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func newWebhook(o *runtime.Options) (runtime.Notifier, error) {
	raw := strings.TrimSpace(o.String("url"))
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("url: want http(s)://host/path")
	}
	w := &Webhook{url: raw, host: u.Scheme + "://" + u.Host, format: o.String("format"), headers: http.Header{}, redact: o.Redact}
	if t, ok := o.Value("template").(*template.Template); ok {
		w.tmpl = t
	}
	if h, ok := o.Value("headers").(http.Header); ok {
		w.headers = h.Clone()
	}
	if tok := o.String("bearer_token"); tok != "" {
		w.headers.Set("Authorization", "Bearer "+tok)
	}
	if user := o.String("username"); user != "" {
		pw := o.String("password")
		w.headers.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pw)))
	} else if o.String("password") != "" {
		return nil, errors.New("password: set username too (basic authentication)")
	}
	if w.tmpl != nil {
		// A template that cannot render a sample is a configuration error.
		sample := runtime.NewMessage("host", runtime.TestResult{Test: "test", Failures: 1, Time: time.Now(),
			Checks: []runtime.CheckResult{{Check: "c", Type: "t", Errors: []string{"e"}}}}, runtime.StateFail, false, runtime.Outage{})
		if _, err := w.body(sample); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
	}
	tc, err := tlsConfig(o, u.Hostname())
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = netx.HeaderMax
	tr.TLSClientConfig = tc
	w.client = &http.Client{Transport: tr,
		// A redirect means a wrong URL; following it would replay the body
		// (and the token) elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w, nil
}

// webhookFields are the message's fields as templates and format=json see
// them.
func webhookFields(m runtime.Message) map[string]any {
	since := ""
	if !m.Since.IsZero() {
		since = m.Since.UTC().Format(time.RFC3339)
	}
	checks := make([]map[string]any, 0, len(m.Checks))
	for _, c := range m.Checks {
		errs := c.Errors
		if errs == nil {
			errs = []string{}
		}
		checks = append(checks, map[string]any{"check": c.Check, "type": c.Type, "ok": c.OK, "errors": errs,
			"duration": c.Duration.Seconds()})
	}
	return map[string]any{
		"test": m.Test, "state": string(m.State), "host": m.Host, "failures": m.Failures, "since": since,
		"duration": m.Duration.Seconds(), "reminder": m.Reminder, "time": m.Time.UTC().Format(time.RFC3339),
		"short": m.Short, "long": m.Long, "checks": checks,
	}
}

// body renders the request body for m.
func (w *Webhook) body(m runtime.Message) ([]byte, error) {
	f := webhookFields(m)
	switch {
	case w.tmpl != nil:
		var b bytes.Buffer
		if err := w.tmpl.Execute(&b, f); err != nil {
			return nil, err
		}
		if !json.Valid(b.Bytes()) {
			return nil, fmt.Errorf("template output is not JSON: %q", clipAnswer(b.String()))
		}
		return b.Bytes(), nil
	case w.format == "slack":
		text := "*" + m.Short + "*"
		if m.Long != "" {
			text += "\n```\n" + strings.TrimRight(m.Long, "\n") + "\n```"
		}
		return json.Marshal(map[string]string{"text": text})
	}
	return json.Marshal(f)
}

// Notify implements runtime.Notifier.
func (w *Webhook) Notify(ctx context.Context, m runtime.Message) error {
	body, err := w.body(m)
	if err != nil {
		return runtime.Permanent(fmt.Errorf("webhook %s: render body: %w", w.host, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return runtime.Permanent(fmt.Errorf("webhook %s: %s", w.host, w.redact(err.Error())))
	}
	for k, v := range w.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text carries the URL, and with it the token
		}
		err = netx.HTTPCause(err)
		return fmt.Errorf("webhook %s: POST: %s%w", w.host, w.redact(err.Error()), errCause(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("webhook %s: POST: HTTP %d %s: %s", w.host, resp.StatusCode, http.StatusText(resp.StatusCode),
		clipAnswer(w.redact(string(answer))))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return err
	}
	return runtime.Permanent(err)
}

// Verify implements runtime.Verifier: a webhook has no way to check its
// URL or token without posting.
func (w *Webhook) Verify(context.Context) error {
	return fmt.Errorf("webhook %s: %w", w.host, runtime.ErrCannotVerify)
}

// errCause wraps err for errors.Is and errors.As without adding to the
// text, so that a redacted text keeps its chain (a timeout stays one).
func errCause(err error) error { return &hiddenCause{err} }

// hiddenCause wraps an error for errors.Is/As without adding to the text.
type hiddenCause struct{ err error }

func (h *hiddenCause) Error() string { return "" }
func (h *hiddenCause) Unwrap() error { return h.err }
