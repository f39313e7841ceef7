package builtins

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/runtime"
)

// dnsserialDescriptor describes the dnsserial check type.
func dnsserialDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "dnsserial",
		Description: "require every DNS server to answer the zone's SOA with the same serial",
		Help: "Every server is asked for the zone's SOA at once and must answer authoritatively (AA flag) with the " +
			"SOA record; all serials must be equal. Stats are <server>_serial and <server>_seconds per server " +
			"(e.g. 127_0_0_2_5353_serial) and max_seconds.",
		Options: []runtime.Option{
			{Name: "hosts", Required: true, Parse: runtime.Words,
				Help: "Space-separated servers (name, name:port, IPv4, IPv6 or [IPv6]:port) that serve the zone."},
			{Name: "zone", Required: true, Help: "Zone whose SOA serial is compared."},
			{Name: "timeout", Default: "10", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) before the check fails."},
			dnsProtocolOption(),
		},
		Example: `[Check_zone_sync]
type = dnsserial
hosts = ns1.example.org ns2.example.org:5353 [2001:db8::53]:53
zone = example.org
`,
		NewCheck: newDNSSerial,
	}
}

// DNSSerial passes when every server answers the zone's SOA authoritatively
// and all serials are equal.
type DNSSerial struct {
	servers []dnsServer
	zone    string // fully qualified
	proto   string
}

func newDNSSerial(o *runtime.Options) (runtime.Check, error) {
	hosts := o.Words("hosts")
	if len(hosts) == 0 {
		return nil, errors.New("hosts: no server given")
	}
	srvs, err := parseDNSServers(hosts, "53")
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	zone := strings.TrimSpace(o.String("zone"))
	if _, ok := dns.IsDomainName(zone); !ok || zone == "" {
		return nil, fmt.Errorf("zone: %q is not a domain name", zone)
	}
	return &DNSSerial{servers: srvs, zone: dns.Fqdn(zone), proto: o.String("protocol")}, nil
}

// Run implements runtime.Check.
func (c *DNSSerial) Run(ctx context.Context) (runtime.Stats, error) {
	replies := queryAll(ctx, c.servers, c.zone, dns.TypeSOA, c.proto)
	st := runtime.Stats{}
	replyTimes(st, c.servers, replies)
	q := strings.TrimSuffix(c.zone, ".") + " SOA"
	var errs []error
	summary := make([]string, len(c.servers)) // server=serial or server=reason
	serials := map[uint32]bool{}
	for i, r := range replies {
		srv := c.servers[i]
		serial, short, err := c.serial(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", srv.label, q, err))
			summary[i] = srv.label + "=" + short
			continue
		}
		st[srv.key+"_serial"] = float64(serial)
		serials[serial] = true
		summary[i] = srv.label + "=" + strconv.FormatUint(uint64(serial), 10)
	}
	if len(serials) > 1 {
		errs = append(errs, fmt.Errorf("serials differ: %s", strings.Join(summary, " ")))
	}
	return st, errors.Join(errs...)
}

// serial returns the SOA serial of one reply, or the failure and a one-word
// form of it for the summary.
func (c *DNSSerial) serial(r dnsReply) (uint32, string, error) {
	if r.err != nil {
		if runtime.IsTimeout(r.err) {
			return 0, "timeout", r.err
		}
		return 0, "error", r.err
	}
	if err := rcodeError(r.msg); err != nil {
		return 0, err.Error(), err
	}
	if !r.msg.Authoritative {
		return 0, "not-authoritative", errors.New("answer is not authoritative (AA flag not set)")
	}
	for _, rr := range r.msg.Answer {
		if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, c.zone) {
			return soa.Serial, "", nil
		}
	}
	return 0, "no-SOA", errors.New("no SOA record of the zone in the answer (not a zone apex?)")
}
