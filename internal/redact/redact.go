// Package redact removes secrets from URLs before they reach error texts,
// logs and messages.
package redact

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// webhookHosts are hosts whose URL path is itself the secret (an incoming
// webhook's token); host names match these suffixes.
var webhookHosts = []string{
	"hooks.slack.com",
	"discord.com",
	"discordapp.com",
	"webhook.office.com",
	"outlook.office.com",
	"chat.googleapis.com",
	"api.telegram.org",
	"hooks.zapier.com",
}

// secretPath tells whether u's path is a webhook token: a known webhook
// host, or a path with a hooks/ or webhook segment (Mattermost, Rocket.Chat,
// Gitea, self-hosted services).
func secretPath(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	for _, h := range webhookHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	p := strings.ToLower(u.Path)
	return strings.Contains(p, "/hooks/") || strings.Contains(p, "/webhook")
}

// URL returns raw without its user info, query and fragment, and without
// its path when that is a webhook token: https://u:pw@host/p?token=x
// becomes https://host/p?…, https://hooks.slack.com/services/T/B/X becomes
// https://hooks.slack.com/…. A raw URL that does not parse becomes "(URL)".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(URL)"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	hide := secretPath(u) && u.Path != "" && u.Path != "/"
	if hide {
		r.Path, r.RawPath = "", ""
	}
	s := r.String()
	if hide {
		s += "/…"
	}
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}

// Error returns err with every URL it carries redacted: a *url.Error (as
// from http.Client.Do) names its URL redacted, and any text of raw in the
// cause is replaced as well.
func Error(err error, raw string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &redacted{text: fmt.Sprintf("%s %q: %s", ue.Op, URL(ue.URL), Text(ue.Err.Error(), raw, ue.URL)), err: ue.Err}
	}
	return &redacted{text: Text(err.Error(), raw), err: err}
}

// WithText returns err with text as its message; it still unwraps to err,
// so that errors.Is and errors.As see the chain (a permanent error stays
// permanent, a deadline stays a deadline).
func WithText(err error, text string) error { return &redacted{text: text, err: err} }

// Text replaces every occurrence of the given URLs in text by their
// redacted form.
func Text(text string, raws ...string) string {
	for _, raw := range raws {
		if raw != "" && strings.Contains(text, raw) {
			text = strings.ReplaceAll(text, raw, URL(raw))
		}
	}
	return text
}

// redacted is an error whose text was redacted; it still unwraps to its
// cause, so that errors.Is(err, context.DeadlineExceeded) holds.
type redacted struct {
	text string
	err  error
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }
