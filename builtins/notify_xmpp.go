package builtins

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/runtime"
)

// xmppDescriptor describes the xmpp notifier.
func xmppDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindNotifier,
		Name:        "xmpp",
		Aliases:     []string{"jabber"},
		Description: "send the notification as an XMPP chat message",
		Help: "Logs in as jid over STARTTLS (SCRAM-SHA-256, SCRAM-SHA-1, or PLAIN inside TLS), binds a resource " +
			"and sends one chat message to each recipient, then closes the stream cleanly. " +
			"A message the server bounces (unknown recipient) is reported as a failure.",
		Options: append([]runtime.Option{
			{Name: "recipient", Required: true, Parse: runtime.Words,
				Help: "JIDs to send the message to, separated by spaces."},
			{Name: "jid", Required: true,
				Help: "Account to log in as, e.g. monsta@example.org (a /resource asks the server for that resource)."},
			{Name: "password", Required: true, Secret: true, Help: "Password of the account."},
			{Name: "server",
				Help: "Server as host:port; empty: the SRV record _xmpp-client._tcp of the JID's domain, then the domain on port 5222."},
			{Name: "timeout", Default: "30", Parse: runtime.PositiveSeconds,
				Help: "Seconds (or 90s, 5m, 2h, 1d) one delivery (connect, login, send, close) may take."},
		}, tlsOptions()...),
		Example: `[Notification_jabber_admin]
type = xmpp
jid = monsta@example.org
password = secret
recipient = admin@example.org oncall@example.org
`,
		NewNotifier: newXMPPNotifier,
	}
}

// XMPP sends notifications as XMPP chat messages.
type XMPP struct {
	origin     jid.JID // with the resource to ask for, if jid names one
	password   string
	recipients []jid.JID
	server     string // host:port, or "" for SRV discovery
	tls        *tls.Config
	resolver   *net.Resolver // for SRV discovery; nil: the system's
}

func newXMPPNotifier(o *runtime.Options) (runtime.Notifier, error) {
	origin, err := jid.Parse(o.String("jid"))
	if err != nil {
		return nil, fmt.Errorf("jid %q: %w", o.String("jid"), err)
	}
	if origin.Localpart() == "" {
		return nil, fmt.Errorf("jid %q: needs a user part (user@domain)", o.String("jid"))
	}
	n := &XMPP{origin: origin, password: o.String("password")}
	for _, r := range o.Words("recipient") {
		j, err := jid.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", r, err)
		}
		n.recipients = append(n.recipients, j)
	}
	if len(n.recipients) == 0 {
		return nil, errors.New("recipient: no JID given")
	}
	if s := strings.TrimSpace(o.String("server")); s != "" {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			// A bare host name: the standard client port.
			host, port = strings.Trim(s, "[]"), "5222"
		}
		if _, err := runtime.Port(port); err != nil || host == "" {
			return nil, fmt.Errorf("server %q: not host:port", s)
		}
		n.server = net.JoinHostPort(host, port)
	}
	n.tls, err = tlsConfig(o, origin.Domainpart())
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Notify implements runtime.Notifier: it sends the short form as the first
// line and the long form below it as one chat message to each recipient.
func (n *XMPP) Notify(ctx context.Context, m runtime.Message) error {
	text := m.Short
	if m.Long != "" {
		text += "\n\n" + m.Long
	}
	return n.session(ctx, text, true)
}

// Verify implements runtime.Verifier: it connects, negotiates TLS, logs in,
// binds a resource and closes the stream without sending a message.
func (n *XMPP) Verify(ctx context.Context) error {
	return n.session(ctx, "", false)
}

// xmppBody is a message stanza with a body.
type xmppBody struct {
	stanza.Message
	Body string `xml:"body"`
}

