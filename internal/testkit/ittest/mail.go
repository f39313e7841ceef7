package ittest

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
)

// Mail are Postfix and Dovecot of .ci/servers.d/mail.sh.
type Mail struct {
	SMTP, Submission, IMAP, IMAPS string // host:port
	CA                            string // PEM file of the servers' self-signed certificate
	// Users and Passwords are the three accounts (alice, bob, carol).
	Users, Passwords [3]string
}

// MailEnv reads what .ci/servers.d/mail.sh published.
func MailEnv(t testing.TB) Mail {
	t.Helper()
	e := Mail{SMTP: Env(t, "MONSTA_IT_SMTP"), Submission: Env(t, "MONSTA_IT_SUBMISSION"),
		IMAP: Env(t, "MONSTA_IT_IMAP"), IMAPS: Env(t, "MONSTA_IT_IMAPS"), CA: Env(t, "MONSTA_IT_MAIL_CA")}
	for i := range e.Users {
		n := string(rune('1' + i))
		e.Users[i], e.Passwords[i] = Env(t, "MONSTA_IT_MAIL_USER"+n), Env(t, "MONSTA_IT_MAIL_PASSWORD"+n)
	}
	return e
}

// WithIMAP runs f in a short IMAPS session of the test's own (verified
// against CA) as user with INBOX selected.
func (e Mail) WithIMAP(t testing.TB, user, pass string, f func(c *client.Client)) {
	t.Helper()
	host, _, _ := net.SplitHostPort(e.IMAPS)
	c, err := client.DialWithDialerTLS(&net.Dialer{Timeout: 10 * time.Second}, e.IMAPS,
		&tls.Config{RootCAs: caPool(t, e.CA), ServerName: host})
	if err != nil {
		t.Fatalf("IMAPS dial: %v", err)
	}
	c.Timeout = 10 * time.Second
	defer c.Logout()
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("IMAP login: %v", err)
	}
	if _, err := c.Select("INBOX", false); err != nil {
		t.Fatalf("IMAP select: %v", err)
	}
	f(c)
}

// SearchHeader returns the UIDs of user's INBOX messages whose header
// contains value ("" matches every message that has the header).
func (e Mail) SearchHeader(t testing.TB, user, pass, header, value string) (uids []uint32) {
	t.Helper()
	e.WithIMAP(t, user, pass, func(c *client.Client) {
		sc := imap.NewSearchCriteria()
		sc.Header.Add(header, value)
		var err error
		if uids, err = c.UidSearch(sc); err != nil {
			t.Fatalf("UID SEARCH: %v", err)
		}
	})
	return uids
}

// AwaitHeader polls SearchHeader until some message matches or within has
// passed; it returns the UIDs found, none when nothing arrived in time.
func (e Mail) AwaitHeader(t testing.TB, user, pass, header, value string, within time.Duration) []uint32 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if uids := e.SearchHeader(t, user, pass, header, value); len(uids) != 0 {
			return uids
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Fetch returns the raw messages (header and body) of user's INBOX with uids.
func (e Mail) Fetch(t testing.TB, user, pass string, uids []uint32) [][]byte {
	t.Helper()
	var out [][]byte
	e.WithIMAP(t, user, pass, func(c *client.Client) {
		set := new(imap.SeqSet)
		set.AddNum(uids...)
		section := &imap.BodySectionName{}
		ch := make(chan *imap.Message, len(uids))
		if err := c.UidFetch(set, []imap.FetchItem{section.FetchItem()}, ch); err != nil {
			t.Fatalf("UID FETCH: %v", err)
		}
		for m := range ch {
			raw, err := io.ReadAll(m.GetBody(section))
			if err != nil {
				t.Fatalf("UID FETCH: read body: %v", err)
			}
			out = append(out, raw)
		}
	})
	return out
}

// Delete removes the messages with uids from user's INBOX (\Deleted, EXPUNGE).
func (e Mail) Delete(t testing.TB, user, pass string, uids []uint32) {
	t.Helper()
	e.WithIMAP(t, user, pass, func(c *client.Client) {
		set := new(imap.SeqSet)
		set.AddNum(uids...)
		if err := c.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), []interface{}{imap.DeletedFlag}, nil); err != nil {
			t.Fatalf("UID STORE \\Deleted: %v", err)
		}
		if err := c.Expunge(nil); err != nil {
			t.Fatalf("EXPUNGE: %v", err)
		}
	})
}
