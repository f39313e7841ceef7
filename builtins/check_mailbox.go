package builtins

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/runtime"
)

// probeHeader carries "TOKEN-ID" in every probe message: TOKEN is the same
// for every run of one check, ID is new for every run.
const probeHeader = "X-Monsta-Probe"

// imapSlack is the time the mailbox check allows beyond smtp_timeout +
// timeout for the IMAP login before sending and the clean-up after.
const imapSlack = 10 * time.Second

// mailboxCheckDescriptor describes the mailbox check: a mail round trip from SMTP to IMAP.
func mailboxCheckDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "mailbox",
		Description: "send a message over SMTP and wait for it to arrive in an IMAP folder",
		Help: "The check logs in to the IMAP folder first, then sends a message carrying a unique id in its " +
			probeHeader + " header and subject, and polls the folder until that message arrives or timeout " +
			"seconds have passed. It deletes the message it found (STORE \\Deleted, then EXPUNGE, which also " +
			"removes other messages flagged \\Deleted in that folder) together with probes of this check " +
			"that arrived too late in earlier runs; only the current run's message counts. " +
			"A run may take smtp_timeout + timeout + 10 seconds. Stats: smtp_seconds (the SMTP dialogue) " +
			"and mailbox_seconds (message accepted by SMTP until found in the folder).",
		Options: append([]runtime.Option{
			{Name: "smtp_host", Default: "localhost", Help: "Host name or address of the SMTP server."},
			{Name: "smtp_port", Default: "25", Parse: runtime.Port, Help: "TCP port of the SMTP server."},
			{Name: "smtp_timeout", Default: "20", Parse: runtime.PositiveSeconds,
				Help: "Seconds (or 90s, 5m, 2h, 1d) the SMTP dialogue may take."},
			{Name: "smtp_helo", Default: "monsta.local", Help: "Host name to announce with EHLO or HELO."},
			{Name: "smtp_username", Help: "User name for SMTP AUTH PLAIN (needs smtp_starttls); empty: no login."},
			{Name: "smtp_password", Secret: true, Help: "Password for SMTP AUTH PLAIN."},
			{Name: "smtp_starttls", Default: "no", Parse: parseStarttls,
				Help: "Use STARTTLS on SMTP: no, yes (when the server offers it) or required."},
			{Name: "mailbox_type", Default: "imap", Parse: runtime.OneOf("imap"),
				Help: "Protocol to read the mailbox with; only imap is supported."},
			{Name: "sender", Required: true, Help: "Address for MAIL FROM and the From header."},
			{Name: "recipient", Required: true, Help: "Address to send the probe to; it must arrive in the mailbox."},
			{Name: "timeout", Default: "60", Parse: runtime.PositiveSeconds,
				Help: "Seconds (or 90s, 5m, 2h, 1d) to wait for the message after the SMTP server accepted it."},
			{Name: "mailbox_host", Required: true, Help: "Host name or address of the IMAP server."},
			{Name: "mailbox_port", Parse: parseOptionalPort,
				Help: "TCP port of the IMAP server; empty: 143, or 993 with mailbox_ssl."},
			{Name: "mailbox_username", Required: true, Help: "IMAP user name."},
			{Name: "mailbox_password", Required: true, Secret: true, Help: "IMAP password."},
			{Name: "mailbox_folder", Default: "INBOX", Help: "IMAP folder the message must arrive in."},
			{Name: "mailbox_ssl", Default: "no", Parse: runtime.Bool,
				Help: "Speak TLS to the IMAP server from the first byte (IMAPS)."},
			{Name: "mailbox_starttls", Default: "yes", Parse: parseStarttls,
				Help: "Use STARTTLS on IMAP: no, yes (when the server offers it) or required. With yes, the " +
					"certificate is verified (tls_verify, tls_ca) unless the password could go in cleartext " +
					"anyway (a loopback address, or mailbox_insecure=yes)."},
			{Name: "mailbox_insecure", Default: "no", Parse: runtime.Bool,
				Help: "Allow IMAP LOGIN without TLS to a server that is not on a loopback address " +
					"(the password crosses the network in cleartext)."},
		}, tlsOptions()...),
		Example: `[Check_roundtrip]
type=mailbox
smtp_host=mx.example.org
sender=monsta@example.org
recipient=probe@example.org
mailbox_host=imap.example.org
mailbox_username=probe@example.org
mailbox_password=secret
mailbox_ssl=yes
timeout=120
`,
		NewCheck: newMailboxCheck,
		Deadline: func(o *runtime.Options) time.Duration {
			return o.Duration("smtp_timeout") + o.Duration("timeout") + imapSlack
		},
	}
}

// parseOptionalPort parses a port number or "" (0: the default port).
func parseOptionalPort(s string) (any, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	return runtime.Port(s)
}

// MailboxCheck passes when a message sent over SMTP shows up in the IMAP
// folder within the timeout; it deletes the message.
type MailboxCheck struct {
	name        string
	smtp        smtpParams
	smtpTimeout time.Duration
	sender      string
	recipient   string
	wait        time.Duration
	token       string // the same for every run of this check

	imapAddr   string
	imapSSL    bool
	imapTLS    string // starttls mode
	imapConfig *tls.Config
	insecure   bool                // mailbox_insecure: cleartext LOGIN allowed to any address
	local      func(net.Addr) bool // whether the peer is safe for cleartext; isLoopback
	user, pass string
	folder     string
}

func newMailboxCheck(o *runtime.Options) (runtime.Check, error) {
	sp, err := smtpParamsFrom(o, "smtp_")
	if err != nil {
		return nil, err
	}
	host := o.String("mailbox_host")
	icfg, err := tlsConfig(o, host)
	if err != nil {
		return nil, err
	}
	port := o.Int("mailbox_port")
	if port == 0 {
		port = 143
		if o.Bool("mailbox_ssl") {
			port = 993
		}
	}
	c := &MailboxCheck{
		name:        o.Name(),
		smtp:        *sp,
		smtpTimeout: o.Duration("smtp_timeout"),
		sender:      o.String("sender"),
		recipient:   o.String("recipient"),
		wait:        o.Duration("timeout"),
		imapAddr:    net.JoinHostPort(host, strconv.Itoa(port)),
		imapSSL:     o.Bool("mailbox_ssl"),
		imapTLS:     o.String("mailbox_starttls"),
		imapConfig:  icfg,
		insecure:    o.Bool("mailbox_insecure"),
		local:       isLoopback,
		user:        o.String("mailbox_username"),
		pass:        o.String("mailbox_password"),
		folder:      o.String("mailbox_folder"),
	}
	sum := sha256.Sum256([]byte(o.Section + "\x00" + c.sender + "\x00" + c.recipient))
	c.token = hex.EncodeToString(sum[:8])
	return c, nil
}

// Run implements runtime.Check. It logs in to IMAP first, so that a wrong
// password or folder fails the run without sending anything.
func (c *MailboxCheck) Run(ctx context.Context) (runtime.Stats, error) {
	stats := runtime.Stats{}
	im, err := c.imapOpen(ctx)
	if err != nil {
		return stats, err
	}
	defer im.close()

	id := make([]byte, 8)
	rand.Read(id)
	probe := c.token + "-" + hex.EncodeToString(id)
	sendCtx, cancel := context.WithTimeout(ctx, c.smtpTimeout)
	start := time.Now()
	s, err := smtpOpen(sendCtx, &c.smtp)
	if err == nil {
		err = s.send(c.sender, []string{c.recipient}, c.compose(probe))
		s.quit()
	}
	cancel()
	stats["smtp_seconds"] = time.Since(start).Seconds()
	if err != nil {
		return stats, fmt.Errorf("SMTP %w", err)
	}

	sent := time.Now()
	err = im.await(ctx, probe, c.wait)
	if err == nil {
		stats["mailbox_seconds"] = time.Since(sent).Seconds()
	}
	// Delete this run's message and late probes of earlier runs, while the
	// session still works; otherwise the next run does it.
	if _, _, ioErr := im.conn.Activity(); ioErr == nil && ctx.Err() == nil {
		err = errors.Join(err, im.deleteProbes(c.token))
	}
	return stats, err
}

// compose renders the probe message.
func (c *MailboxCheck) compose(probe string) []byte {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", "<"+c.sender+">")
	h("To", "<"+c.recipient+">")
	h("Subject", "monsta mailbox probe "+probe)
	h("Date", time.Now().Format(time.RFC1123Z))
	h("Message-ID", "<"+probe+"@monsta.probe>")
	h(probeHeader, probe)
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=us-ascii")
	b.WriteString("\r\nThis message tests mail delivery for the monsta check " + oneLine(c.name) +
		".\r\nIt is deleted when it arrives.\r\n")
	return b.Bytes()
}

// imapSession is a logged-in IMAP connection with the folder selected.
type imapSession struct {
	ctx    context.Context
	conn   *netx.Conn
	lim    *netx.LimitedConn // below go-imap, above TLS: netx.IMAP caps what the server sends
	c      *client.Client
	folder string
}

// imapOpen connects, upgrades to TLS as configured, logs in and selects the
// folder. Errors name the step: `IMAP login as USER: ...`, `IMAP select
// "Nope": ...`; never the password.
func (c *MailboxCheck) imapOpen(ctx context.Context) (*imapSession, error) {
	conn, err := dialContext(ctx, c.imapAddr)
	if err != nil {
		return nil, fmt.Errorf("IMAP %w", err)
	}
	im := &imapSession{ctx: ctx, conn: conn, folder: c.folder}
	var nc net.Conn = conn
	if c.imapSSL {
		tc := tls.Client(conn, c.imapConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("IMAP TLS handshake with %s: %w", c.imapAddr, netx.Cause(ctx, err))
		}
		nc = tc
	}
	im.lim = netx.Limit(nc, netx.IMAP)
	// Cleartext is acceptable only where nobody can listen in: a loopback
	// peer, or one the admin vouched for with mailbox_insecure.
	cleartextOK := c.insecure || c.local(conn.RemoteAddr())
	encrypted := c.imapSSL
	var session net.Conn = im.lim
	if !c.imapSSL && c.imapTLS != starttlsNo {
		if session, encrypted, err = c.imapStartTLS(ctx, im, cleartextOK); err != nil {
			conn.Close()
			return nil, err
		}
	}
	im.c, err = client.New(session)
	if err != nil {
		err = fmt.Errorf("IMAP greeting: %w", im.cause(err))
		conn.Close()
		return nil, err
	}
	// go-imap logs read errors (our deadlines, say) to stderr by default;
	// checks return errors instead of logging. The reader goroutine only
	// logs after an I/O error, which cannot come before the next command.
	im.c.ErrorLog = log.New(io.Discard, "", 0)
	if !encrypted && !cleartextOK {
		im.close()
		return nil, fmt.Errorf("IMAP login as %s: refused to send the password in cleartext to %s, which offers no STARTTLS "+
			"(use mailbox_ssl=yes, or mailbox_insecure=yes to allow it)", c.user, c.imapAddr)
	}
	return im, im.login(c.user, c.pass)
}

// login logs in and selects the folder; on an error the session is closed.
func (im *imapSession) login(user, pass string) error {
	if err := im.c.Login(user, pass); err != nil {
		// The cause first: closing makes the connection's own error
		// "use of closed network connection".
		err = fmt.Errorf("IMAP login as %s: %w", user, redactIMAPString(im.cause(err), pass))
		im.close()
		return err
	}
	if _, err := im.c.Select(im.folder, false); err != nil {
		err = fmt.Errorf("IMAP select %q: %w", im.folder, im.cause(err))
		im.close()
		return err
	}
	return nil
}