// session runs one client session; with send, it sends text to every
// recipient.
func (n *XMPP) session(ctx context.Context, text string, send bool) error {
	conn, where, err := n.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The conn carries ctx's deadline, and cancelling ctx expires it. mellium
	// sets and resets deadlines of its own; netx.Conn caps them at ours.
	// Below TLS, netx.XMPP caps what the peer sends between two writes of
	// ours, which bounds every XML token mellium's decoder buffers and the
	// bytes before STARTTLS; a peer beyond it is `reply too long (N bytes)`.
	lim := netx.Limit(netx.Bind(ctx, conn), netx.XMPP)
	fail := func(step string, err error) error { return xmppStepErr(ctx, lim, where, step, err) }

	step := "open stream"
	auth := "auth as " + n.origin.Bare().String()
	var authErr error // a refusal by the server, as opposed to a broken stream
	features := []xmpp.StreamFeature{
		n.startTLS(ctx, &step),
		n.sasl(auth, &step, &authErr),
		withStep(xmpp.BindResource(), "bind resource", &step),
	}
	s, err := xmpp.NewClientSession(ctx, n.origin, lim, features...)
	switch {
	case err != nil && authErr != nil:
		return runtime.Permanent(fail(auth, authErr))
	case err != nil:
		return fail(step, err)
	case s.State()&xmpp.Secure == 0:
		return runtime.Permanent(fail("tls", errors.New("server did not negotiate STARTTLS")))
	case s.State()&xmpp.Authn == 0:
		return runtime.Permanent(fail(auth, errors.New("server did not ask for authentication")))
	}

	// Send, then close our stream and read the server's stream to its end:
	// the server handles stanzas in order, so a bounce of one of our messages
	// arrives before its closing tag.
	ids := map[string]jid.JID{}
	for _, rcpt := range n.recipients {
		if !send {
			break
		}
		id := xmppID()
		ids[id] = rcpt
		msg := xmppBody{Message: stanza.Message{ID: id, To: rcpt, Type: stanza.ChatMessage}, Body: text}
		if err := s.Encode(ctx, msg); err != nil {
			return fail("send to "+rcpt.String(), err)
		}
	}
	if err := s.Close(); err != nil {
		return fail("close", err)
	}
	bounces, err := readToEnd(s, ids, where)
	if len(bounces) > 0 {
		return runtime.Permanent(errors.Join(bounces...))
	}
	if err != nil {
		return fail("close", err)
	}
	return nil
}

// xmppStepErr names the step of a failed session at where: a cap's error
// wins over what mellium made of it, and a timeout says that the run's
// deadline caused it.
func xmppStepErr(ctx context.Context, lim *netx.LimitedConn, where, step string, err error) error {
	if lerr := lim.Err(); lerr != nil {
		err = lerr
	}
	if ctxErr := ctx.Err(); ctxErr != nil && runtime.IsTimeout(err) {
		err = fmt.Errorf("%w (%w)", err, ctxErr)
	}
	return fmt.Errorf("xmpp %s: %s: %w", where, step, err)
}

// readToEnd reads the server's stream up to its closing tag and returns
// the bounces of the messages in ids (stanza id → recipient). It only
// reads: after our closing tag nothing may be written, not even the error
// answer to an IQ that Session.Serve would send.
func readToEnd(s *xmpp.Session, ids map[string]jid.JID, where string) ([]error, error) {
	r := s.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	var bounces []error
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return bounces, nil
		}
		if err != nil {
			return bounces, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Local != "message" {
			if err := d.Skip(); err != nil {
				return bounces, err
			}
			continue
		}
		var b struct {
			stanza.Message
			Err stanza.Error `xml:"error"`
		}
		if err := d.DecodeElement(&b, &start); err != nil {
			return bounces, err
		}
		rcpt, ours := ids[b.ID]
		if !ours || b.Type != stanza.ErrorMessage {
			continue
		}
		reason := string(b.Err.Condition)
		if txt := b.Err.Error(); txt != reason && txt != "" {
			reason += ": " + txt
		}
		if reason == "" {
			reason = "message bounced"
		}
		bounces = append(bounces, fmt.Errorf("xmpp %s: send to %s: %s", where, rcpt, reason))
	}
}

