package builtins

import (
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/gsm7"
	"github.com/monsta/monsta/runtime"
)

// smsExamples are the three failures whose SMS texts docs/types.md shows
// under sms_clickatell (through the descriptor's help text).
func smsExamples() []runtime.Message {
	at := time.Date(2026, 11, 24, 3, 27, 0, 0, time.UTC)
	fail := func(host, test, check, typ, err string, failures int, since time.Duration) runtime.Message {
		r := runtime.TestResult{Test: test, Failures: failures, Time: at, Checks: []runtime.CheckResult{
			{Check: check, Type: typ, Errors: []string{err}, Duration: 45 * time.Microsecond}}}
		return runtime.NewMessage(host, r, runtime.StateFail, false, runtime.Outage{Since: at.Add(-since), Failures: failures})
	}
	return []runtime.Message{
		fail("vm", "web", "web", "portconnect", "connect 127.0.0.1:8080: connection refused", 3, 15*time.Minute),
		fail("mx1.example.org", "mail", "roundtrip", "mailbox", `message not in "INBOX" after 60s`, 2, 10*time.Minute),
		fail("ns-monitor.example.org", "dns", "serial", "dnsserial",
			"serials differ: ns1.example.org:53=2026112401 ns2.example.org:53=2026112401 ns3.example.net:53=2026112300", 5, 107*time.Minute),
	}
}

func TestSMSExamplesInHelp(t *testing.T) {
	for _, m := range smsExamples() {
		text := smsText(m)
		n := gsm7.Septets(text)
		if n < 0 || n > 160 {
			t.Errorf("SMS %q: %d septets, want GSM-7 and at most 160", text, n)
		}
		check := m.Checks[0]
		if !strings.HasPrefix(text, "FAIL "+m.Test) || !strings.Contains(text, check.Check+": "+check.Errors[0][:20]) {
			t.Errorf("SMS %q lacks the state, test or first error", text)
		}
		if !strings.Contains(clickatellHelp, "\n    "+text+"\n") {
			t.Errorf("the sms_clickatell help does not show the example SMS\n    %s", text)
		}
	}
}