// imapStartTLS speaks the cleartext start of the session itself (greeting,
// CAPABILITY, STARTTLS when offered) and returns the connection go-imap
// then takes over, with a synthetic greeting, and whether it is encrypted.
// go-imap's own StartTLS would put TLS above the caps, where they could no
// longer see lines and literals; so it is not used.
func (c *MailboxCheck) imapStartTLS(ctx context.Context, im *imapSession, cleartextOK bool) (net.Conn, bool, error) {
	p := &imapStart{w: im.lim, br: bufio.NewReaderSize(im.lim, 4096)}
	if err := p.greeting(); err != nil {
		return nil, false, fmt.Errorf("IMAP greeting: %w", im.cause(err))
	}
	caps, err := p.capabilities()
	if err != nil {
		return nil, false, fmt.Errorf("IMAP CAPABILITY: %w", im.cause(err))
	}
	if !caps["STARTTLS"] {
		if c.imapTLS == starttlsRequired {
			return nil, false, fmt.Errorf("IMAP STARTTLS required but not offered by %s", c.imapAddr)
		}
		return p.resume(im.lim), false, nil
	}
	if err := p.startTLS(); err != nil {
		return nil, false, fmt.Errorf("IMAP STARTTLS with %s: %w", c.imapAddr, im.cause(err))
	}
	cfg := c.imapConfig
	if c.imapTLS == starttlsYes && cleartextOK {
		// Opportunistic: where the password could go in the clear, an
		// unverified certificate is still better than none.
		cfg = cfg.Clone()
		cfg.InsecureSkipVerify = true
	}
	tc := tls.Client(im.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, false, fmt.Errorf("IMAP STARTTLS with %s: %w", c.imapAddr, netx.Cause(ctx, err))
	}
	im.lim = netx.Limit(tc, netx.IMAP)
	return &greetedConn{Conn: im.lim, rest: []byte(imapResumed)}, true, nil
}

// imapResumed is the greeting go-imap gets when monsta spoke the start.
const imapResumed = "* OK resumed by monsta\r\n"

// imapStart speaks the few IMAP commands before STARTTLS over a capped
// connection.
type imapStart struct {
	w   io.Writer
	br  *bufio.Reader
	tag int
}

// line reads one line (netx.IMAP caps its length below).
func (p *imapStart) line() (string, error) {
	l, err := netx.ReadLine(p.br, netx.IMAP.Line)
	if errors.Is(err, netx.ErrLineTooLong) {
		return "", &netx.TooLongError{N: int64(len(l)) + 1}
	}
	return string(l), err
}

// greeting reads the server's greeting, which must be OK (a PREAUTH or
// BYE greeting is refused).
func (p *imapStart) greeting() error {
	l, err := p.line()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(strings.ToUpper(l), "* OK") {
		return fmt.Errorf("%q", clip([]byte(l), 200))
	}
	return nil
}

// command sends cmd with the next tag and returns the untagged lines and
// the text of the tagged reply after the tag, which must be OK.
func (p *imapStart) command(cmd string) ([]string, error) {
	p.tag++
	tag := "m" + strconv.Itoa(p.tag) + " "
	if _, err := io.WriteString(p.w, tag+cmd+"\r\n"); err != nil {
		return nil, err
	}
	var untagged []string
	for {
		l, err := p.line()
		if err != nil {
			return nil, err
		}
		if rest, ok := strings.CutPrefix(l, tag); ok {
			if !strings.HasPrefix(strings.ToUpper(rest), "OK") {
				return nil, fmt.Errorf("%q", clip([]byte(rest), 200))
			}
			return untagged, nil
		}
		untagged = append(untagged, l) // at most netx.IMAP.Reply in all
	}
}

// capabilities asks for the server's capabilities.
func (p *imapStart) capabilities() (map[string]bool, error) {
	lines, err := p.command("CAPABILITY")
	if err != nil {
		return nil, err
	}
	caps := map[string]bool{}
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(strings.ToUpper(l), "* CAPABILITY "); ok {
			for _, c := range strings.Fields(rest) {
				caps[c] = true
			}
		}
	}
	return caps, nil
}

// startTLS sends STARTTLS; the server must agree and send nothing more
// before the handshake.
func (p *imapStart) startTLS() error {
	if _, err := p.command("STARTTLS"); err != nil {
		return err
	}
	if p.br.Buffered() > 0 {
		return errors.New("the server sent data after agreeing to STARTTLS")
	}
	return nil
}

