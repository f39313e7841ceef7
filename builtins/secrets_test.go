package builtins

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/backend/memory"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// This file plants a distinctive secret in every secret option of every
// registered type, points the type at a loopback fake that echoes the
// credential back in its wire form (the AUTH PLAIN blob, the LOGIN
// command, Authorization: Basic or Bearer, the form or URL it was sent
// in), and greps every output of the run for every form of the secret.

// echo records what a fake received, so that a case fails when the type
// never sent the secret (and the fake had nothing to echo).
type echo struct {
	mu  sync.Mutex
	got strings.Builder
}

func (e *echo) add(s string) {
	e.mu.Lock()
	e.got.WriteString(s + "\n")
	e.mu.Unlock()
}

// carried tells whether the fake received secret in some form: raw, URL-
// escaped, or inside a base64 word.
func (e *echo) carried(secret string) bool {
	e.mu.Lock()
	text := e.got.String()
	e.mu.Unlock()
	if strings.Contains(text, secret) || strings.Contains(text, url.QueryEscape(secret)) {
		return true
	}
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return strings.ContainsRune(" \t\r\n<>\"'=:", r) }) {
		if b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(w, "=")); err == nil && strings.Contains(string(b), secret) {
			return true
		}
	}
	return false
}

// secretCase runs one type with some of its secret options planted.
type secretCase struct {
	name    string
	kind    runtime.Kind
	typ     string
	secrets []string // the secret options planted
	user    string   // the user name the secrets go with; "" none
	// setup starts the fake, whose echo is preceded by pad characters (so
	// that a 200-character clip falls inside the echoed secret), and
	// returns the options.
	setup func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo)
}

// secretToken is the distinctive secret planted in one option.
func secretToken(typ, opt string) string {
	h := sha256.Sum256([]byte(typ + "/" + opt))
	return "Zq" + hex.EncodeToString(h[:])[:28] + "x9K"
}

func secretCases() []secretCase {
	return []secretCase{
		{name: "http", kind: runtime.KindCheck, typ: "http", secrets: []string{"headers", "password"}, user: "ann",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				url, e := httpEcho(t, pad, http.StatusOK)
				return map[string]string{"url": url, "headers": "X-Api-Key: " + tok["headers"], "username": "ann",
					"password": tok["password"], "expect_header": "X-Echo: ^never$", "json_path": "echo", "json_expect": "never"}, e
			}},
		{name: "smtp check", kind: runtime.KindCheck, typ: "smtp", secrets: []string{"password"}, user: "ann",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				host, port, ca, e := smtpEcho(t, pad)
				return map[string]string{"host": host, "port": port, "sender": "a@monsta.test", "recipient": "b@monsta.test",
					"username": "ann", "password": tok["password"], "starttls": "required", "tls_ca": ca}, e
			}},
		{name: "mailbox smtp leg", kind: runtime.KindCheck, typ: "mailbox", secrets: []string{"smtp_password"}, user: "ann",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				host, port, ca, e := smtpEcho(t, pad)
				be := &lockedBackend{mem: memory.New(), user: "alice@monsta.test", pass: "imap-pw"}
				return map[string]string{"smtp_host": host, "smtp_port": port, "smtp_username": "ann",
					"smtp_password": tok["smtp_password"], "smtp_starttls": "required", "tls_ca": ca,
					"sender": "a@monsta.test", "recipient": "alice@monsta.test", "mailbox_host": "127.0.0.1",
					"mailbox_port": startFakeIMAP(t, be, false), "mailbox_username": "alice@monsta.test", "mailbox_password": "imap-pw"}, e
			}},
		{name: "mailbox imap leg", kind: runtime.KindCheck, typ: "mailbox", secrets: []string{"mailbox_password"}, user: "ann",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				port, e := imapEcho(t, pad)
				return map[string]string{"sender": "a@monsta.test", "recipient": "ann@monsta.test", "mailbox_host": "127.0.0.1",
					"mailbox_port": port, "mailbox_username": "ann", "mailbox_password": tok["mailbox_password"]}, e
			}},
		{name: "smtp notifier", kind: runtime.KindNotifier, typ: "smtp", secrets: []string{"password"}, user: "ann",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				host, port, ca, e := smtpEcho(t, pad)
				return map[string]string{"host": host, "port": port, "sender": "a@monsta.test", "recipient": "b@monsta.test",
					"username": "ann", "password": tok["password"], "starttls": "required", "tls_ca": ca, "helo": "monsta.test"}, e
			}},
		{name: "xmpp", kind: runtime.KindNotifier, typ: "xmpp", secrets: []string{"password"}, user: "ann@monsta.test",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				addr, ca, e := xmppEcho(t, pad)
				return map[string]string{"jid": "ann@monsta.test", "password": tok["password"], "server": addr,
					"recipient": "bob@monsta.test", "tls_ca": ca}, e
			}},
		{name: "clickatell http api", kind: runtime.KindNotifier, typ: "sms_clickatell", secrets: []string{"password"}, user: "ann",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				url, e := httpEcho(t, pad, http.StatusBadRequest)
				return map[string]string{"username": "ann", "password": tok["password"], "api_id": "1234",
					"api_url": url, "recipient": "27999000001"}, e
			}},
		{name: "clickatell rest api", kind: runtime.KindNotifier, typ: "sms_clickatell", secrets: []string{"api_key"},
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				url, e := httpEcho(t, pad, http.StatusBadRequest)
				return map[string]string{"api_key": tok["api_key"], "api_url": url, "recipient": "27999000001"}, e
			}},
		{name: "alertmanager basic", kind: runtime.KindNotifier, typ: "alertmanager", secrets: []string{"password"}, user: "ann",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				url, e := httpEcho(t, pad, http.StatusBadRequest)
				return map[string]string{"url": url, "username": "ann", "password": tok["password"]}, e
			}},
		{name: "alertmanager bearer", kind: runtime.KindNotifier, typ: "alertmanager", secrets: []string{"bearer_token"},
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				url, e := httpEcho(t, pad, http.StatusBadRequest)
				return map[string]string{"url": url, "bearer_token": tok["bearer_token"]}, e
			}},
		{name: "webhook bearer", kind: runtime.KindNotifier, typ: "webhook", secrets: []string{"url", "bearer_token"},
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				url, e := httpEcho(t, pad, http.StatusBadRequest)
				return map[string]string{"url": url + "/hooks/" + tok["url"], "bearer_token": tok["bearer_token"]}, e
			}},
		{name: "webhook basic", kind: runtime.KindNotifier, typ: "webhook", secrets: []string{"url", "password"}, user: "ann",
			setup: func(t *testing.T, tok map[string]string, pad int) (map[string]string, *echo) {
				url, e := httpEcho(t, pad, http.StatusBadRequest)
				return map[string]string{"url": url + "/x?token=" + tok["url"], "username": "ann", "password": tok["password"]}, e
			}},
	}
}

