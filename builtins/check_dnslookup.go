package builtins

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/runtime"
)

// dnslookupDescriptor describes the dnslookup check type.
func dnslookupDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "dnslookup",
		Description: "query DNS servers for a record and require values among the answers of every server",
		Help: "Every server is queried at once. Each must answer NOERROR with records that include every value of " +
			"requiredanswers, written as dig +short prints them: names in any case with or without the final dot, " +
			"MX by exchange host or \"10 mx.example.org\", SRV by target or \"prio weight port target\", TXT by its " +
			"text in quotes, SOA by primary name server or serial, CAA as '0 issue \"ca.example\"'. Stats are " +
			"<server>_seconds per server (e.g. 127_0_0_2_5353_seconds) and max_seconds.",
		Options: []runtime.Option{
			{Name: "hosts", Parse: runtime.Words,
				Help: "Space-separated servers (name, name:port, IPv4, IPv6 or [IPv6]:port); empty: the nameservers of resolv_conf."},
			{Name: "record", Required: true, Help: "Name to look up (an IP address for PTR)."},
			{Name: "recordtype", Default: "A", Parse: parseRecordType,
				Help: "Record type to query: A, AAAA, MX, NS, TXT, CNAME, SOA, PTR, SRV, CAA and more."},
			{Name: "requiredanswers", Required: true, Quoted: true,
				Help: "Space-separated values that must all appear among the answers of every server; quote values with spaces."},
			{Name: "timeout", Default: "10", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) before the check fails."},
			dnsProtocolOption(),
			{Name: "resolv_conf", Default: "/etc/resolv.conf",
				Help: "Resolver configuration whose nameserver lines are queried when hosts is empty (monsta also accepts address:port there)."},
		},
		Example: `[Check_mail_dns]
type = dnslookup
hosts = 127.0.0.2:5353 [::1]:5353
record = example.org
recordtype = MX
requiredanswers = 10 mx1.example.org. mx2.example.org
`,
		NewCheck: newDNSLookup,
	}
}

// DNSLookup passes when every server answers the query with records that
// include every required value.
type DNSLookup struct {
	servers    []dnsServer // nil: read resolvConf at each run
	resolvConf string
	name       string // fully qualified
	qtype      uint16
	proto      string
	want       []wanted
}

func newDNSLookup(o *runtime.Options) (runtime.Check, error) {
	c := &DNSLookup{resolvConf: o.String("resolv_conf"), proto: o.String("protocol")}
	c.qtype = dns.StringToType[o.String("recordtype")]
	if hosts := o.Words("hosts"); len(hosts) > 0 {
		srvs, err := parseDNSServers(hosts, "53")
		if err != nil {
			return nil, fmt.Errorf("hosts: %w", err)
		}
		c.servers = srvs
	}
	rec := strings.TrimSpace(o.String("record"))
	if a, err := netip.ParseAddr(rec); err == nil && c.qtype == dns.TypePTR {
		rev, err := dns.ReverseAddr(a.String())
		if err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
		rec = rev
	}
	if _, ok := dns.IsDomainName(rec); !ok || rec == "" {
		return nil, fmt.Errorf("record: %q is not a domain name", rec)
	}
	c.name = dns.Fqdn(rec)
	want, err := parseWanted(o.String("requiredanswers"), c.qtype)
	if err != nil {
		return nil, fmt.Errorf("requiredanswers: %w", err)
	}
	c.want = want
	return c, nil
}

// Run implements runtime.Check.
func (c *DNSLookup) Run(ctx context.Context) (runtime.Stats, error) {
	servers := c.servers
	if servers == nil {
		s, err := resolvConfServers(c.resolvConf)
		if err != nil {
			return nil, err
		}
		servers = s
	}
	replies := queryAll(ctx, servers, c.name, c.qtype, c.proto)
	st := runtime.Stats{}
	replyTimes(st, servers, replies)
	var errs []error
	q := strings.TrimSuffix(c.name, ".") + " " + dns.TypeToString[c.qtype]
	for i, r := range replies {
		if err := c.judge(r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", servers[i].label, q, err))
		}
	}
	return st, errors.Join(errs...)
}

// maxShown caps the answers quoted in a message.
const maxShown = 10

