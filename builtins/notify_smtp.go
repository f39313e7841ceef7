package builtins

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/monsta/monsta/runtime"
)

// smtpNotifierDescriptor describes the smtp notifier (aliases email and mail).
func smtpNotifierDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindNotifier,
		Name:        "smtp",
		Aliases:     []string{"email", "mail"},
		Description: "send the notification as an e-mail through an SMTP server",
		Help: "The message is plain UTF-8 text marked Auto-Submitted: auto-generated. With username set " +
			"it logs in with AUTH PLAIN, which needs starttls or ssl. A recipient or login the server " +
			"refuses with 5xx is not retried; 4xx is. --lint connects, says EHLO, STARTTLS and AUTH, then MAIL FROM " +
			"and RCPT TO for each recipient, and QUIT without DATA: nothing is sent.",
		Options: append([]runtime.Option{
			{Name: "host", Default: "127.0.0.1", Help: "Host name or address of the SMTP server."},
			{Name: "port", Default: "25", Parse: runtime.Port, Help: "TCP port of the SMTP server."},
			{Name: "helo", Default: "${myhostname}",
				Help: "Host name to announce with EHLO; ${myhostname} is the local host name."},
			{Name: "sender", Required: true, Help: "Address for MAIL FROM and the From header."},
			{Name: "recipient", Required: true, Parse: parseAddressList,
				Help: "Addresses to send to, separated by spaces or commas."},
			{Name: "username", Help: "User name for AUTH PLAIN; empty: no login."},
			{Name: "password", Secret: true, Help: "Password for AUTH PLAIN."},
			{Name: "starttls", Default: "no", Parse: parseStarttls,
				Help: "Use STARTTLS: no, yes (when the server offers it) or required."},
			{Name: "ssl", Default: "no", Parse: runtime.Bool,
				Help: "Speak TLS from the first byte (implicit TLS, usually port 465)."},
			{Name: "timeout", Default: "30", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) one delivery attempt may take."},
		}, tlsOptions()...),
		Example: `[Notification_admin]
type=smtp
host=127.0.0.1
sender=monsta@example.org
recipient=admin@example.org, oncall@example.org
`,
		NewNotifier: newSMTPNotifier,
	}
}

// parseAddressList splits a list of addresses separated by spaces and/or
// commas into a []string; it must not be empty.
func parseAddressList(s string) (any, error) {
	list := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(list) == 0 {
		return nil, fmt.Errorf("%q: no address", s)
	}
	return list, nil
}

// SMTPNotifier sends each message as one e-mail to every recipient.
type SMTPNotifier struct {
	params     smtpParams
	sender     string
	recipients []string
	hostname   string // for Message-ID
}

func newSMTPNotifier(o *runtime.Options) (runtime.Notifier, error) {
	p, err := smtpParamsFrom(o, "")
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	p.helo = strings.ReplaceAll(p.helo, "${myhostname}", host)
	return &SMTPNotifier{params: *p, sender: o.String("sender"), recipients: o.Value("recipient").([]string),
		hostname: host}, nil
}

// Notify implements runtime.Notifier. Refusals with a 5xx reply are
// runtime.Permanent.
func (n *SMTPNotifier) Notify(ctx context.Context, m runtime.Message) error {
	msg, err := n.compose(m)
	if err != nil {
		return runtime.Permanent(err)
	}
	s, err := smtpOpen(ctx, &n.params)
	if err == nil {
		err = s.send(n.sender, n.recipients, msg)
		s.quit()
	}
	return n.classify(err)
}

// Verify implements runtime.Verifier: connect, EHLO, STARTTLS and AUTH as
// configured, MAIL FROM and RCPT TO for every recipient, then RSET and
// QUIT; never DATA, so nothing is sent.
func (n *SMTPNotifier) Verify(ctx context.Context) error {
	s, err := smtpOpen(ctx, &n.params)
	if err == nil {
		err = s.envelope(n.sender, n.recipients)
		if err == nil {
			if err = s.step(s.c.Reset()); err != nil {
				err = fmt.Errorf("RSET: %w", err)
			}
		}
		s.quit()
	}
	return n.classify(err)
}

func (n *SMTPNotifier) classify(err error) error {
	if err != nil && (isPermanentSMTP(err) || errors.Is(err, errCleartextAuth)) {
		return runtime.Permanent(err)
	}
	return err
}

// compose renders m as an RFC 5322 message with a quoted-printable UTF-8
// body and CRLF line ends.
func (n *SMTPNotifier) compose(m runtime.Message) ([]byte, error) {
	date := m.Time
	if date.IsZero() {
		date = time.Now()
	}
	id := make([]byte, 12)
	rand.Read(id)
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", (&mail.Address{Address: n.sender}).String())
	to := make([]string, len(n.recipients))
	for i, r := range n.recipients {
		to[i] = (&mail.Address{Address: r}).String()
	}
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Short)))
	h("Date", date.Format(time.RFC1123Z))
	h("Message-ID", fmt.Sprintf("<%s.monsta@%s>", hex.EncodeToString(id), n.hostname))
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Long)); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// oneLine folds a text onto one line, for header values.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
