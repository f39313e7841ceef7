package builtins

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/runtime"
)

// starttlsPorts are the default ports of the starttls protocols; implicit
// TLS ("") defaults to HTTPS.
var starttlsPorts = map[string]int{"": 443, "smtp": 25, "imap": 143, "pop3": 110, "xmpp": 5222, "ldap": 389, "postgres": 5432}

func tlsCheckDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "tls",
		Description: "the certificate a server presents, on a TLS port or behind STARTTLS",
		Help: "The check connects, speaks the protocol's STARTTLS preamble if starttls is set (smtp, imap, " +
			"pop3, xmpp, ldap, postgres) and makes a TLS handshake. Each reply of a preamble may have 64 KiB " +
			"(lines of 4 KiB, 1000 lines; 256 KiB for xmpp), else the check fails with \"reply too long (N bytes)\". " +
			"It fails on a handshake failure, on a " +
			"certificate that expires within min_days (or has expired), and, unless tls_verify=no, on a " +
			"chain that does not verify against tls_ca (or the system's CAs) and on a certificate that does " +
			"not cover server_name. Each message says which of these it was, with the certificate's " +
			"subject, issuer and notAfter. The port defaults to the protocol's: 443 for implicit TLS, " +
			"25, 143, 110, 5222, 389 and 5432. Stats: days_left (days until the certificate expires, " +
			"negative once it has) and handshake_seconds.",
		Options: append([]runtime.Option{
			{Name: "host", Required: true, Help: "Host name or address to connect to."},
			{Name: "port", Parse: runtime.Optional(runtime.Port), Help: "TCP port; empty: the default port of starttls."},
			{Name: "starttls", Parse: runtime.OneOf("", "smtp", "imap", "pop3", "xmpp", "ldap", "postgres"),
				Help: "Protocol to upgrade with STARTTLS first: smtp, imap, pop3, xmpp, ldap or postgres; empty: TLS from the first byte."},
			{Name: "server_name", Help: "Name to send (SNI) and to verify the certificate against, and the XMPP domain; empty: host."},
			{Name: "min_days", Default: "14", Parse: runtime.Float,
				Help: "Fail when the certificate expires in fewer days than this."},
		}, tlsOptions()...),
		Example: `[Check_mx_cert]
type = tls
host = mx.example.org
starttls = smtp
min_days = 21
`,
		NewCheck: newTLSCheck,
	}
}

// TLSCheck passes when the TLS handshake succeeds and the server's
// certificate is valid for at least min_days more days (and, with
// tls_verify, chains to a trusted CA and covers server_name).
type TLSCheck struct {
	addr       string
	starttls   string
	serverName string
	minDays    float64
	verify     bool
	roots      *x509.CertPool // nil: the system's
	cfg        *tls.Config
	now        func() time.Time // time.Now; tests inject
}

func newTLSCheck(o *runtime.Options) (runtime.Check, error) {
	host := o.String("host")
	if host == "" {
		return nil, errors.New("host: must not be empty")
	}
	st := o.String("starttls")
	port, ok := o.Value("port").(int)
	if !ok {
		port = starttlsPorts[st]
	}
	name := o.String("server_name")
	if name == "" {
		name = host
	}
	cfg, err := tlsConfig(o, name)
	if err != nil {
		return nil, err
	}
	c := &TLSCheck{
		addr: net.JoinHostPort(host, strconv.Itoa(port)), starttls: st, serverName: name,
		minDays: o.Value("min_days").(float64), verify: o.Bool("tls_verify"), roots: cfg.RootCAs, now: time.Now,
	}
	// The check verifies the certificate itself, so that it can tell an
	// untrusted chain from a name mismatch and still report the expiry.
	cfg.InsecureSkipVerify = true
	// Old servers still deserve a certificate check.
	cfg.MinVersion = tls.VersionTLS10
	c.cfg = cfg
	return c, nil
}

