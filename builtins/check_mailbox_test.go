package builtins

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/backend/memory"
	"github.com/emersion/go-imap/server"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// lockedBackend serializes go-imap's memory backend, which has no locking of
// its own, so that the fake SMTP server can deliver while IMAP clients read.
// It accepts one account, user/pass, backed by the memory backend's user.
type lockedBackend struct {
	mu         sync.Mutex
	mem        *memory.Backend
	user, pass string
	logins     []bool // one per LOGIN seen: whether it came over TLS
}

func (b *lockedBackend) Login(ci *imap.ConnInfo, user, pass string) (backend.User, error) {
	b.mu.Lock()
	b.logins = append(b.logins, ci != nil && ci.TLS != nil)
	b.mu.Unlock()
	if user != b.user || pass != b.pass {
		return nil, errors.New("Bad username or password")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.mem.Login(ci, "username", "password")
	if err != nil {
		return nil, err
	}
	return &lockedUser{b: b, u: u}, nil
}

// inbox returns the memory INBOX for direct use under b.mu.
func (b *lockedBackend) inbox() backend.Mailbox {
	u, err := b.mem.Login(nil, "username", "password")
	if err != nil {
		panic(err)
	}
	mb, err := u.GetMailbox("INBOX")
	if err != nil {
		panic(err)
	}
	return mb
}

// deliver appends a message to the INBOX.
func (b *lockedBackend) deliver(data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.inbox().CreateMessage(nil, time.Now(), bytes.NewReader(data)); err != nil {
		panic(err)
	}
}

// probeHeaders returns the X-Monsta-Probe values of the INBOX's messages.
func (b *lockedBackend) probeHeaders(t *testing.T) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan *imap.Message, 100)
	section := &imap.BodySectionName{BodyPartName: imap.BodyPartName{Specifier: imap.HeaderSpecifier}}
	seq := new(imap.SeqSet)
	seq.AddRange(1, 0)
	if err := b.inbox().ListMessages(false, seq, []imap.FetchItem{section.FetchItem()}, ch); err != nil {
		t.Fatal(err)
	}
	var out []string
	for m := range ch {
		hdr, _ := io.ReadAll(m.GetBody(section))
		for _, line := range strings.Split(string(hdr), "\r\n") {
			if v, ok := strings.CutPrefix(line, probeHeader+": "); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

type lockedUser struct {
	b *lockedBackend
	u backend.User
}

func (u *lockedUser) Username() string { return u.b.user }
func (u *lockedUser) ListMailboxes(sub bool) ([]backend.Mailbox, error) {
	u.b.mu.Lock()
	defer u.b.mu.Unlock()
	list, err := u.u.ListMailboxes(sub)
	for i, m := range list {
		list[i] = &lockedMailbox{b: u.b, m: m}
	}
	return list, err
}
func (u *lockedUser) GetMailbox(name string) (backend.Mailbox, error) {
	u.b.mu.Lock()
	defer u.b.mu.Unlock()
	m, err := u.u.GetMailbox(name)
	if err != nil {
		return nil, err
	}
	return &lockedMailbox{b: u.b, m: m}, nil
}
func (u *lockedUser) CreateMailbox(name string) error { return errors.New("not supported") }
func (u *lockedUser) DeleteMailbox(name string) error { return errors.New("not supported") }
func (u *lockedUser) RenameMailbox(a, b string) error { return errors.New("not supported") }
func (u *lockedUser) Logout() error                   { return nil }

type lockedMailbox struct {
	b *lockedBackend
	m backend.Mailbox
}

func (m *lockedMailbox) lock() func() { m.b.mu.Lock(); return m.b.mu.Unlock }

func (m *lockedMailbox) Name() string { return m.m.Name() }
func (m *lockedMailbox) Info() (*imap.MailboxInfo, error) {
	defer m.lock()()
	return m.m.Info()
}
func (m *lockedMailbox) Status(items []imap.StatusItem) (*imap.MailboxStatus, error) {
	defer m.lock()()
	return m.m.Status(items)
}
func (m *lockedMailbox) SetSubscribed(s bool) error { defer m.lock()(); return m.m.SetSubscribed(s) }
func (m *lockedMailbox) Check() error               { defer m.lock()(); return m.m.Check() }
func (m *lockedMailbox) ListMessages(uid bool, set *imap.SeqSet, items []imap.FetchItem, ch chan<- *imap.Message) error {
	defer m.lock()()
	return m.m.ListMessages(uid, set, items, ch)
}
func (m *lockedMailbox) SearchMessages(uid bool, c *imap.SearchCriteria) ([]uint32, error) {
	defer m.lock()()
	return m.m.SearchMessages(uid, c)
}
func (m *lockedMailbox) CreateMessage(flags []string, date time.Time, body imap.Literal) error {
	defer m.lock()()
	return m.m.CreateMessage(flags, date, body)
}
func (m *lockedMailbox) UpdateMessagesFlags(uid bool, set *imap.SeqSet, op imap.FlagsOp, flags []string) error {
	defer m.lock()()
	return m.m.UpdateMessagesFlags(uid, set, op, flags)
}
func (m *lockedMailbox) CopyMessages(uid bool, set *imap.SeqSet, dest string) error {
	defer m.lock()()
	return m.m.CopyMessages(uid, set, dest)
}
func (m *lockedMailbox) Expunge() error { defer m.lock()(); return m.m.Expunge() }

// startFakeIMAP serves b over IMAP on 127.0.0.1:0, with STARTTLS when
// starttls is set, and returns its port.
func startFakeIMAP(t *testing.T, b *lockedBackend, starttls bool) string {
	t.Helper()
	s := server.New(b)
	s.AllowInsecureAuth = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	if starttls {
		cert, _ := testCert()
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

func probeMessage(probe string) []byte {
	return []byte("From: <x@monsta.test>\r\nTo: <alice@monsta.test>\r\nSubject: late\r\n" +
		probeHeader + ": " + probe + "\r\n\r\nlate probe\r\n")
}

// mailboxCase is a case of TestMailboxCheck.
type mailboxCase struct {
	name     string
	opts     map[string]string
	noDeliv  bool     // the SMTP server accepts but never delivers
	seed     []string // probe header values already in the INBOX; "OWN" is replaced by the token
	wantErr  string
	wantLeft []string // probe headers left afterwards ("OWN" replaced)
	smtpSeen bool     // the SMTP server saw a transaction
}

func TestMailboxCheck(t *testing.T) {
	ca := testCAFile(t)
	tests := []mailboxCase{
		{name: "round trip", smtpSeen: true},
		{name: "late probes of this check are deleted, others kept", smtpSeen: true,
			seed:     []string{"OWN-0000000000000001", "0123456789abcdef-0000000000000002"},
			wantLeft: []string{"0123456789abcdef-0000000000000002"}},
		{name: "a late probe does not pass a run", noDeliv: true, smtpSeen: true,
			opts: map[string]string{"timeout": "0.3"}, seed: []string{"OWN-0000000000000001"},
			wantErr: `message not in "INBOX" after 0.3s`},
		{name: "STARTTLS on both legs with AUTH", smtpSeen: true, opts: map[string]string{
			"smtp_starttls": "required", "smtp_username": "monsta", "smtp_password": "s3cret",
			"mailbox_starttls": "required", "tls_ca": ca}},
		{name: "wrong IMAP password", opts: map[string]string{"mailbox_password": "wrong-pw"},
			wantErr: "IMAP login as alice@monsta.test: Bad username or password"},
		{name: "wrong folder", opts: map[string]string{"mailbox_folder": "Nope"},
			wantErr: `IMAP select "Nope": No such mailbox`},
		{name: "recipient rejected", opts: map[string]string{"recipient": "nobody@monsta.test"},
			wantErr: "SMTP RCPT TO <nobody@monsta.test>: 550 5.1.1", smtpSeen: true},
		{name: "wrong SMTP password", opts: map[string]string{
			"smtp_starttls": "yes", "smtp_username": "monsta", "smtp_password": "wrong-pw", "tls_ca": ca},
			wantErr: "SMTP AUTH PLAIN as monsta: 535 5.7.8"},
		{name: "SMTP down", opts: map[string]string{"smtp_port": "CLOSED"},
			wantErr: "SMTP connect 127.0.0.1:CLOSED: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runMailboxCase(t, tt) })
	}
}

// runMailboxCase runs a mailbox check against fake SMTP and IMAP servers
// and wants tt's outcome, probes and transactions.
func runMailboxCase(t *testing.T, tt mailboxCase) {
	be := &lockedBackend{mem: memory.New(), user: "alice@monsta.test", pass: "imap-pw"}
	fake := startFakeSMTP(t, fakeSMTPConfig{starttls: true, reject: rejectUnknown,
		users: map[string]string{"monsta": "s3cret"},
		deliver: func(m fakeMsg) {
			if !tt.noDeliv {
				be.deliver(m.data)
			}
		}})
	_, smtpPort := fake.hostPort(t)
	imapPort := startFakeIMAP(t, be, true)
	closed := closedPort(t) // after every listener of the test, so none takes its port
	raw := map[string]string{"smtp_host": "127.0.0.1", "smtp_port": smtpPort,
		"sender": "monsta@monsta.test", "recipient": "alice@monsta.test",
		"mailbox_host": "127.0.0.1", "mailbox_port": imapPort,
		"mailbox_username": "alice@monsta.test", "mailbox_password": "imap-pw", "timeout": "5"}
	for k, v := range tt.opts {
		raw[k] = strings.ReplaceAll(v, "CLOSED", closed)
	}
	o := newTestOptions(t, mailboxCheckDescriptor(), "Check_roundtrip", raw)
	c, err := mailboxCheckDescriptor().NewCheck(o)
	if err != nil {
		t.Fatal(err)
	}
	token := c.(*MailboxCheck).token
	for _, p := range ownProbes(tt.seed, token) {
		be.deliver(probeMessage(p))
	}
	r := runUnderDeadline(t, c, o)
	want := strings.ReplaceAll(tt.wantErr, "CLOSED", closed)
	wantRunError(t, r.err, want)
	if r.err != nil && (strings.Contains(r.err.Error(), "wrong-pw") || strings.Contains(r.err.Error(), "imap-pw")) {
		t.Errorf("Run() error %q shows a password", r.err)
	}
	if want == "" {
		wantStats(t, r.stats, "smtp_seconds", "mailbox_seconds")
	}
	msgs := fake.messages()
	if tt.smtpSeen != (len(msgs) > 0) {
		t.Fatalf("SMTP server saw %d transactions, want some: %v", len(msgs), tt.smtpSeen)
	}
	if want == "" {
		checkProbeSent(t, msgs[0], token, tt.opts["smtp_username"])
	}
	left := be.probeHeaders(t)
	if wantLeft := ownProbes(tt.wantLeft, token); strings.Join(left, " ") != strings.Join(wantLeft, " ") &&
		(tt.wantErr == "" || tt.noDeliv) {
		t.Errorf("probes left in INBOX = %v, want %v", left, wantLeft)
	}
}

// ownProbes returns the probe headers of list with OWN replaced by token.
func ownProbes(list []string, token string) []string {
	var out []string
	for _, s := range list {
		out = append(out, strings.ReplaceAll(s, "OWN", token))
	}
	return out
}

// checkProbeSent wants m to carry the check's probe (token-ID, in its
// header and subject), sent with AUTH as user over TLS, or without AUTH
// when user is "".
func checkProbeSent(t *testing.T, m fakeMsg, token, user string) {
	t.Helper()
	msg, _ := parseMail(t, m.data)
	probe := msg.Header.Get(probeHeader)
	if !strings.HasPrefix(probe, token+"-") || !strings.Contains(msg.Header.Get("Subject"), probe) {
		t.Errorf("probe header %q, subject %q: want %s-ID in both", probe,
			msg.Header.Get("Subject"), token)
	}
	if m.user != user || (user != "" && !m.tls) {
		t.Errorf("SMTP AUTH user = %q (TLS %v), want %q", m.user, m.tls, user)
	}
}

func TestMailboxCheckIMAPSilent(t *testing.T) {
	o := newTestOptions(t, mailboxCheckDescriptor(), "Check_roundtrip", map[string]string{
		"sender": "monsta@monsta.test", "recipient": "alice@monsta.test", "mailbox_host": "127.0.0.1",
		"mailbox_port": silentListener(t), "mailbox_username": "alice", "mailbox_password": "pw"})
	c, err := mailboxCheckDescriptor().NewCheck(o)
	if err != nil {
		t.Fatal(err)
	}
	err = guarded(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Run(ctx)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "IMAP greeting: i/o timeout") || !runtime.IsTimeout(err) {
		t.Errorf("Run() error = %v, want IMAP greeting: i/o timeout", err)
	}
}

func TestMailboxDeadline(t *testing.T) {
	o := newTestOptions(t, mailboxCheckDescriptor(), "Check_roundtrip", map[string]string{
		"sender": "a@x", "recipient": "b@x", "mailbox_host": "h", "mailbox_username": "u",
		"mailbox_password": "p", "smtp_timeout": "5", "timeout": "30"})
	if got, want := o.Descriptor().DeadlineFor(o), 45*time.Second; got != want {
		t.Errorf("DeadlineFor() = %v, want %v", got, want)
	}
	c, err := mailboxCheckDescriptor().NewCheck(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.(*MailboxCheck).imapAddr; got != "h:143" {
		t.Errorf("IMAP address = %s, want h:143", got)
	}
}

// TestMailboxLoginNeverInCleartextOverTheNetwork: STARTTLS is used when
// offered, verified unless cleartext would be allowed anyway; a server
// that offers no TLS gets no password unless it is on loopback or
// mailbox_insecure=yes. The peer's address is a fake's on 127.0.0.1, so a
// remote one is simulated by the check's local func.
func TestMailboxLoginNeverInCleartextOverTheNetwork(t *testing.T) {
	t.Parallel()
	ca := testCAFile(t)
	tests := []struct {
		name     string
		starttls bool // the server offers STARTTLS
		remote   bool // treat the peer as not on loopback
		opts     map[string]string
		wantErr  string
		logins   string // "tls", "clear" or "" (none)
	}{
		{name: "loopback, offered: used without verification", starttls: true, logins: "tls",
			wantErr: `IMAP select "Nope"`},
		{name: "loopback, not offered: cleartext", logins: "clear", wantErr: `IMAP select "Nope"`},
		{name: "remote, offered, verified", starttls: true, remote: true, opts: map[string]string{"tls_ca": ca},
			logins: "tls", wantErr: `IMAP select "Nope"`},
		{name: "remote, offered, certificate not trusted", starttls: true, remote: true,
			wantErr: "IMAP STARTTLS with 127.0.0.1:"},
		{name: "remote, not offered: refused", remote: true,
			wantErr: "IMAP login as alice@monsta.test: refused to send the password in cleartext to 127.0.0.1:"},
		{name: "remote, not offered, mailbox_insecure", remote: true, opts: map[string]string{"mailbox_insecure": "yes"},
			logins: "clear", wantErr: `IMAP select "Nope"`},
		{name: "remote, STARTTLS off: refused", starttls: true, remote: true,
			opts:    map[string]string{"mailbox_starttls": "no"},
			wantErr: "refused to send the password in cleartext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			be := &lockedBackend{mem: memory.New(), user: "alice@monsta.test", pass: "imap-pw"}
			port := startFakeIMAP(t, be, tt.starttls)
			raw := map[string]string{"sender": "monsta@monsta.test", "recipient": "alice@monsta.test",
				"mailbox_host": "127.0.0.1", "mailbox_port": port, "mailbox_folder": "Nope",
				"mailbox_username": "alice@monsta.test", "mailbox_password": "imap-pw"}
			for k, v := range tt.opts {
				raw[k] = v
			}
			o := newTestOptions(t, mailboxCheckDescriptor(), "Check_roundtrip", raw)
			c, err := mailboxCheckDescriptor().NewCheck(o)
			if err != nil {
				t.Fatal(err)
			}
			if tt.remote {
				c.(*MailboxCheck).local = func(net.Addr) bool { return false }
			}
			r := runUnderDeadline(t, c, o)
			if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Errorf("Run() error = %v, want one containing %q", r.err, tt.wantErr)
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			var got []string
			for _, tls := range be.logins {
				got = append(got, map[bool]string{true: "tls", false: "clear"}[tls])
			}
			if strings.Join(got, " ") != tt.logins {
				t.Errorf("LOGINs seen = %v, want %q", got, tt.logins)
			}
		})
	}
}

// TestMailboxEchoedPasswordRedacted: a server that echoes the LOGIN command
// in its refusal does not get the password into the result, which is what
// --run prints and the daemon logs, stores in failed/ and sends; neither
// in its plain form nor in the escaped form of an IMAP quoted string.
func TestMailboxEchoedPasswordRedacted(t *testing.T) {
	t.Parallel()
	const pass = `pa"ss\wörd-42`
	port := loopback.PortString(loopback.Serve(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] echo ready\r\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
			if m := literalSize.FindStringSubmatch(rest); m != nil { // a literal follows
				n, _ := strconv.Atoi(m[1])
				io.WriteString(c, "+ go ahead\r\n")
				buf := make([]byte, n)
				io.ReadFull(r, buf)
				tail, _ := r.ReadString('\n')
				rest += string(buf) + strings.TrimRight(tail, "\r\n")
			}
			switch strings.ToUpper(strings.Fields(rest)[0]) {
			case "CAPABILITY":
				io.WriteString(c, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"+tag+" OK done\r\n")
			case "LOGOUT":
				io.WriteString(c, "* BYE\r\n"+tag+" OK bye\r\n")
				return
			default:
				io.WriteString(c, tag+" NO unexpected command: "+tag+" "+rest+"\r\n")
			}
		}
	}))
	for _, pw := range []string{pass, "plain-secret", `quo"te`} {
		o := newTestOptions(t, mailboxCheckDescriptor(), "Check_roundtrip", map[string]string{
			"sender": "monsta@monsta.test", "recipient": "alice@monsta.test", "mailbox_host": "127.0.0.1",
			"mailbox_port": port, "mailbox_username": "alice", "mailbox_password": pw})
		c, err := mailboxCheckDescriptor().NewCheck(o)
		if err != nil {
			t.Fatal(err)
		}
		res := guarded(t, func() runtime.CheckResult { return runtime.RunCheck(context.Background(), c, o) })
		text := strings.Join(res.Errors, "\n")
		escaped := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(pw)
		if res.OK || !strings.Contains(text, "IMAP login as alice: unexpected command:") || !strings.Contains(text, "[redacted]") ||
			strings.Contains(text, pw) || strings.Contains(text, escaped) {
			t.Errorf("password %q: result errors = %q, want the echo with the password [redacted]", pw, text)
		}
	}
}

// literalSize matches an IMAP literal announcement at the end of a line.
var literalSize = regexp.MustCompile(`\{(\d+)\}$`)
