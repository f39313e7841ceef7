package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/monsta/monsta/internal/testkit/clickatellfake"
)

// TestLintVerifiesSMS runs --lint against the Clickatell fake: right
// credentials verify on both APIs; a wrong password or API key fails with
// the API's words, exit 1 and no "configuration OK"; nothing is sent.
func TestLintVerifiesSMS(t *testing.T) {
	t.Parallel()
	acct := clickatellfake.Account{User: "monsta", Password: "sms-pw-right", APIID: "3456789", APIKey: "rest-key-right"}
	fake := clickatellfake.Start(acct)
	defer fake.Close()
	conf := func(legacyPW, key string) string {
		return writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR
[Check_up]
type = script
command = true
[Test_up]
checks = up
notify = 1:sms_legacy,sms_rest
[Notification_sms_legacy]
type = sms
username = monsta
password = ` + legacyPW + `
api_id = 3456789
api_url = ` + fake.URL + `
recipient = 27999000001
[Notification_sms_rest]
type = sms
api_key = ` + key + `
api_url = ` + fake.URL + `
recipient = 27999000001
`})
	}
	r := monsta(t, "--lint", "--config", conf("sms-pw-right", "rest-key-right"))
	if r.code != exitOK || !strings.Contains(r.stdout, "Notification_sms_legacy (sms_clickatell): verified") ||
		!strings.Contains(r.stdout, "Notification_sms_rest (sms_clickatell): verified") || !strings.Contains(r.stdout, "configuration OK") {
		t.Errorf("--lint with right credentials = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = monsta(t, "--lint", "--config", conf("sms-pw-wrong", "rest-key-wrong"))
	t.Logf("--lint with wrong credentials: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	for _, want := range []string{
		"Notification_sms_legacy (sms_clickatell): FAILED: clickatell " + strings.TrimPrefix(fake.URL, "http://") + ": login: ERR: 001, Authentication failed",
		"Notification_sms_rest (sms_clickatell): FAILED: clickatell " + strings.TrimPrefix(fake.URL, "http://") + ": balance: HTTP 401 Unauthorized: Invalid or missing Integration API Key",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--lint output lacks %q", want)
		}
	}
	if r.code != exitFail || strings.Contains(r.stdout, "configuration OK") || !strings.Contains(r.stderr, "2 notifications failed verification") {
		t.Errorf("--lint with wrong credentials = %d, want 1 and no configuration OK", r.code)
	}
	for _, secret := range []string{"sms-pw-wrong", "rest-key-wrong"} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("--lint output shows the secret %q", secret)
		}
	}
	if n := len(fake.Messages()); n != 0 {
		t.Errorf("--lint sent %d SMS, want none", n)
	}
}

// TestLintPrintsShards: with [main] shard, --lint prints how the tests
// split over the shards and which ones this shard runs, the uplink
// (which its tests need) included.
func TestLintPrintsShards(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("[main]\nstatedir = STATEDIR\nshard = 1/2\nuplink = gw\n[Check_up]\ntype = script\ncommand = true\n")
	for _, n := range []string{"gw", "a", "b", "c", "d", "e", "f"} {
		b.WriteString("[Test_" + n + "]\nchecks = up\n")
	}
	r := monsta(t, "--lint", "--no-login", "--config", writeConf(t, map[string]string{"monsta.conf": b.String()}))
	if r.code != 0 || !strings.Contains(r.stdout, "shards: 7 tests over 2 shards (1/2: ") || !strings.Contains(r.stdout, "shard 1/2 runs ") {
		t.Fatalf("--lint = %d\n%s%s\nwant the split over 2 shards", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "gw") {
		t.Errorf("--lint does not name the uplink gw among the tests shard 1/2 runs:\n%s", r.stdout)
	}
}

// TestLintSaysWhenTheCapIsTooLow: a configuration whose hung targets
// would need more than max_concurrent_checks at once is named by --lint,
// which still passes; one within the cap gets no such line.
func TestLintSaysWhenTheCapIsTooLow(t *testing.T) {
	t.Parallel()
	conf := func(cap int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "[main]\nstatedir = STATEDIR\nmax_concurrent_checks = %d\n", cap)
		for i := range 20 {
			fmt.Fprintf(&b, "[Check_c%d]\ntype = portconnect\nhost = 127.0.0.1\nport = 1\ntimeout = 10\n[Test_t%d]\nchecks = c%d\ninterval = 5\n", i, i, i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		cap  int
		want bool
	}{{cap: 4, want: true}, {cap: 1000, want: false}} {
		r := monsta(t, "--lint", "--no-login", "--config", writeConf(t, map[string]string{"monsta.conf": conf(tc.cap)}))
		got := strings.Contains(r.stdout, "max_concurrent_checks: with every target hanging")
		if r.code != 0 || got != tc.want {
			t.Errorf("--lint with max_concurrent_checks = %d: exit %d, warning %v, want exit 0 and warning %v\n%s%s",
				tc.cap, r.code, got, tc.want, r.stdout, r.stderr)
		}
	}
}