// dial connects to the configured server, or discovers it: the SRV records
// _xmpp-client._tcp of the domain in their order, then the domain on 5222.
// It returns the connection and the name errors use for the server.
func (n *XMPP) dial(ctx context.Context) (net.Conn, string, error) {
	d := netx.NewDialer(n.resolver)
	if n.server != "" {
		c, err := d.Dial(ctx, n.server)
		if err != nil {
			return nil, n.server, fmt.Errorf("xmpp %s: connect: %w", n.server, errors.Unwrap(err))
		}
		return c, n.server, nil
	}
	domain := n.origin.Domainpart()
	var addrs []string
	r := n.resolver
	if r == nil {
		r = net.DefaultResolver
	}
	if _, srvs, err := r.LookupSRV(ctx, "xmpp-client", "tcp", domain); err == nil {
		for _, srv := range srvs {
			if srv.Target == "." { // "service not available" (RFC 2782)
				return nil, domain, fmt.Errorf("xmpp %s: connect: SRV record says no XMPP service", domain)
			}
			addrs = append(addrs, net.JoinHostPort(strings.TrimSuffix(srv.Target, "."), strconv.Itoa(int(srv.Port))))
		}
	}
	addrs = append(addrs, net.JoinHostPort(domain, "5222"))
	var errs []error
	for _, a := range addrs {
		c, err := d.Dial(ctx, a)
		if err == nil {
			return c, a, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, domain, fmt.Errorf("xmpp %s: connect: %w", domain, errors.Join(errs...))
}

// startTLS is STARTTLS that completes the handshake itself, so that a
// certificate problem is reported as the tls step.
func (n *XMPP) startTLS(ctx context.Context, step *string) xmpp.StreamFeature {
	f := xmpp.StartTLS(n.tls.Clone())
	inner := f.Negotiate
	f.Negotiate = func(ctx2 context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		*step = "tls"
		mask, rw, err := inner(ctx2, s, data)
		if err != nil {
			return mask, rw, fmt.Errorf("STARTTLS: %w", err)
		}
		if tc, ok := rw.(*tls.Conn); ok {
			if err := tc.HandshakeContext(ctx); err != nil {
				return mask, nil, err
			}
		}
		*step = "open stream"
		return mask, rw, nil
	}
	return f
}

// sasl is SASL with SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN, refused on a
// connection without TLS. A refusal by the server is stored in *refused.
func (n *XMPP) sasl(name string, step *string, refused *error) xmpp.StreamFeature {
	f := xmpp.SASL("", n.password, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain)
	inner := f.Negotiate
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		*step = name
		if s.State()&xmpp.Secure == 0 {
			*refused = errors.New("refusing to log in without TLS")
			return 0, nil, *refused
		}
		mask, rw, err := inner(ctx, s, data)
		if err != nil {
			if cond, ok := saslCondition(err); ok {
				*refused = errors.New(cond)
				if strings.HasPrefix(cond, "temporary-auth-failure") {
					*refused = nil // worth another try
				}
				return mask, rw, errors.New(cond)
			}
			if !netx.IsTransport(err) {
				*refused = err // no common mechanism, server signature mismatch
			}
			return mask, rw, err
		}
		*step = "open stream"
		return mask, rw, nil
	}
	return f
}

// withStep makes f record its name in *step while it negotiates.
func withStep(f xmpp.StreamFeature, name string, step *string) xmpp.StreamFeature {
	inner := f.Negotiate
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		*step = name
		return inner(ctx, s, data)
	}
	return f
}

// saslCondition extracts the defined condition and text of a SASL <failure/>
// (mellium.im/xmpp/internal/saslerr.Error, which cannot be imported),
// e.g. "not-authorized" or "not-authorized: Invalid username or password".
func saslCondition(err error) (string, bool) {
	v := reflect.ValueOf(err)
	if v.Kind() != reflect.Struct || !strings.HasSuffix(v.Type().PkgPath(), "/saslerr") {
		return "", false
	}
	c, t := v.FieldByName("Condition"), v.FieldByName("Text")
	if !c.IsValid() || !t.IsValid() || t.Kind() != reflect.String {
		return "", false
	}
	s, ok := c.Interface().(fmt.Stringer)
	if !ok {
		return "", false
	}
	cond := s.String()
	if txt := t.String(); txt != "" {
		cond += ": " + txt
	}
	return cond, true
}

// xmppID returns a random stanza id.
func xmppID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "monsta-" + hex.EncodeToString(b)
}
