package lua

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/redact"
)

// Caps of what http.request reads from a server: a longer body or longer
// headers fail the request with "reply too long (N bytes)".
const (
	maxHTTPBody   = 1 << 20
	maxHTTPHeader = 64 << 10
)

// httpClients are shared by all states of an engine: one verifying
// certificates, one not.
type httpClients struct {
	verify, noVerify *http.Client
}

func (h *httpClients) init() {
	mk := func(skip bool) *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: skip, MinVersion: tls.VersionTLS12}
		tr.DialContext = netx.DialNetwork // as every probe dials
		tr.MaxIdleConnsPerHost = 2
		tr.MaxResponseHeaderBytes = maxHTTPHeader
		tr.IdleConnTimeout = 30 * time.Second
		return &http.Client{Transport: tr}
	}
	h.verify, h.noVerify = mk(false), mk(true)
}

func (h *httpClients) close() {
	for _, c := range []*http.Client{h.verify, h.noVerify} {
		if c != nil {
			c.CloseIdleConnections()
		}
	}
}

// httpModule is require("monsta.http").
func httpModule(s *state) *glua.LTable {
	return s.L.SetFuncs(s.L.NewTable(), map[string]glua.LGFunction{"request": s.httpRequest})
}

// httpRequest lua http.request{method=, url=, headers=, body=, timeout=, tls_verify=}
// returns ({status=, headers=, body=}) or (nil, err). Header names in the
// result are lower case; the body is cut at 1 MiB.
func (s *state) httpRequest(L *glua.LState) int {
	t := L.CheckTable(1)
	url, ok := t.RawGetString("url").(glua.LString)
	if !ok || !(strings.HasPrefix(string(url), "http://") || strings.HasPrefix(string(url), "https://")) {
		L.ArgError(1, "url: an http:// or https:// URL is required")
	}
	method := "GET"
	if m, ok := t.RawGetString("method").(glua.LString); ok {
		method = strings.ToUpper(string(m))
	}
	var body io.Reader
	if b, ok := t.RawGetString("body").(glua.LString); ok {
		body = strings.NewReader(string(b))
	}
	ctx := s.ctx()
	if v, ok := t.RawGetString("timeout").(glua.LNumber); ok && v > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(float64(v)*float64(time.Second)))
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, string(url), body)
	if err != nil {
		return pushErr(L, fmt.Errorf("http request: %w", redact.Error(err, string(url))))
	}
	if h, ok := t.RawGetString("headers").(*glua.LTable); ok {
		h.ForEach(func(k, v glua.LValue) { req.Header.Set(k.String(), v.String()) })
	}
	client := s.f.e.https.verify
	if v := t.RawGetString("tls_verify"); v != glua.LNil && !glua.LVAsBool(v) {
		client = s.f.e.https.noVerify
	}
	resp, data, err := doRequest(client, req, string(url))
	if err != nil {
		return pushErr(L, err)
	}
	L.Push(responseTable(L, resp, data))
	return 1
}

// doRequest sends req and reads its answer whole. A body over maxHTTPBody
// or headers over maxHTTPHeader fail it with a *netx.TooLongError ("reply
// too long (N bytes)"), as every protocol client of monsta does. The URL
// may hold a secret (a webhook token, a password, a key in the query):
// errors name it redacted.
func doRequest(client *http.Client, req *http.Request, url string) (*http.Response, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		if cause := netx.HTTPCause(err); errors.Is(cause, netx.ErrTooLong) {
			return nil, nil, fmt.Errorf("read %s response: %w", req.Method, cause)
		}
		return nil, nil, redact.Error(err, url)
	}
	defer resp.Body.Close()
	data, err := netx.ReadBody(resp.Body, maxHTTPBody)
	if errors.Is(err, netx.ErrTooLong) {
		return nil, nil, fmt.Errorf("read %s response: %w", req.Method, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s response: %w", req.Method, redact.Error(err, url))
	}
	return resp, data, nil
}