// judge says what is wrong with one server's reply, or nil.
func (c *DNSLookup) judge(r dnsReply) error {
	if r.err != nil {
		return r.err
	}
	if err := rcodeError(r.msg); err != nil {
		return err
	}
	keys := map[string]bool{}
	var got []string
	for _, rr := range r.msg.Answer {
		switch rr.Header().Rrtype {
		case dns.TypeRRSIG, dns.TypeOPT:
			continue
		}
		for _, k := range answerKeys(rr) {
			keys[k] = true
		}
		got = append(got, rdata(rr))
	}
	if len(got) == 0 {
		return errors.New("empty answer (NOERROR, no records)")
	}
	var missing []string
	for _, w := range c.want {
		if !keys[w.key] {
			missing = append(missing, w.text)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	shown := got
	if len(shown) > maxShown {
		shown = append(shown[:maxShown:maxShown], "… "+strconv.Itoa(len(got)-maxShown)+" more")
	}
	return fmt.Errorf("missing %s (got %s)", strings.Join(missing, ", "), strings.Join(shown, ", "))
}

// The rest of this file compares DNS answers with the values an admin
// writes, in the form dig +short prints them: names case-insensitive with or
// without the trailing dot, IPv6 in any spelling, MX by exchange or
// "pref exchange", SRV by target or "prio weight port target", TXT by its
// text (one string or all strings joined), SOA by mname, serial or the whole
// record, CAA as `0 issue "ca.example"` or by its value alone.

// dnsLookupTypes are the record types dnslookup accepts.
var dnsLookupTypes = []string{"A", "AAAA", "CAA", "CNAME", "DNAME", "DNSKEY", "DS", "HINFO", "HTTPS",
	"MX", "NAPTR", "NS", "PTR", "SOA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI"}

// parseRecordType parses the recordtype option into its upper-case name.
func parseRecordType(s string) (any, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	for _, ok := range dnsLookupTypes {
		if t == ok {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%q is not a supported record type (%s)", s, strings.Join(dnsLookupTypes, ", "))
}

// wanted is one value of requiredanswers: key is compared, text is shown.
type wanted struct {
	key, text string
}

// token is one word of requiredanswers; quoted tells that quotes were used.
type token struct {
	s      string
	quoted bool
}

// splitQuoted splits s at unquoted white space. "double" quotes allow \" and
// \\ escapes; 'single' quotes are literal. Quotes are removed.
func splitQuoted(s string) ([]token, error) {
	var out []token
	var cur strings.Builder
	in, quoted := false, false
	flush := func() {
		if in {
			out = append(out, token{cur.String(), quoted})
		}
		cur.Reset()
		in, quoted = false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			flush()
		case c == '"' || c == '\'':
			in, quoted = true, true
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if c == '"' && s[j] == '\\' && j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\') {
					j++
				}
				cur.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, fmt.Errorf("unterminated %c quote in %q", c, s)
			}
			i = j
		default:
			in = true
			cur.WriteByte(c)
		}
	}
	flush()
	return out, nil
}

// multiWord are the types whose values dig +short prints as several words
// that parseWanted groups.
var multiWord = map[uint16]bool{dns.TypeMX: true, dns.TypeSRV: true, dns.TypeSOA: true, dns.TypeCAA: true}

// parseWanted turns requiredanswers into the values to look for in answers
// of type qtype. Words are grouped the way dig +short prints a record of that
// type, so "10 mx.example.org" is one MX value; a quoted word holding spaces
// is one value on its own.
func parseWanted(s string, qtype uint16) ([]wanted, error) {
	toks, err := splitQuoted(s)
	if err != nil {
		return nil, err
	}
	var out []wanted
	for i := 0; i < len(toks); {
		t := toks[i]
		if t.quoted && multiWord[qtype] && len(strings.Fields(t.s)) > 1 {
			inner, err := splitQuoted(t.s)
			if err != nil {
				return nil, err
			}
			w, n := groupWanted(inner, qtype)
			if n != len(inner) {
				return nil, fmt.Errorf("%q is not one %s value", t.s, dns.TypeToString[qtype])
			}
			out = append(out, w)
			i++
			continue
		}
		w, n := groupWanted(toks[i:], qtype)
		out = append(out, w)
		i += n
	}
	if len(out) == 0 {
		return nil, errors.New("no value given")
	}
	return out, nil
}

// groupWanted takes the words of the next value from toks and returns it
// with the number of words it used (at least one).
func groupWanted(toks []token, qtype uint16) (wanted, int) {
	nums := 0 // leading unsigned numbers
	for nums < len(toks) && isUint(toks[nums].s) {
		nums++
	}
	t := toks[0].s
	switch qtype {
	case dns.TypeTXT:
		return wanted{t, t}, 1
	case dns.TypeA, dns.TypeAAAA:
		if a, err := netip.ParseAddr(t); err == nil {
			return wanted{a.String(), t}, 1
		}
		return wanted{normName(t), t}, 1
	case dns.TypeMX:
		if nums == 1 && len(toks) > 1 {
			return wanted{uintText(t) + " " + normName(toks[1].s), tokensText(toks, 2)}, 2
		}
	case dns.TypeSRV:
		if nums == 3 && len(toks) > 3 {
			return wanted{uintText(t) + " " + uintText(toks[1].s) + " " + uintText(toks[2].s) + " " +
				normName(toks[3].s), tokensText(toks, 4)}, 4
		}
	case dns.TypeCAA:
		if nums == 1 && len(toks) > 2 {
			return wanted{caaKey(t, toks[1].s, toks[2].s), tokensText(toks, 3)}, 3
		}
		return wanted{t, tokensText(toks, 1)}, 1
	case dns.TypeSOA:
		return soaWanted(toks, nums)
	case dns.TypeCNAME, dns.TypeNS, dns.TypePTR, dns.TypeDNAME:
	default:
		return wanted{genericKey(t), tokensText(toks, 1)}, 1
	}
	return wanted{normName(t), tokensText(toks, 1)}, 1
}

// soaWanted groups an SOA value: the whole record (mname rname serial
// refresh retry expire minimum), a serial alone, or a name alone.
func soaWanted(toks []token, nums int) (wanted, int) {
	t := toks[0].s
	if nums == 0 && len(toks) > 6 && allUint(toks[2:7]) {
		k := normName(t) + " " + normName(toks[1].s)
		for _, x := range toks[2:7] {
			k += " " + uintText(x.s)
		}
		return wanted{k, tokensText(toks, 7)}, 7
	}
	if nums > 0 {
		return wanted{uintText(t), t}, 1
	}
	return wanted{normName(t), tokensText(toks, 1)}, 1
}

// allUint tells whether every token is an unsigned number.
func allUint(toks []token) bool {
	for _, x := range toks {
		if !isUint(x.s) {
			return false
		}
	}
	return true
}

// tokensText writes the first n tokens back as they were given, quoting
// the quoted ones.
func tokensText(toks []token, n int) string {
	parts := make([]string, n)
	for i := range n {
		parts[i] = toks[i].s
		if toks[i].quoted {
			parts[i] = strconv.Quote(toks[i].s)
		}
	}
	return strings.Join(parts, " ")
}

// answerKeys returns every key under which rr matches a wanted value.
func answerKeys(rr dns.RR) []string {
	switch r := rr.(type) {
	case *dns.A:
		if a, ok := netip.AddrFromSlice(r.A.To4()); ok {
			return []string{a.String()}
		}
	case *dns.AAAA:
		if a, ok := netip.AddrFromSlice(r.AAAA.To16()); ok {
			return []string{a.String()}
		}
	case *dns.CNAME:
		return []string{normName(r.Target)}
	case *dns.NS:
		return []string{normName(r.Ns)}
	case *dns.PTR:
		return []string{normName(r.Ptr)}
	case *dns.DNAME:
		return []string{normName(r.Target)}
	case *dns.MX:
		return []string{normName(r.Mx), fmt.Sprintf("%d %s", r.Preference, normName(r.Mx))}
	case *dns.SRV:
		return []string{normName(r.Target),
			fmt.Sprintf("%d %d %d %s", r.Priority, r.Weight, r.Port, normName(r.Target))}
	case *dns.TXT:
		return append([]string{strings.Join(r.Txt, "")}, r.Txt...)
	case *dns.SOA:
		return []string{normName(r.Ns), strconv.FormatUint(uint64(r.Serial), 10),
			fmt.Sprintf("%s %s %d %d %d %d %d", normName(r.Ns), normName(r.Mbox), r.Serial, r.Refresh,
				r.Retry, r.Expire, r.Minttl)}
	case *dns.CAA:
		return []string{caaKey(strconv.Itoa(int(r.Flag)), r.Tag, r.Value), r.Value}
	}
	return []string{genericKey(rdata(rr))}
}

// rdata is the record as dig +short prints it.
func rdata(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// normName compares names: lower case, no trailing dot.
func normName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// genericKey compares the text of other record types word by word.
func genericKey(s string) string {
	f := strings.Fields(s)
	for i := range f {
		f[i] = normName(f[i])
	}
	return strings.Join(f, " ")
}

func caaKey(flag, tag, value string) string {
	return fmt.Sprintf("%s %s %q", uintText(flag), strings.ToLower(tag), value)
}

func isUint(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// uintText drops leading zeros of a number.
func uintText(s string) string {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return strconv.FormatUint(n, 10)
	}
	return s
}
