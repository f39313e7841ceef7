package builtins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/runtime"
)

// alertmanagerDescriptor describes the alertmanager notifier.
func alertmanagerDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindNotifier,
		Name:        "alertmanager",
		Description: "post the test's state as an alert to Prometheus Alertmanager (API v2)",
		Help:        alertmanagerHelp,
		EveryRun:    true,
		Options: append([]runtime.Option{
			{Name: "url", Required: true, Parse: parseAlertmanagerURLs,
				Help: "Base URLs of the Alertmanagers, separated by spaces (http://am1:9093 http://am2:9093); every alert goes to each of them."},
			{Name: "labels", Parse: runtime.Optional(parseAlertLabels),
				Help: "Extra labels as name=value separated by spaces (severity=page team=ops); instance=NAME replaces the default instance label."},
			{Name: "expire_intervals", Default: "4", Parse: runtime.Int,
				Help: "A firing alert ends by itself this many test intervals after the run that sent it, unless a later run renews it (at least 2)."},
			{Name: "username", Help: "User name for HTTP basic authentication; empty: none."},
			{Name: "password", Secret: true, Help: "Password for basic authentication (better: password_file)."},
			{Name: "bearer_token", Secret: true, Help: "Bearer token sent in the Authorization header (better: bearer_token_file)."},
			{Name: "timeout", Default: "10", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) one delivery to all the Alertmanagers may take."},
		}, tlsOptions()...),
		Example: `[Notification_alertmanager]
type = alertmanager
url = http://127.0.0.1:9093
labels = severity=page
`,
		NewNotifier: newAlertmanager,
	}
}

const alertmanagerHelp = `Each test is one alert: alertname is the test's name, monsta_check the names of its checks (comma-separated, all of them, so that the labels of an alert never change while it fires), instance the monitoring host (or the instance= of labels), plus the labels configured. The annotations summary and description hold the short and the long form of the message, monsta_host the instance that sent it, failing_checks the checks failing now; generatorURL links to the status page when [main] listen is set.

An alertmanager notification tracks a state rather than paging: once the failure count reaches its level (notify=1:alertmanager starts at the first failure) it is sent on every failing run, with startsAt the first failing run of the streak and endsAt expire_intervals intervals ahead, so the alert stays active while the test fails and ends by itself if monsta stops. A recovery sends endsAt = the time of the passing run, whatever the test's recovery=. A newer message about a test replaces one still waiting in the outbox.

The alert is posted to every URL at once; the delivery succeeds when at least one Alertmanager accepts it, as Prometheus does, since an Alertmanager cluster shares silences and notifications but not alerts. Two monsta instances with the same configuration that post to the same cluster page once per outage: set labels = instance=NAME the same on both, since the default instance label is each one's host name.`

// labelNameRE is Prometheus' label name syntax.
var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// parseAlertmanagerURLs parses the url option: http(s) base URLs without
// credentials, query or fragment.
func parseAlertmanagerURLs(s string) (any, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New("no URL given")
	}
	var out []*url.URL
	for _, f := range fields {
		u, err := url.Parse(f)
		if err != nil {
			return nil, fmt.Errorf("not a URL: %w", redactErr(err))
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("%s: want http(s)://host[:port][/path]", redactURL(u))
		}
		if u.User != nil {
			return nil, fmt.Errorf("%s: credentials in the URL; use username and password_file", redactURL(u))
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%s: a base URL has no query or fragment", redactURL(u))
		}
		u.Path = strings.TrimRight(u.Path, "/")
		out = append(out, u)
	}
	return out, nil
}

// parseAlertLabels parses name=value pairs into a map.
func parseAlertLabels(s string) (any, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		name, value, ok := strings.Cut(f, "=")
		if !ok || value == "" {
			return nil, fmt.Errorf("%q: want name=value", f)
		}
		if !labelNameRE.MatchString(name) {
			return nil, fmt.Errorf("%q: label name must match %s", name, labelNameRE)
		}
		switch name {
		case "alertname", "monsta_check":
			return nil, fmt.Errorf("%q: label %s is set by monsta", f, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%q: label %s given twice", f, name)
		}
		out[name] = value
	}
	return out, nil
}

// Alertmanager posts each test's state as one alert to Alertmanager's API v2.
type Alertmanager struct {
	urls   []*url.URL
	labels map[string]string
	expire int
	auth   string              // the Authorization header's value; "" none
	redact func(string) string // Options.Redact: the password and the token
	client *http.Client
}

func newAlertmanager(o *runtime.Options) (runtime.Notifier, error) {
	a := &Alertmanager{urls: o.Value("url").([]*url.URL), expire: o.Int("expire_intervals"), redact: o.Redact}
	a.labels, _ = o.Value("labels").(map[string]string)
	if a.expire < 2 {
		return nil, fmt.Errorf("expire_intervals: %d: at least 2, or the alert ends between two runs", a.expire)
	}
	user, pass, token := o.String("username"), o.String("password"), strings.TrimSpace(o.String("bearer_token"))
	switch {
	case pass != "" && user == "":
		return nil, errors.New("password: needs username")
	case user != "" && pass == "":
		return nil, errors.New("username: needs password or password_file")
	case user != "" && token != "":
		return nil, errors.New("bearer_token: set either it or username and password")
	case token != "":
		a.auth = "Bearer " + token
	case user != "":
		r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		r.SetBasicAuth(user, pass)
		a.auth = r.Header.Get("Authorization")
	}
	tc, err := tlsConfig(o, "")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = netx.HeaderMax
	tr.TLSClientConfig = tc
	a.client = &http.Client{Transport: tr}
	return a, nil
}