// Run implements runtime.Check.
func (c *TLSCheck) Run(ctx context.Context) (runtime.Stats, error) {
	raw, err := netx.Dial(ctx, c.addr)
	if err != nil {
		return nil, err
	}
	// conn carries the run's deadline; Abort sees through it and tls.Conn.
	conn := netx.Bind(ctx, raw)
	defer netx.Abort(conn)
	if c.starttls != "" {
		// Every reply of the preamble is capped (netx.Preamble); the
		// handshake then reads conn itself.
		if err := starttls(netx.Limit(conn, preambleLimits(c.starttls)), c.starttls, c.serverName); err != nil {
			return nil, &netx.Error{Op: "STARTTLS (" + c.starttls + ") with", Addr: c.addr, Err: netx.Cause(ctx, err)}
		}
	}
	start := time.Now()
	tc := tls.Client(conn, c.cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, &netx.Error{Op: "TLS handshake with", Addr: c.addr, Err: netx.Cause(ctx, err)}
	}
	stats := runtime.Stats{"handshake_seconds": time.Since(start).Seconds()}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return stats, fmt.Errorf("TLS handshake with %s: the server sent no certificate", c.addr)
	}
	leaf := certs[0]
	now := c.now()
	left := leaf.NotAfter.Sub(now).Hours() / 24
	stats["days_left"] = left
	var errs []error
	switch {
	case left < 0:
		errs = append(errs, fmt.Errorf("%s: certificate expired %.1f days ago: %s", c.addr, -left, certInfo(leaf)))
	case left < c.minDays:
		errs = append(errs, fmt.Errorf("%s: certificate expires in %.1f days, less than min_days %g: %s", c.addr, left, c.minDays, certInfo(leaf)))
	case now.Before(leaf.NotBefore):
		errs = append(errs, fmt.Errorf("%s: certificate not valid before %s: %s", c.addr, leaf.NotBefore.UTC().Format(time.RFC3339), certInfo(leaf)))
	}
	if c.verify {
		errs = append(errs, c.verifyChain(certs, now)...)
	}
	return stats, errors.Join(errs...)
}

// verifyChain checks the chain and the name separately, so that each
// failure is reported as what it is. The chain is verified at a time
// within the leaf's validity: expiry is reported on its own.
func (c *TLSCheck) verifyChain(certs []*x509.Certificate, now time.Time) []error {
	leaf := certs[0]
	at := now
	if at.After(leaf.NotAfter) {
		at = leaf.NotAfter.Add(-time.Second)
	}
	if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore.Add(time.Second)
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	var errs []error
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: at}); err != nil {
		errs = append(errs, fmt.Errorf("%s: certificate chain does not verify (%w): %s", c.addr, err, certInfo(leaf)))
	}
	if err := leaf.VerifyHostname(c.serverName); err != nil {
		errs = append(errs, fmt.Errorf("%s: name mismatch: certificate is not valid for %s (it covers %s): %s",
			c.addr, c.serverName, certNames(leaf), certInfo(leaf)))
	}
	return errs
}

// certInfo names a certificate in messages.
func certInfo(c *x509.Certificate) string {
	return fmt.Sprintf("subject %q, issuer %q, notAfter %s", c.Subject.String(), c.Issuer.String(),
		c.NotAfter.UTC().Format(time.RFC3339))
}

// certNames lists the names a certificate covers.
func certNames(c *x509.Certificate) string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, "CN "+c.Subject.CommonName+" only, which is not used for names")
	}
	if len(names) == 0 {
		return "no names"
	}
	return strings.Join(names, ", ")
}

// starttlsLineMax caps a line of a STARTTLS preamble.
const starttlsLineMax = 4096

// preambleLimits are the caps on each reply of proto's preamble: lines
// for the line-based protocols, XML tokens for xmpp (whose stream may have
// no line ends), bytes for the binary ones.
func preambleLimits(proto string) netx.Limits {
	switch proto {
	case "xmpp":
		return netx.XMPP
	case "ldap", "postgres":
		return netx.Limits{Reply: netx.Preamble.Reply}
	}
	return netx.Preamble
}

// starttls speaks proto's preamble on conn up to the point where the TLS
// handshake starts. Whatever the server sends after agreeing to STARTTLS
// and before the handshake is an error (it would be plaintext that an
// attacker could inject).
func starttls(conn net.Conn, proto, domain string) error {
	br := bufio.NewReaderSize(conn, starttlsLineMax+2)
	var err error
	switch proto {
	case "smtp":
		err = starttlsSMTP(conn, br)
	case "imap":
		err = starttlsIMAP(conn, br)
	case "pop3":
		err = starttlsPOP3(conn, br)
	case "xmpp":
		err = starttlsXMPP(conn, br, domain)
	case "ldap":
		err = starttlsLDAP(conn, br)
	case "postgres":
		err = starttlsPostgres(conn, br)
	default:
		err = fmt.Errorf("unknown protocol %q", proto)
	}
	if err == nil && br.Buffered() > 0 {
		err = errors.New("the server sent data after agreeing to STARTTLS")
	}
	return err
}

// readProtoLine reads one CRLF- or LF-terminated line without its ending.
// A line over the cap is `reply too long (N bytes)`, like every cap.
func readProtoLine(br *bufio.Reader) (string, error) {
	line, err := netx.ReadLine(br, starttlsLineMax)
	switch {
	case err == io.EOF:
		return "", errors.New("connection closed by the server")
	case errors.Is(err, netx.ErrLineTooLong):
		return "", &netx.TooLongError{N: int64(len(line)) + 1}
	}
	if err != nil {
		return "", err
	}
	return string(line), nil
}

