//go:build integration

package main

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/gsm7"
	"github.com/monsta/monsta/internal/testkit/clickatellfake"
	"github.com/monsta/monsta/internal/testkit/loopback"
)

// TestITPagesSMSAndRecoveryMail runs the daemon against the Clickatell fake
// and the real Postfix and Dovecot: a failing test's SMS arrives in one
// GSM-7 part naming the test and the error, and the RECOVERED e-mail
// carries the outage's duration and failed runs.
func TestITPagesSMSAndRecoveryMail(t *testing.T) {
	e := mailITGet(t)
	acct := clickatellfake.Account{User: "monsta", Password: "sms-it-pw", APIID: "3456789"}
	sms := clickatellfake.Start(acct)
	defer sms.Close()
	port := loopback.ClosedPort(t)
	test := fmt.Sprintf("pages%d", time.Now().UnixNano()%1e9)
	conf := writeConf(t, map[string]string{"monsta.conf": e.expand(fmt.Sprintf(`
[main]
statedir = STATEDIR
user = root
hostname = it-host
[Check_web]
type = portconnect
host = 127.0.0.1
port = %d
timeout = 2
[Test_%s]
checks = web
interval = 1
notify = 2:sms_bob,mail_bob
[Notification_sms_bob]
type = sms
username = monsta
password = sms-it-pw
api_id = 3456789
api_url = %s
recipient = 27999000001
[Notification_mail_bob]
type = mail
host = 127.0.0.1
port = SUBPORT
starttls = required
tls_ca = CAFILE
username = USER
password = PASS
sender = USER
recipient = USER
`, port, test, sms.URL))})
	d := startDaemon(t, conf)
	d.waitLog(`msg="monsta started"`, 1, 10*time.Second)

	// Two failures: the SMS.
	deadline := time.Now().Add(20 * time.Second)
	for len(sms.Messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	msgs := sms.Messages()
	if len(msgs) != 1 {
		t.Fatalf("fake got %d SMS, want 1", len(msgs))
	}
	text := msgs[0].Text
	t.Logf("SMS: %q", text)
	wantErr := fmt.Sprintf("web: connect 127.0.0.1:%d: connection refused", port)
	if msgs[0].Unicode || gsm7.Septets(text) < 0 || gsm7.Septets(text) > 160 || !strings.HasPrefix(text, "FAIL "+test) ||
		!strings.Contains(text, wantErr) {
		t.Errorf("SMS %q: want one GSM-7 part starting FAIL %s and naming %q", text, test, wantErr)
	}

	// The service comes back: the RECOVERED mail tells how long it was down.
	loopback.ServeOn(t, net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), func(c net.Conn) {})
	uids := e.AwaitHeader(t, e.user, e.pass, "Subject", "RECOVERED "+test, 30*time.Second)
	if len(uids) == 0 {
		t.Fatal("RECOVERED mail never arrived")
	}
	body := string(e.Fetch(t, e.user, e.pass, uids)[0])
	e.Delete(t, e.user, e.pass, uids)
	t.Logf("RECOVERED mail:\n%s", body)
	for _, want := range []string{"Subject: RECOVERED " + test + " on it-host after down ", "failed runs since ", "Outage:   ",
		"failed runs, from "} {
		if !strings.Contains(body, want) {
			t.Errorf("RECOVERED mail lacks %q", want)
		}
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit = %d", code)
	}
}