// TestSecretsInEveryForm derives its cases from the registry: a type with
// a secret option no case plants fails the test.
func TestSecretsInEveryForm(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := Register(reg, Env{}); err != nil {
		t.Fatal(err)
	}
	cases := secretCases()
	for _, kind := range []runtime.Kind{runtime.KindCheck, runtime.KindNotifier} {
		for _, name := range reg.Names(kind) {
			d, _ := reg.Lookup(kind, name)
			var want, got []string
			for _, o := range d.Options {
				if o.Secret {
					want = append(want, o.Name)
				}
			}
			for _, c := range cases {
				if c.kind == kind && c.typ == d.Name {
					got = append(got, c.secrets...)
				}
			}
			sort.Strings(got)
			got = slices.Compact(got)
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("%s type %s: secret option %s has no case with a fake in secretCases", kind, d.Name, w)
				}
			}
		}
	}
	for _, c := range cases {
		d, ok := reg.Lookup(c.kind, c.typ)
		if !ok {
			t.Errorf("case %s: no %s type %s", c.name, c.kind, c.typ)
			continue
		}
		for _, pad := range []int{0, 170, 185, 192, 199} {
			t.Run(fmt.Sprintf("%s/pad%d", c.name, pad), func(t *testing.T) {
				t.Parallel()
				runSecretCase(t, d, c, pad)
			})
		}
	}
}

// runSecretCase runs c once and greps every output for every planted
// secret.
func runSecretCase(t *testing.T, d *runtime.Descriptor, c secretCase, pad int) {
	tok := map[string]string{}
	for _, s := range c.secrets {
		tok[s] = secretToken(c.typ, s)
	}
	raw, e := c.setup(t, tok, pad)
	o, err := runtime.NewOptions(d, d.Kind.SectionPrefix()+"x", raw)
	if err != nil {
		t.Fatalf("NewOptions() = %v", err)
	}
	var outputs []string
	if c.kind == runtime.KindCheck {
		outputs = runCheckOutputs(t, d, o)
	} else {
		outputs = runNotifierOutputs(t, d, o)
	}
	for _, s := range c.secrets {
		if !e.carried(tok[s]) {
			t.Errorf("the fake never received %s: the case does not exercise it", s)
		}
	}
	all := strings.Join(outputs, "\n")
	t.Logf("outputs:\n%s", all)
	if pad == 0 && !strings.Contains(all, "[redacted]") {
		t.Errorf("no output shows [redacted]: the echo did not reach the outputs\n%s", all)
	}
	for _, s := range c.secrets {
		for _, f := range leakForms(tok[s], c.user) {
			if strings.Contains(all, f) {
				t.Errorf("%s leaks as %q in:\n%s", s, f, all)
			}
		}
	}
}