// responseTable is {status=, headers=, body=} of resp, whose body is data;
// header names are lower case.
func responseTable(L *glua.LState, resp *http.Response, data []byte) *glua.LTable {
	out := L.CreateTable(0, 3)
	out.RawSetString("status", glua.LNumber(resp.StatusCode))
	hdr := L.CreateTable(0, len(resp.Header))
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		hdr.RawSetString(strings.ToLower(k), glua.LString(strings.Join(resp.Header[k], ", ")))
	}
	out.RawSetString("headers", hdr)
	out.RawSetString("body", glua.LString(data))
	return out
}

// dnsModule is require("monsta.dns").
func dnsModule(s *state) *glua.LTable {
	return s.L.SetFuncs(s.L.NewTable(), map[string]glua.LGFunction{"query": s.dnsQuery})
}

// dnsQuery lua dns.query(server, name [, type [, {tcp=, timeout=}]]) returns
// (records) or (nil, err). server is "host" or "host:port"; type defaults
// to "A". Each record is {name=, type=, ttl=, value=} plus address (A,
// AAAA), target (CNAME, NS, PTR), preference and exchange (MX), serial
// (SOA) or text (TXT). A reply code other than NOERROR is an error.
func (s *state) dnsQuery(L *glua.LState) int {
	server := L.CheckString(1)
	name := L.CheckString(2)
	typName := strings.ToUpper(L.OptString(3, "A"))
	o := L.OptTable(4, nil)
	qtype, ok := dns.StringToType[typName]
	if !ok {
		L.ArgError(3, "unknown record type "+typName)
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	c := &dns.Client{}
	ctx := s.ctx()
	if o != nil {
		if glua.LVAsBool(o.RawGetString("tcp")) {
			c.Net = "tcp"
		}
		if v, ok := o.RawGetString("timeout").(glua.LNumber); ok && v > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(float64(v)*float64(time.Second)))
			defer cancel()
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	r, err := netx.ExchangeDNS(ctx, c, m, server)
	if err != nil {
		return pushErr(L, fmt.Errorf("query %s %s at %s: %w", name, typName, server, netx.Cause(ctx, err)))
	}
	if r.Rcode != dns.RcodeSuccess {
		return pushErr(L, fmt.Errorf("query %s %s at %s: %s", name, typName, server, dns.RcodeToString[r.Rcode]))
	}
	out := L.CreateTable(len(r.Answer), 0)
	for _, rr := range r.Answer {
		h := rr.Header()
		rt := L.CreateTable(0, 6)
		rt.RawSetString("name", glua.LString(h.Name))
		rt.RawSetString("type", glua.LString(dns.TypeToString[h.Rrtype]))
		rt.RawSetString("ttl", glua.LNumber(h.Ttl))
		rt.RawSetString("value", glua.LString(strings.TrimPrefix(rr.String(), h.String())))
		switch x := rr.(type) {
		case *dns.A:
			rt.RawSetString("address", glua.LString(x.A.String()))
		case *dns.AAAA:
			rt.RawSetString("address", glua.LString(x.AAAA.String()))
		case *dns.CNAME:
			rt.RawSetString("target", glua.LString(x.Target))
		case *dns.NS:
			rt.RawSetString("target", glua.LString(x.Ns))
		case *dns.PTR:
			rt.RawSetString("target", glua.LString(x.Ptr))
		case *dns.MX:
			rt.RawSetString("preference", glua.LNumber(x.Preference))
			rt.RawSetString("exchange", glua.LString(x.Mx))
		case *dns.SOA:
			rt.RawSetString("serial", glua.LNumber(x.Serial))
			rt.RawSetString("ns", glua.LString(x.Ns))
			rt.RawSetString("mbox", glua.LString(x.Mbox))
		case *dns.TXT:
			rt.RawSetString("text", glua.LString(strings.Join(x.Txt, "")))
		}
		out.Append(rt)
	}
	L.Push(out)
	return 1
}

// contextWithSeconds is context.WithTimeout for a number of seconds.
func contextWithSeconds(ctx context.Context, sec float64) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Duration(sec*float64(time.Second)))
}
