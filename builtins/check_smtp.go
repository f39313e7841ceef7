package builtins

import (
	"context"
	"time"

	"github.com/monsta/monsta/runtime"
)

// smtpCheckDescriptor describes the smtp check: an SMTP dialogue up to RCPT TO.
func smtpCheckDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "smtp",
		Description: "talk SMTP up to RCPT TO and expect every reply to be 2xx",
		Help: "The check connects, reads the banner, says EHLO (HELO when the server refuses EHLO), " +
			"optionally STARTTLS and AUTH, then MAIL FROM and RCPT TO; each must be answered with 2xx. " +
			"It then says QUIT: no message is ever sent. Stats: banner_seconds (connect to banner) and " +
			"total_seconds. Its options are named like the smtp notifier's, so one [smtp_default] " +
			"section can serve both.",
		Options: append([]runtime.Option{
			{Name: "host", Required: true, Help: "Host name or address of the SMTP server."},
			{Name: "port", Default: "25", Parse: runtime.Port, Help: "TCP port of the SMTP server."},
			{Name: "timeout", Default: "20", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) the whole dialogue may take."},
			{Name: "helo", Default: "monsta.local", Help: "Host name to announce with EHLO or HELO."},
			{Name: "sender", Required: true, Help: "Address for MAIL FROM."},
			{Name: "recipient", Required: true, Parse: parseAddressList,
				Help: "Addresses for RCPT TO, separated by spaces or commas; each must be accepted."},
			{Name: "username", Help: "User name for AUTH PLAIN before MAIL FROM (needs starttls or ssl); empty: no login."},
			{Name: "password", Secret: true, Help: "Password for AUTH PLAIN."},
			{Name: "starttls", Default: "no", Parse: parseStarttls,
				Help: "Use STARTTLS: no, yes (when the server offers it) or required."},
			{Name: "ssl", Default: "no", Parse: runtime.Bool,
				Help: "Speak TLS from the first byte (implicit TLS, usually port 465)."},
		}, tlsOptions()...),
		Example: `[Check_mx]
type=smtp
host=mx.example.org
sender=monsta@example.org
recipient=postmaster@example.org
starttls=yes
`,
		NewCheck: newSMTPCheck,
	}
}

// SMTPCheck passes when the server answers banner, EHLO (or HELO),
// STARTTLS and AUTH when configured, MAIL FROM and every RCPT TO with 2xx.
type SMTPCheck struct {
	params     smtpParams
	sender     string
	recipients []string
}

func newSMTPCheck(o *runtime.Options) (runtime.Check, error) {
	p, err := smtpParamsFrom(o, "")
	if err != nil {
		return nil, err
	}
	return &SMTPCheck{params: *p, sender: o.String("sender"), recipients: o.Value("recipient").([]string)}, nil
}

// smtpParamsFrom reads the connection options that the smtp check, the
// mailbox check (with prefix "smtp_") and the smtp notifier share.
func smtpParamsFrom(o *runtime.Options, prefix string) (*smtpParams, error) {
	p := &smtpParams{
		host:     o.String(prefix + "host"),
		port:     o.Int(prefix + "port"),
		helo:     o.String(prefix + "helo"),
		starttls: o.String(prefix + "starttls"),
	}
	if _, ok := o.Descriptor().Option(prefix + "ssl"); ok {
		p.ssl = o.Bool(prefix + "ssl")
	}
	if _, ok := o.Descriptor().Option(prefix + "username"); ok {
		p.username = o.String(prefix + "username")
		p.password = o.String(prefix + "password")
	}
	var err error
	if p.tls, err = tlsConfig(o, p.host); err != nil {
		return nil, err
	}
	return p, nil
}

// Run implements runtime.Check.
func (c *SMTPCheck) Run(ctx context.Context) (runtime.Stats, error) {
	start := time.Now()
	stats := runtime.Stats{}
	s, err := smtpOpen(ctx, &c.params)
	if s.banner > 0 {
		stats["banner_seconds"] = s.banner.Seconds()
	}
	if err == nil {
		err = s.envelope(c.sender, c.recipients)
		s.quit()
	}
	stats["total_seconds"] = time.Since(start).Seconds()
	return stats, err
}