// runCheckOutputs runs the check as the engine does and returns what
// reaches the log, --run, the API, state and the FAIL message.
func runCheckOutputs(t *testing.T, d *runtime.Descriptor, o *runtime.Options) []string {
	chk, err := d.NewCheck(o)
	if err != nil {
		t.Fatalf("NewCheck() = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	res := guarded(t, func() runtime.CheckResult { return runtime.RunCheck(ctx, chk, o) })
	if res.OK {
		t.Fatal("the check passed against an echoing fake")
	}
	out := slices.Clone(res.Errors)
	for k := range res.Stats {
		out = append(out, k)
	}
	m := runtime.NewMessage("host", runtime.TestResult{Test: "t", Failures: 1, Time: time.Now(),
		Checks: []runtime.CheckResult{res}}, runtime.StateFail, false, runtime.Outage{})
	return append(out, m.Short, m.Long)
}

// runNotifierOutputs sends through the notification as the dispatcher and
// --run do, and verifies it as --lint does; it returns the errors' texts,
// which reach the log, the outbox's failed/ and the status.
func runNotifierOutputs(t *testing.T, d *runtime.Descriptor, o *runtime.Options) []string {
	n, err := d.NewNotifier(o)
	if err != nil {
		t.Fatalf("NewNotifier() = %v", err)
	}
	spec := &runtime.NotificationSpec{Name: "x", Desc: d, Opts: o, Notifier: n}
	m := runtime.Message{Test: "t", State: runtime.StateFail, Short: "FAIL t", Long: "Check_c: down", Time: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	err = guarded(t, func() error { return spec.Send(ctx, m) })
	if err == nil {
		t.Fatal("Send() succeeded against an echoing fake")
	}
	out := []string{err.Error()}
	if v, ok := n.(runtime.Verifier); ok {
		if err := guarded(t, func() error { return runtime.RedactError(o, v.Verify(ctx)) }); err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// leakForms are the texts that would give the secret away: its raw and
// escaped forms, every 8-character piece of it, and the base64 of it alone
// and in the AUTH PLAIN, LOGIN and Basic blobs, including the characters
// of each blob that encode only the secret.
func leakForms(secret, user string) []string {
	out := []string{url.QueryEscape(secret), url.PathEscape(secret)}
	for i := 0; i+8 <= len(secret); i++ {
		out = append(out, secret[i:i+8])
	}
	type blob struct{ pre, post string }
	blobs := []blob{{"", ""}}
	if user != "" {
		local, _, _ := strings.Cut(user, "@")
		blobs = append(blobs, blob{"\x00" + user + "\x00", ""}, blob{user + "\x00" + user + "\x00", ""},
			blob{user + ":", ""}, blob{"\x00" + local + "\x00", ""}, blob{user + "\x00" + local + "\x00", ""})
	}
	for _, b := range blobs {
		whole := []byte(b.pre + secret + b.post)
		enc := base64.StdEncoding.EncodeToString(whole)
		out = append(out, strings.TrimRight(enc, "="))
		// The characters whose six bits come from the secret's bytes only.
		var run strings.Builder
		for j := 0; j < len(enc) && enc[j] != '='; j++ {
			if first, last := 6*j/8, (6*j+5)/8; first >= len(b.pre) && last < len(b.pre)+len(secret) {
				run.WriteByte(enc[j])
			}
		}
		if run.Len() >= 8 {
			out = append(out, run.String())
		}
	}
	return out
}

// httpEcho is an HTTP server that answers every request with status and
// pad dots, then the request as it came (Authorization header, URL, form
// body), in its body and in an X-Echo header; a JSON body for 200.
func httpEcho(t *testing.T, pad, status int) (string, *echo) {
	e := &echo{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, _ := httputil.DumpRequest(r, true)
		e.add(string(dump))
		text := strings.Repeat(".", pad) + r.Header.Get("Authorization") + " " + r.Header.Get("X-Api-Key") + " " +
			r.URL.RequestURI() + " " + readAll(r.Body) + " " + strings.Join(r.Header.Values("Authorization"), " ")
		w.Header().Set("X-Echo", text)
		if status == http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"echo": %q}`, text)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, text)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, e
}

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 1<<16))
	return string(b)
}

// smtpEcho is an SMTP server offering STARTTLS and AUTH PLAIN/LOGIN that
// refuses every AUTH with a 535 reply echoing what the client sent.
func smtpEcho(t *testing.T, pad int) (host, port, caFile string, e *echo) {
	cert := newXMPPCert(t)
	e = &echo{}
	host, port = fakeTCP(t, "127.0.0.1:0", func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var conn net.Conn = c
		r := bufio.NewReader(conn)
		io.WriteString(conn, "220 echo ESMTP\r\n")
		tlsOn := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			e.add(line)
			cmd := strings.ToUpper(strings.Fields(line + " x")[0])
			switch {
			case cmd == "EHLO" && !tlsOn:
				io.WriteString(conn, "250-echo\r\n250 STARTTLS\r\n")
			case cmd == "EHLO":
				io.WriteString(conn, "250-echo\r\n250 AUTH PLAIN LOGIN\r\n")
			case cmd == "STARTTLS":
				io.WriteString(conn, "220 go ahead\r\n")
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert.cert}})
				if tc.Handshake() != nil {
					return
				}
				conn, r, tlsOn = tc, bufio.NewReader(tc), true
			case cmd == "AUTH" && len(strings.Fields(line)) == 2:
				io.WriteString(conn, "334 \r\n") // the blob comes on its own line
			case cmd == "AUTH" || !strings.Contains(line, " ") && tlsOn:
				io.WriteString(conn, "535 5.7.8 "+strings.Repeat(".", pad)+"refused: "+line+"\r\n")
			case cmd == "QUIT":
				io.WriteString(conn, "221 bye\r\n")
				return
			default:
				io.WriteString(conn, "250 ok\r\n")
			}
		}
	})
	return host, port, cert.caFile, e
}

// imapEcho is an IMAP server that refuses every command but CAPABILITY
// and LOGOUT with a NO echoing it (LOGIN's arguments, AUTHENTICATE's blob).
func imapEcho(t *testing.T, pad int) (string, *echo) {
	e := &echo{}
	port := loopback.PortString(loopback.Serve(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] echo ready\r\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
			if m := literalSize.FindStringSubmatch(rest); m != nil {
				var n int
				fmt.Sscan(m[1], &n)
				io.WriteString(c, "+ go ahead\r\n")
				buf := make([]byte, n)
				io.ReadFull(r, buf)
				tail, _ := r.ReadString('\n')
				rest += string(buf) + strings.TrimRight(tail, "\r\n")
			}
			e.add(rest)
			switch strings.ToUpper(strings.Fields(rest + " x")[0]) {
			case "CAPABILITY":
				io.WriteString(c, "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\n"+tag+" OK done\r\n")
			case "LOGOUT":
				io.WriteString(c, "* BYE\r\n"+tag+" OK bye\r\n")
				return
			default:
				io.WriteString(c, tag+" NO "+strings.Repeat(".", pad)+"refused: "+rest+"\r\n")
			}
		}
	}))
	return port, e
}

// xmppEcho is an XMPP server that offers STARTTLS, then SASL PLAIN, and
// answers the auth element with a failure whose text echoes its blob.
func xmppEcho(t *testing.T, pad int) (string, string, *echo) {
	cert := newXMPPCert(t)
	e := &echo{}
	const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='%d' from='monsta.test' version='1.0' xml:lang='en'>`
	host, port := fakeTCP(t, "127.0.0.1:0", func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		if readUntil(r, "<stream:stream") == "" || readUntil(r, ">") == "" {
			return
		}
		fmt.Fprintf(c, header+`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`, 1)
		if readUntil(r, "starttls") == "" || readUntil(r, ">") == "" {
			return
		}
		io.WriteString(c, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert.cert}})
		if tc.Handshake() != nil {
			return
		}
		r = bufio.NewReader(tc)
		if readUntil(r, "<stream:stream") == "" || readUntil(r, ">") == "" {
			return
		}
		fmt.Fprintf(tc, header+`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`, 2)
		auth := readUntil(r, "</auth>")
		e.add(auth)
		blob := auth
		if i := strings.LastIndex(auth, ">"); i >= 0 {
			blob = strings.TrimSuffix(auth[strings.Index(auth, ">")+1:], "</auth>")
		}
		fmt.Fprintf(tc, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>%srefused: %s</text></failure></stream:stream>`,
			strings.Repeat(".", pad), blob)
		io.Copy(io.Discard, r)
	})
	return net.JoinHostPort(host, port), cert.caFile, e
}

// readUntil reads through the first occurrence of marker and returns what
// it read; "" when the connection ends first.
func readUntil(r *bufio.Reader, marker string) string {
	var b strings.Builder
	for !strings.HasSuffix(b.String(), marker) {
		c, err := r.ReadByte()
		if err != nil {
			return ""
		}
		b.WriteByte(c)
	}
	return b.String()
}
