package builtins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/runtime"
)

// dnsProtocolOption is the protocol option shared by the DNS checks.
func dnsProtocolOption() runtime.Option {
	return runtime.Option{Name: "protocol", Default: "udp", Parse: runtime.OneOf("udp", "tcp"),
		Help: "Transport of the queries: udp (a truncated answer is retried over tcp) or tcp."}
}

// dnsServer is one server to query: addr is host:port for the dialer, label
// names it in messages and key in stats.
type dnsServer struct {
	addr  string
	label string
	key   string
}

// parseDNSServer accepts a name, name:port, an IPv4 or IPv6 literal (with an
// optional zone), [v6]:port or [v6]; the port defaults to defPort.
func parseDNSServer(s, defPort string) (dnsServer, error) {
	host, port := s, defPort
	switch {
	case s == "":
		return dnsServer{}, errors.New("empty server")
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	default:
		if _, err := netip.ParseAddr(s); err == nil {
			break // a bare IPv6 literal also contains colons
		}
		if strings.Contains(s, ":") {
			h, p, err := net.SplitHostPort(s)
			if err != nil {
				return dnsServer{}, fmt.Errorf("server %q: %w", s, err)
			}
			host, port = h, p
		}
	}
	if host == "" {
		return dnsServer{}, fmt.Errorf("server %q: no host", s)
	}
	if strings.Contains(host, ":") || strings.HasPrefix(s, "[") {
		if _, err := netip.ParseAddr(host); err != nil {
			return dnsServer{}, fmt.Errorf("server %q: %q is not an IPv6 address", s, host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return dnsServer{}, fmt.Errorf("server %q: %q is not a port number", s, port)
	}
	addr := net.JoinHostPort(host, port)
	return dnsServer{addr: addr, label: addr}, nil
}

// parseDNSServers parses a list of servers and gives each a distinct stats
// key.
func parseDNSServers(list []string, defPort string) ([]dnsServer, error) {
	var out []dnsServer
	var errs []error
	for _, s := range list {
		srv, err := parseDNSServer(s, defPort)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, srv)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	assignStatsKeys(out)
	return out, nil
}

// assignStatsKeys sets each server's stats key: its label with every run of
// characters other than [a-z0-9] replaced by one underscore
// (127.0.0.2:5353 → 127_0_0_2_5353); a clash gets a _2, _3… suffix.
func assignStatsKeys(servers []dnsServer) {
	seen := map[string]int{}
	for i := range servers {
		k := statsKey(servers[i].label)
		seen[k]++
		if n := seen[k]; n > 1 {
			k = fmt.Sprintf("%s_%d", k, n)
		}
		servers[i].key = k
	}
}

// statsKey turns s into a lower_snake stats name.
func statsKey(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			under = false
			continue
		}
		if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	k := strings.TrimSuffix(b.String(), "_")
	if k == "" {
		k = "server"
	}
	return k
}

// resolvConfServers reads the name servers of a resolv.conf(5) file. As an
// extension of the format a nameserver line may carry a port
// ("127.0.0.1:5300", "[::1]:5300").
func resolvConfServers(path string) ([]dnsServer, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolver configuration: %w", err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("read resolver configuration %s: no nameserver line", path)
	}
	srvs, err := parseDNSServers(cc.Servers, cc.Port)
	if err != nil {
		return nil, fmt.Errorf("read resolver configuration %s: %w", path, err)
	}
	return srvs, nil
}

// dnsReply is what one server said (or why it said nothing).
type dnsReply struct {
	msg   *dns.Msg
	rtt   time.Duration // from the first query sent to the last reply read
	proto string        // protocol of the reply: udp, or tcp after truncation
	err   error         // transport failure; msg is nil then
}

// dnsExchange sends one query for name/qtype to srv over proto and retries a
// truncated UDP answer over TCP. Every wait is bounded by ctx: its deadline
// sets the socket deadlines, and cancelling it closes the socket.
func dnsExchange(ctx context.Context, srv dnsServer, name string, qtype uint16, proto string) dnsReply {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	start := time.Now()
	r := dnsReply{proto: proto}
	r.msg, r.err = exchangeOnce(ctx, q, srv.addr, proto)
	if r.err == nil && proto == "udp" && r.msg.Truncated {
		r.proto = "tcp"
		q.Id = dns.Id()
		r.msg, r.err = exchangeOnce(ctx, q, srv.addr, "tcp")
	}
	r.rtt = time.Since(start)
	if r.err != nil {
		r.msg = nil
		r.err = transportError(ctx, r.proto, r.err)
	}
	return r
}

// exchangeOnce sends q to addr over proto once, until ctx's deadline or
// its cancellation (netx.ExchangeDNS).
func exchangeOnce(ctx context.Context, q *dns.Msg, addr, proto string) (*dns.Msg, error) {
	c := &dns.Client{Net: proto, Timeout: time.Hour} // ctx's deadline bounds it
	if d, ok := ctx.Deadline(); ok {
		c.Timeout = max(time.Until(d), time.Millisecond)
	}
	return netx.ExchangeDNS(ctx, c, q, addr)
}

// transportError says how a query failed: a timeout, a cancellation or the
// network's own error (refused, unreachable).
func transportError(ctx context.Context, proto string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("query over %s: %w", proto, ctx.Err())
	case ctx.Err() != nil || runtime.IsTimeout(err):
		// Cancelling closes the socket, so err may only say "closed".
		return fmt.Errorf("timeout: no reply over %s: %w", proto, context.DeadlineExceeded)
	}
	return fmt.Errorf("query over %s: %w", proto, err)
}

// queryAll runs dnsExchange against every server concurrently and returns
// the replies in the servers' order.
func queryAll(ctx context.Context, servers []dnsServer, name string, qtype uint16, proto string) []dnsReply {
	out := make([]dnsReply, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() { out[i] = dnsExchange(ctx, srv, name, qtype, proto) })
	}
	wg.Wait()
	return out
}

// replyTimes puts <server>_seconds for every server that replied, and
// max_seconds, into st.
func replyTimes(st runtime.Stats, servers []dnsServer, replies []dnsReply) {
	var mx float64
	got := false
	for i, r := range replies {
		if r.msg == nil {
			continue
		}
		s := r.rtt.Seconds()
		st[servers[i].key+"_seconds"] = s
		mx = max(mx, s)
		got = true
	}
	if got {
		st["max_seconds"] = mx
	}
}

// rcodeError reports a reply whose rcode is not NOERROR by its name
// (NXDOMAIN, SERVFAIL, REFUSED…).
func rcodeError(m *dns.Msg) error {
	if m.Rcode == dns.RcodeSuccess {
		return nil
	}
	name, ok := dns.RcodeToString[m.Rcode]
	if !ok {
		name = "RCODE" + strconv.Itoa(m.Rcode)
	}
	return errors.New(name)
}
