package lua

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/internal/testkit/loopback"
)

const modulesLua = `
local tcp = require("monsta.tcp")
local dns = require("monsta.dns")
local json = require("monsta.json")
local log = require("monsta.log")

local tests = {}

function tests.tcp(opt)
  local c, err = tcp.connect("127.0.0.1", tonumber(opt.arg))
  if not c then return false, err end
  c:send("hello\n")
  local head = c:receive(3)
  local rest = c:receive_line()
  local eof, eerr = c:receive_line()
  c:abort()
  local ok_closed = not pcall(c.send, c, "x")
  return head == "HEL" and rest == "LO" and eof == nil and eerr == "closed" and ok_closed,
    string.format("%q %q %q", tostring(head), tostring(rest), tostring(eerr))
end

function tests.tls(opt)
  local c, err = tcp.connect("127.0.0.1", tonumber(opt.arg), {tls = true, tls_verify = false})
  if not c then return false, err end
  c:send("GET / HTTP/1.0\r\n\r\n")
  local status = c:receive_line()
  return status == "HTTP/1.0 200 OK", tostring(status)
end

function tests.tls_verify(opt)
  local c, err = tcp.connect("127.0.0.1", tonumber(opt.arg), {tls = true})
  return c == nil and string.find(err, "certificate") ~= nil, tostring(err)
end

function tests.dns(opt)
  local a, err = dns.query(opt.arg, "www.example.test", "A")
  if not a then return false, err end
  local mx = dns.query(opt.arg, "example.test", "MX")
  local soa = dns.query(opt.arg, "example.test.", "soa")
  local _, nx = dns.query(opt.arg, "nope.example.test", "A")
  return a[1].address == "127.0.0.7" and a[1].ttl == 60 and a[1].type == "A"
    and mx[1].exchange == "mx.example.test." and mx[1].preference == 10
    and soa[1].serial == 2026112401 and nx == "query nope.example.test A at " .. opt.arg .. ": NXDOMAIN",
    string.format("%s %s %s", a[1].value, tostring(mx and mx[1].value), tostring(nx))
end

function tests.json(opt)
  local text = json.encode({name = "x", list = {1, 2.5, "three", true}, empty = {}, nested = {a = {b = "c"}}})
  local back = json.decode(text)
  local bad, err = json.decode("{")
  local cyc = {}
  cyc.self = cyc
  local nope, cerr = json.encode(cyc)
  return text == '{"empty":{},"list":[1,2.5,"three",true],"name":"x","nested":{"a":{"b":"c"}}}'
    and back.list[2] == 2.5 and back.nested.a.b == "c" and bad == nil and err ~= nil
    and nope == nil and string.find(cerr, "contains itself") ~= nil, text
end

function tests.log(opt)
  log.info("probe done", "target", "db", "ms", 12)
  log.warn("with table", {k = "v"})
  print("printed", 1, true)
  return true
end

monsta.check_type{
  name = "mod",
  description = "exercise a module",
  options = {test = {required = true, help = "Which test."}, arg = {default = "", help = "Its argument."}},
  run = function(opt) return tests[opt.test](opt) end,
}
`

func TestModules(t *testing.T) {
	fx := load(t, map[string]string{"m.lua": modulesLua}, Config{}, nil)

	// A TCP server that answers HELLO and closes.
	tcpAddr := loopback.Serve(t, func(c net.Conn) {
		buf := make([]byte, 6)
		io.ReadFull(c, buf)
		c.Write([]byte(strings.ToUpper(string(buf))))
	})
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	// A DNS server for example.test.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("example.test.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		var rr string
		switch {
		case q.Name == "www.example.test." && q.Qtype == dns.TypeA:
			rr = "www.example.test. 60 IN A 127.0.0.7"
		case q.Name == "example.test." && q.Qtype == dns.TypeMX:
			rr = "example.test. 60 IN MX 10 mx.example.test."
		case q.Name == "example.test." && q.Qtype == dns.TypeSOA:
			rr = "example.test. 60 IN SOA ns.example.test. host.example.test. 2026112401 3600 600 86400 60"
		default:
			m.Rcode = dns.RcodeNameError
		}
		if rr != "" {
			r, err := dns.NewRR(rr)
			if err != nil {
				t.Error(err)
			}
			m.Answer = append(m.Answer, r)
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	defer srv.Shutdown()

	tlsPort := tlsSrv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct{ test, arg string }{
		{"tcp", loopback.PortString(tcpAddr)},
		{"tls", strconv.Itoa(tlsPort)},
		{"tls_verify", strconv.Itoa(tlsPort)},
		{"dns", pc.LocalAddr().String()},
		{"json", ""},
		{"log", ""},
	}
	for _, tt := range tests {
		t.Run(tt.test, func(t *testing.T) {
			if r := fx.run(t, "mod", map[string]string{"test": tt.test, "arg": tt.arg}); !r.OK {
				t.Errorf("errors %q", r.Errors)
			}
		})
	}
	logs := fx.log.String()
	for _, want := range []string{
		`level=INFO msg="probe done" file=conf.d/m.lua target=db ms=12`,
		`level=WARN msg="with table" file=conf.d/m.lua k=v`,
		`level=INFO msg="printed\t1\ttrue" file=conf.d/m.lua`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
