package builtins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/monsta/monsta/runtime"
)

// pingInterval is the time between two echo requests of one run.
const pingInterval = 250 * time.Millisecond

// pingGroupRange is the sysctl that allows unprivileged ICMP sockets.
const pingGroupRange = "/proc/sys/net/ipv4/ping_group_range"

func pingDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "ping",
		Description: "send ICMP echo requests and expect replies",
		Help: "The check sends count echo requests 250 ms apart and waits up to a second (or max_rtt, " +
			"if longer) for the last reply. It fails when more than max_loss percent are lost or when " +
			"the average round trip exceeds max_rtt. It uses an unprivileged ICMP socket when " +
			"net.ipv4.ping_group_range includes one of monsta's groups, and a raw socket (which needs " +
			"CAP_NET_RAW) otherwise; the error says which is missing. Stats: sent, received, " +
			"loss_percent, rtt_avg_seconds, rtt_max_seconds.",
		Options: []runtime.Option{
			{Name: "host", Required: true, Help: "Host name or address to ping (the first address it resolves to)."},
			{Name: "count", Default: "3", Parse: parsePingCount, Help: "Echo requests to send (1-100)."},
			{Name: "max_loss", Default: "0", Parse: runtime.Percent, Help: "Highest share of lost requests that passes, in percent."},
			{Name: "max_rtt", Parse: runtime.Optional(runtime.Duration),
				Help: "Longest average round trip that passes, as seconds or a duration (0.2, 150ms); empty: any."},
		},
		Example: `[Check_gateway]
type = ping
host = router.example.org
count = 5
max_loss = 20
max_rtt = 100ms
`,
		NewCheck: newPing,
	}
}

func parsePingCount(s string) (any, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 100 {
		return nil, fmt.Errorf("%q is not a count from 1 to 100", s)
	}
	return n, nil
}

// Ping passes when at most max_loss percent of count echo requests go
// unanswered and the average round trip is within max_rtt.
type Ping struct {
	host    string
	count   int
	maxLoss float64
	maxRTT  time.Duration // 0: any
	// rangeFile is pingGroupRange; run is (*probing.Pinger).RunWithContext.
	// Tests replace both.
	rangeFile string
	run       func(*probing.Pinger, context.Context) error
}

func newPing(o *runtime.Options) (runtime.Check, error) {
	c := &Ping{host: o.String("host"), count: o.Int("count"), maxLoss: o.Value("max_loss").(float64),
		rangeFile: pingGroupRange, run: (*probing.Pinger).RunWithContext}
	if c.host == "" {
		return nil, errors.New("host: must not be empty")
	}
	c.maxRTT, _ = o.Value("max_rtt").(time.Duration)
	if timeout := o.Duration("timeout"); time.Duration(c.count-1)*pingInterval >= timeout {
		return nil, fmt.Errorf("count: %d requests 250 ms apart do not fit in timeout %s", c.count, timeout)
	}
	return c, nil
}

// Run implements runtime.Check.
func (c *Ping) Run(ctx context.Context) (runtime.Stats, error) {
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, c.host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", c.host, causeErrDNS(err))
	}
	p := probing.New(c.host)
	p.SetIPAddr(&addrs[0])
	p.SetLogger(probing.NoopLogger{})
	p.Count = c.count
	p.Interval = pingInterval
	wait := max(time.Second, c.maxRTT)
	p.Timeout = time.Duration(c.count-1)*pingInterval + wait
	if dl, ok := ctx.Deadline(); ok {
		p.Timeout = min(p.Timeout, time.Until(dl))
	}
	privileged, why := needRawSocket(c.rangeFile)
	p.SetPrivileged(privileged)
	target := c.host
	if c.host != addrs[0].String() {
		target += " (" + addrs[0].String() + ")"
	}
	err = c.run(p, ctx)
	st := p.Statistics()
	if err != nil && st.PacketsSent == 0 {
		return nil, pingSocketError(target, privileged, why, err)
	}
	stats := runtime.Stats{"sent": float64(st.PacketsSent), "received": float64(st.PacketsRecv)}
	if st.PacketsSent > 0 {
		stats["loss_percent"] = st.PacketLoss
	}
	if st.PacketsRecv > 0 {
		stats["rtt_avg_seconds"] = st.AvgRtt.Seconds()
		stats["rtt_max_seconds"] = st.MaxRtt.Seconds()
	}
	var errs []error
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		errs = append(errs, fmt.Errorf("ping %s: %w", target, err))
	}
	if st.PacketsSent > 0 && st.PacketLoss > c.maxLoss {
		errs = append(errs, fmt.Errorf("ping %s: %d of %d echo requests unanswered (%.0f%% loss), more than max_loss %g%%",
			target, st.PacketsSent-st.PacketsRecv, st.PacketsSent, st.PacketLoss, c.maxLoss))
	}
	if c.maxRTT > 0 && st.PacketsRecv > 0 && st.AvgRtt > c.maxRTT {
		errs = append(errs, fmt.Errorf("ping %s: average round trip %s, more than max_rtt %s",
			target, st.AvgRtt.Round(time.Microsecond), c.maxRTT))
	}
	return stats, errors.Join(errs...)
}

// needRawSocket tells whether an unprivileged ICMP socket is not allowed,
// so that a raw one (CAP_NET_RAW) is needed, and why.
func needRawSocket(rangeFile string) (bool, string) {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return true, fmt.Sprintf("%s is unreadable", rangeFile)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return true, fmt.Sprintf("%s holds %q", rangeFile, strings.TrimSpace(string(b)))
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	groups, _ := os.Getgroups()
	groups = append(groups, os.Getegid())
	if err1 == nil && err2 == nil {
		for _, g := range groups {
			if g >= lo && g <= hi {
				return false, ""
			}
		}
	}
	return true, fmt.Sprintf("net.ipv4.ping_group_range is %q, which includes none of monsta's groups (gid %d)",
		f[0]+" "+f[1], os.Getegid())
}

// pingSocketError explains a failure to open the ICMP socket.
func pingSocketError(target string, privileged bool, why string, err error) error {
	perm := errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
	switch {
	case privileged && perm:
		return fmt.Errorf("ping %s: unprivileged ICMP sockets are not allowed (%s) and a raw ICMP socket needs CAP_NET_RAW, "+
			"which monsta lacks: %w; add a group of monsta to net.ipv4.ping_group_range or grant CAP_NET_RAW", target, why, causeErr(err))
	case !privileged && perm:
		return fmt.Errorf("ping %s: the unprivileged ICMP socket was refused although net.ipv4.ping_group_range allows it: %w",
			target, causeErr(err))
	}
	return fmt.Errorf("ping %s: %w", target, causeErr(err))
}

// causeErrDNS shortens a resolver error to its reason.
func causeErrDNS(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.Err != "" {
		if de.IsTimeout {
			return fmt.Errorf("%s: %w", de.Err, context.DeadlineExceeded)
		}
		return errors.New(de.Err)
	}
	return err
}