// resume hands go-imap the cleartext session: a synthetic greeting, then
// what was read ahead, then conn.
func (p *imapStart) resume(conn net.Conn) net.Conn {
	ahead, _ := p.br.Peek(p.br.Buffered())
	return &greetedConn{Conn: conn, rest: append([]byte(imapResumed), ahead...)}
}

// isLoopback tells whether addr is a loopback IP address.
func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// redactIMAPString removes secret from err's text also in the escaped form
// an IMAP quoted string gives it (`\"` for `"`, `\\` for `\`), which a
// server echoing the LOGIN command repeats; the runtime's redaction only
// knows the plain form.
func redactIMAPString(err error, secret string) error {
	quoted := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(secret)
	if err == nil || quoted == secret || !strings.Contains(err.Error(), quoted) {
		return err
	}
	return &redactedErr{text: strings.ReplaceAll(err.Error(), quoted, "[redacted]"), err: err}
}

// redactedErr is err with a different text; errors.Is and As still see err.
type redactedErr struct {
	text string
	err  error
}

func (r *redactedErr) Error() string { return r.text }
func (r *redactedErr) Unwrap() error { return r.err }

// cause prefers the connection's own I/O error (a timeout, say) over
// go-imap's "connection closed".
func (im *imapSession) cause(err error) error {
	if lerr := im.lim.Err(); lerr != nil {
		return lerr
	}
	if _, _, ioErr := im.conn.Activity(); ioErr != nil {
		return netx.Cause(im.ctx, ioErr)
	}
	return netx.Cause(im.ctx, err)
}

// probeCriteria matches messages whose probe header contains value.
func probeCriteria(value string) *imap.SearchCriteria {
	sc := imap.NewSearchCriteria()
	sc.Header.Add(probeHeader, value)
	return sc
}

// await polls the folder until the message with this probe id is there or
// wait has passed. Polls start 25 ms apart and slow down to 1 s, so that
// mailbox_seconds stays close to the real delivery time.
func (im *imapSession) await(ctx context.Context, probe string, wait time.Duration) error {
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	interval := 25 * time.Millisecond
	for {
		// NOOP lets the server report messages that arrived since SELECT.
		if err := im.c.Noop(); err != nil {
			return fmt.Errorf("IMAP NOOP in %q: %w", im.folder, im.cause(err))
		}
		uids, err := im.c.UidSearch(probeCriteria(probe))
		if err != nil {
			return fmt.Errorf("IMAP search in %q: %w", im.folder, im.cause(err))
		}
		if len(uids) > 0 {
			return nil
		}
		t := time.NewTimer(interval)
		select {
		case <-waitCtx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return fmt.Errorf("message not in %q: %w", im.folder, netx.Cause(ctx, ctx.Err()))
			}
			return fmt.Errorf("message not in %q after %ss", im.folder,
				strconv.FormatFloat(wait.Seconds(), 'f', -1, 64))
		case <-t.C:
		}
		interval = min(2*interval, time.Second)
	}
}

// deleteProbes deletes every message of the folder whose probe header
// contains token (this check's probes, current and late), then expunges.
func (im *imapSession) deleteProbes(token string) error {
	uids, err := im.c.UidSearch(probeCriteria(token))
	if err != nil {
		return fmt.Errorf("IMAP search in %q: %w", im.folder, im.cause(err))
	}
	if len(uids) == 0 {
		return nil
	}
	set := new(imap.SeqSet)
	set.AddNum(uids...)
	flag := imap.FormatFlagsOp(imap.AddFlags, true)
	if err := im.c.UidStore(set, flag, []interface{}{imap.DeletedFlag}, nil); err != nil {
		return fmt.Errorf("IMAP delete probe in %q: %w", im.folder, im.cause(err))
	}
	if err := im.c.Expunge(nil); err != nil {
		return fmt.Errorf("IMAP expunge %q: %w", im.folder, im.cause(err))
	}
	return nil
}

// close logs out while the connection still works, and closes it.
func (im *imapSession) close() {
	if _, _, ioErr := im.conn.Activity(); ioErr == nil && im.ctx.Err() == nil {
		_ = im.c.Logout()
	}
	im.conn.Close()
}