// postableAlert is one alert of Alertmanager's API v2 (postableAlerts).
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// defaultInterval stands for the test's interval in a message that does
// not carry one (one stored by an older version).
const defaultInterval = 5 * time.Minute

// alert builds the alert of m; ok is false for the messages Alertmanager
// has no use for (OK, FLAPPING).
func (a *Alertmanager) alert(m runtime.Message) (postableAlert, bool) {
	labels := map[string]string{"alertname": m.Test, "instance": m.Host}
	if len(m.CheckNames) > 0 {
		labels["monsta_check"] = strings.Join(m.CheckNames, ",")
	}
	for k, v := range a.labels {
		labels[k] = v
	}
	if labels["instance"] == "" {
		delete(labels, "instance")
	}
	var failing []string
	for _, c := range m.Checks {
		if !c.OK {
			failing = append(failing, c.Check)
		}
	}
	ann := map[string]string{"summary": m.Short, "description": m.Long}
	if m.Host != "" {
		ann["monsta_host"] = m.Host
	}
	if len(failing) > 0 && m.State == runtime.StateFail {
		ann["failing_checks"] = strings.Join(failing, ", ")
	}
	at := m.Time
	if at.IsZero() {
		at = time.Now()
	}
	start := m.Since
	if start.IsZero() || start.After(at) {
		start = at
	}
	ivl := m.Interval
	if ivl <= 0 {
		ivl = defaultInterval
	}
	p := postableAlert{Labels: labels, Annotations: ann, StartsAt: start.UTC(), GeneratorURL: m.URL}
	switch m.State {
	case runtime.StateFail:
		p.EndsAt = at.Add(time.Duration(a.expire) * ivl).UTC()
	case runtime.StateRecovered:
		p.EndsAt = at.UTC()
	case runtime.StateTest:
		// A test message fires briefly and ends by itself.
		p.StartsAt, p.EndsAt = at.UTC(), at.Add(time.Minute).UTC()
	default:
		return p, false
	}
	return p, true
}

// CoalesceKey implements runtime.Coalescer: the latest message about a
// test replaces the ones still waiting, since each carries the whole state.
func (a *Alertmanager) CoalesceKey(m runtime.Message) string {
	if m.State == runtime.StateFail || m.State == runtime.StateRecovered {
		return m.Test
	}
	return ""
}

// Notify implements runtime.Notifier: it posts m's alert to every
// Alertmanager at once and succeeds when at least one accepts it.
func (a *Alertmanager) Notify(ctx context.Context, m runtime.Message) error {
	al, ok := a.alert(m)
	if !ok {
		return nil
	}
	body, err := json.Marshal([]postableAlert{al})
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	errs := make([]error, len(a.urls))
	var wg sync.WaitGroup
	for i, u := range a.urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.post(ctx, u, body)
		}()
	}
	wg.Wait()
	permanent := true
	for _, e := range errs {
		if e == nil {
			return nil
		}
		var p *runtime.PermanentError
		permanent = permanent && errors.As(e, &p)
	}
	err = errors.Join(errs...)
	if permanent {
		return runtime.Permanent(err)
	}
	return err
}

// post sends body to one Alertmanager. A 4xx answer other than 408 and
// 429 is permanent: the payload or the credentials are wrong.
func (a *Alertmanager) post(ctx context.Context, base *url.URL, body []byte) error {
	target := base.JoinPath("api/v2/alerts")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("alertmanager %s: %w", base.Host, redactErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "monsta")
	if a.auth != "" {
		req.Header.Set("Authorization", a.auth)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("alertmanager %s: %w", base.Host, redactErr(netx.HTTPCause(err)))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("alertmanager %s: POST %s: %s: %s", base.Host, target.Path, resp.Status, clipAnswer(a.redact(string(msg))))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return runtime.Permanent(err)
	}
	return err
}

// Verify implements runtime.Verifier: every Alertmanager must answer
// GET /api/v2/status with the credentials configured.
func (a *Alertmanager) Verify(ctx context.Context) error {
	var errs []error
	for _, u := range a.urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.JoinPath("api/v2/status").String(), nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("alertmanager %s: %w", u.Host, redactErr(err)))
			continue
		}
		if a.auth != "" {
			req.Header.Set("Authorization", a.auth)
		}
		resp, err := a.client.Do(req)
		if err != nil {
			errs = append(errs, fmt.Errorf("alertmanager %s: %w", u.Host, redactErr(err)))
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			errs = append(errs, fmt.Errorf("alertmanager %s: GET /api/v2/status: %s", u.Host, resp.Status))
		}
	}
	return errors.Join(errs...)
}