// starttlsSMTPReply reads a (multi-line) SMTP reply: its code and its lines.
func starttlsSMTPReply(br *bufio.Reader) (int, []string, error) {
	var lines []string
	for {
		l, err := readProtoLine(br)
		if err != nil {
			return 0, lines, err
		}
		if len(l) < 3 {
			return 0, lines, fmt.Errorf("bad reply %q", clip([]byte(l), 200))
		}
		code, err := strconv.Atoi(l[:3])
		if err != nil {
			return 0, lines, fmt.Errorf("bad reply %q", clip([]byte(l), 200))
		}
		lines = append(lines, l)
		if len(l) == 3 || l[3] != '-' {
			return code, lines, nil
		}
	}
}

// starttlsSMTP: greeting, EHLO, STARTTLS (RFC 3207).
func starttlsSMTP(conn net.Conn, br *bufio.Reader) error {
	code, lines, err := starttlsSMTPReply(br)
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if code != 220 {
		return fmt.Errorf("greeting %q", clip([]byte(strings.Join(lines, " ")), 200))
	}
	if _, err := conn.Write([]byte("EHLO monsta.local\r\n")); err != nil {
		return err
	}
	code, lines, err = starttlsSMTPReply(br)
	if err != nil {
		return fmt.Errorf("read EHLO reply: %w", err)
	}
	if code != 250 {
		return fmt.Errorf("EHLO: %q", clip([]byte(strings.Join(lines, " ")), 200))
	}
	offered := false
	for _, l := range lines {
		offered = offered || strings.EqualFold(strings.TrimSpace(l[4:]), "STARTTLS")
	}
	if !offered {
		return errors.New("the server does not offer STARTTLS")
	}
	if _, err := conn.Write([]byte("STARTTLS\r\n")); err != nil {
		return err
	}
	code, lines, err = starttlsSMTPReply(br)
	if err != nil {
		return fmt.Errorf("read STARTTLS reply: %w", err)
	}
	if code != 220 {
		return fmt.Errorf("STARTTLS refused: %q", clip([]byte(strings.Join(lines, " ")), 200))
	}
	return nil
}

// starttlsIMAP: greeting, STARTTLS (RFC 3501 6.2.1).
func starttlsIMAP(conn net.Conn, br *bufio.Reader) error {
	l, err := readProtoLine(br)
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if !strings.HasPrefix(strings.ToUpper(l), "* OK") {
		return fmt.Errorf("greeting %q", clip([]byte(l), 200))
	}
	if _, err := conn.Write([]byte("m1 STARTTLS\r\n")); err != nil {
		return err
	}
	for {
		l, err := readProtoLine(br)
		if err != nil {
			return fmt.Errorf("read STARTTLS reply: %w", err)
		}
		if strings.HasPrefix(l, "* ") {
			continue // untagged, e.g. a CAPABILITY
		}
		if strings.HasPrefix(strings.ToUpper(l), "M1 OK") {
			return nil
		}
		return fmt.Errorf("STARTTLS refused: %q", clip([]byte(l), 200))
	}
}

// starttlsPOP3: greeting, STLS (RFC 2595 4).
func starttlsPOP3(conn net.Conn, br *bufio.Reader) error {
	l, err := readProtoLine(br)
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if !strings.HasPrefix(l, "+OK") {
		return fmt.Errorf("greeting %q", clip([]byte(l), 200))
	}
	if _, err := conn.Write([]byte("STLS\r\n")); err != nil {
		return err
	}
	if l, err = readProtoLine(br); err != nil {
		return fmt.Errorf("read STLS reply: %w", err)
	}
	if !strings.HasPrefix(l, "+OK") {
		return fmt.Errorf("STLS refused: %q", clip([]byte(l), 200))
	}
	return nil
}

// starttlsPostgres: SSLRequest, answered by one byte (PostgreSQL protocol,
// "SSL Session Encryption").
func starttlsPostgres(conn net.Conn, br *bufio.Reader) error {
	// Length 8, then the SSLRequest code 80877103 (1234 << 16 | 5679).
	if _, err := conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		return err
	}
	b, err := br.ReadByte()
	if err != nil {
		return fmt.Errorf("read SSLRequest reply: %w", err)
	}
	switch b {
	case 'S':
		return nil
	case 'N':
		return errors.New("the server does not support SSL")
	}
	return fmt.Errorf("unexpected SSLRequest reply %q", b)
}

// starttlsXMPP: stream header, features, <starttls/>, <proceed/> (RFC 6120
// 5.4).
func starttlsXMPP(conn net.Conn, br *bufio.Reader, domain string) error {
	var to strings.Builder
	xml.EscapeText(&to, []byte(domain))
	header := "<?xml version='1.0'?><stream:stream to='" + to.String() + "' version='1.0' xml:lang='en' " +
		"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	if _, err := conn.Write([]byte(header)); err != nil {
		return err
	}
	dec := xml.NewDecoder(br) // br is an io.ByteReader: dec reads no further than it needs
	offered, err := xmppOffersStartTLS(dec)
	if err != nil {
		return err
	}
	if !offered {
		return errors.New("the server does not offer STARTTLS")
	}
	if _, err := conn.Write([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")); err != nil {
		return err
	}
	return xmppProceed(dec)
}

// xmppOffersStartTLS reads the stream features and tells whether they
// offer <starttls/>.
func xmppOffersStartTLS(dec *xml.Decoder) (bool, error) {
	inFeatures, offered := false, false
	for {
		tok, err := dec.Token()
		if err != nil {
			return false, fmt.Errorf("read stream features: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "features":
				inFeatures = true
			case inFeatures && t.Name.Local == "starttls":
				offered = true
			case !inFeatures && t.Name.Local == "error":
				return false, fmt.Errorf("stream error: %s", xmppErrorName(dec))
			}
		case xml.EndElement:
			if t.Name.Local == "features" {
				return offered, nil
			}
		}
	}
}

// xmppProceed reads the reply to <starttls/>: nil for <proceed/>.
func xmppProceed(dec *xml.Decoder) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read STARTTLS reply: %w", err)
		}
		if t, ok := tok.(xml.StartElement); ok {
			switch t.Name.Local {
			case "proceed":
				// The decoder has reported the start of <proceed/>; its
				// end comes from the same bytes.
				if _, err := dec.Token(); err != nil {
					return fmt.Errorf("read STARTTLS reply: %w", err)
				}
				return nil
			case "failure":
				return errors.New("STARTTLS refused (<failure/>)")
			case "error":
				return fmt.Errorf("stream error: %s", xmppErrorName(dec))
			}
		}
	}
}

// xmppErrorName returns the name of the first child of a stream error.
func xmppErrorName(dec *xml.Decoder) string {
	for {
		tok, err := dec.Token()
		if err != nil {
			return "unreadable"
		}
		if t, ok := tok.(xml.StartElement); ok {
			return t.Name.Local
		}
	}
}

// ldapStartTLS is the LDAPMessage with messageID 1 and an ExtendedRequest
// (RFC 4511 4.12) for StartTLS, requestName 1.3.6.1.4.1.1466.20037 (RFC
// 4511 4.14.1), in BER.
var ldapStartTLS = append([]byte{
	0x30, 0x1d, // SEQUENCE, 29 bytes
	0x02, 0x01, 0x01, // messageID INTEGER 1
	0x77, 0x18, // [APPLICATION 23] ExtendedRequest, 24 bytes
	0x80, 0x16, // [0] requestName, 22 bytes
}, "1.3.6.1.4.1.1466.20037"...)

// starttlsLDAP sends the StartTLS extended request and requires resultCode
// success (0) in the ExtendedResponse.
func starttlsLDAP(conn net.Conn, br *bufio.Reader) error {
	if _, err := conn.Write(ldapStartTLS); err != nil {
		return err
	}
	tag, msg, err := berRead(br)
	if err != nil {
		return fmt.Errorf("read StartTLS response: %w", err)
	}
	if tag != 0x30 {
		return fmt.Errorf("StartTLS response: not an LDAPMessage (tag %#x)", tag)
	}
	r := bufio.NewReader(strings.NewReader(string(msg)))
	if tag, _, err = berRead(r); err != nil || tag != 0x02 { // messageID
		return errors.New("StartTLS response: no messageID")
	}
	tag, op, err := berRead(r)
	if err != nil || tag != 0x78 { // [APPLICATION 24] ExtendedResponse
		return fmt.Errorf("StartTLS response: not an ExtendedResponse (tag %#x)", tag)
	}
	r = bufio.NewReader(strings.NewReader(string(op)))
	tag, code, err := berRead(r)
	if err != nil || tag != 0x0a || len(code) != 1 { // resultCode ENUMERATED
		return errors.New("StartTLS response: no resultCode")
	}
	if code[0] == 0 {
		return nil
	}
	berRead(r) // matchedDN
	_, diag, _ := berRead(r)
	return fmt.Errorf("StartTLS refused: resultCode %d %q", code[0], clip(diag, 200))
}

// berRead reads one BER element (definite length, at most 64 KiB) and
// returns its tag and content.
func berRead(br *bufio.Reader) (byte, []byte, error) {
	tag, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	l, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n := int(l)
	if l&0x80 != 0 {
		k := int(l & 0x7f)
		if k == 0 || k > 2 {
			return 0, nil, fmt.Errorf("unsupported BER length form %#x", l)
		}
		n = 0
		for range k {
			b, err := br.ReadByte()
			if err != nil {
				return 0, nil, err
			}
			n = n<<8 | int(b)
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return 0, nil, err
	}
	return tag, buf, nil
}
