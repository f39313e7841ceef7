package lua

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/internal/netx"
)

const (
	tcpConnType = "monsta.tcp.conn"
	maxLine     = 64 << 10 // bytes receive_line reads at most
	maxReceive  = 16 << 20 // bytes receive(n) reads at most
	maxConns    = 16       // connections one run may have open at once
)

// tcpConn is a connection opened by tcp.connect; it is closed at the end of
// the call that opened it at the latest.
type tcpConn struct {
	c      net.Conn
	r      *bufio.Reader
	closed bool
	runCtx context.Context // bound to c before the first read or write; nil once bound
}

// io prepares the connection for its first read or write: it binds it to
// the run's context (netx.Conn), so that its deadline applies and a cancel
// ends a pending read. A probe that only connects pays nothing for it.
func (c *tcpConn) io() {
	if c.runCtx != nil {
		c.c = netx.Bind(c.runCtx, c.c)
		c.runCtx = nil
	}
}

// Close closes the connection once.
func (c *tcpConn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return c.c.Close()
}

// tcpModule is require("monsta.tcp").
func tcpModule(s *state) *glua.LTable {
	L := s.L
	mt := L.NewTypeMetatable(tcpConnType)
	methods := L.SetFuncs(L.NewTable(), map[string]glua.LGFunction{
		"send":         tcpSend,
		"receive_line": tcpReceiveLine,
		"receive":      tcpReceive,
		"close":        tcpClose,
		"abort":        tcpAbort,
	})
	mt.RawSetString("__index", methods)
	mt.RawSetString("__metatable", glua.LFalse)
	return L.SetFuncs(L.NewTable(), map[string]glua.LGFunction{"connect": s.tcpConnect})
}

// tcpConnect lua tcp.connect(host, port [, {tls=, tls_verify=, server_name=, timeout=}])
// returns (conn) or (nil, err). Without timeout the run's deadline applies.
func (s *state) tcpConnect(L *glua.LState) int {
	host := L.CheckString(1)
	port := L.CheckInt(2)
	o := L.OptTable(3, nil)
	if port < 1 || port > 65535 {
		L.ArgError(2, "port must be 1-65535")
	}
	if n := s.openConns(); n >= maxConns {
		return pushErr(L, fmt.Errorf("tcp.connect: %d connections open in this run, the most one run may have; close one first", n))
	}
	ctx := s.ctx()
	var useTLS, verify bool = false, true
	serverName := host
	if o != nil {
		useTLS = glua.LVAsBool(o.RawGetString("tls"))
		if v := o.RawGetString("tls_verify"); v != glua.LNil {
			verify = glua.LVAsBool(v)
		}
		if v, ok := o.RawGetString("server_name").(glua.LString); ok {
			serverName = string(v)
		}
		if v, ok := o.RawGetString("timeout").(glua.LNumber); ok && v > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(float64(v)*float64(time.Second)))
			defer cancel()
		}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	nc, err := netx.Dial(ctx, addr)
	if err != nil {
		return pushErr(L, err)
	}
	// Reads and writes get the run's deadline; the timeout option bounds
	// only the connect and the TLS handshake.
	c := &tcpConn{c: nc, runCtx: s.ctx()}
	if useTLS {
		c.io()
		tc := tls.Client(c.c, &tls.Config{ServerName: serverName, InsecureSkipVerify: !verify, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.c.Close()
			return pushErr(L, fmt.Errorf("tls handshake with %s: %w", addr, netx.Cause(ctx, err)))
		}
		c.c = tc
	}
	s.conns = append(s.conns, c)
	ud := L.NewUserData()
	ud.Value = c
	L.SetMetatable(ud, L.GetTypeMetatable(tcpConnType))
	L.Push(ud)
	return 1
}

// openConns counts the connections of the running call that are open.
func (s *state) openConns() int {
	n := 0
	for _, c := range s.conns {
		if tc, ok := c.(*tcpConn); !ok || !tc.closed {
			n++
		}
	}
	return n
}

// pushErr returns (nil, message) to Lua.
func pushErr(L *glua.LState, err error) int {
	L.Push(glua.LNil)
	L.Push(glua.LString(err.Error()))
	return 2
}

func checkConn(L *glua.LState) *tcpConn {
	ud := L.CheckUserData(1)
	c, ok := ud.Value.(*tcpConn)
	if !ok {
		L.ArgError(1, "tcp connection expected")
	}
	if c.closed {
		L.ArgError(1, "connection is closed")
	}
	c.io()
	return c
}

// tcpSend lua conn:send(data) returns (bytes) or (nil, err).
func tcpSend(L *glua.LState) int {
	c := checkConn(L)
	data := L.CheckString(2)
	n, err := io.WriteString(c.c, data)
	if err != nil {
		return pushErr(L, fmt.Errorf("send: %w", netx.Cause(context.Background(), err)))
	}
	L.Push(glua.LNumber(n))
	return 1
}

func (c *tcpConn) reader() *bufio.Reader {
	if c.r == nil {
		c.r = bufio.NewReaderSize(c.c, 4096)
	}
	return c.r
}

// tcpReceiveLine lua conn:receive_line() returns (line) without the line end,
// or (nil, err); err is "closed" when the peer closed before a line.
func tcpReceiveLine(L *glua.LState) int {
	c := checkConn(L)
	line, err := c.receiveLine()
	if err != nil {
		return pushErr(L, err)
	}
	L.Push(glua.LString(line))
	return 1
}

// receiveLine reads one line without its line end. It fails with
// errors.New("closed") when the peer closed before a line, and with a
// *netx.TooLongError ("reply too long (N bytes)") for a line over maxLine.
func (c *tcpConn) receiveLine() ([]byte, error) {
	line, err := netx.ReadLine(c.reader(), maxLine)
	switch {
	case err == io.EOF:
		return nil, errors.New("closed")
	case errors.Is(err, netx.ErrLineTooLong):
		return nil, fmt.Errorf("receive: %w", &netx.TooLongError{N: maxLine + 1})
	case err != nil:
		return nil, fmt.Errorf("receive: %w", netx.Cause(context.Background(), err))
	}
	return line, nil
}

// tcpReceive lua conn:receive(n) returns (exactly n bytes) or (nil, err).
func tcpReceive(L *glua.LState) int {
	c := checkConn(L)
	n := L.CheckInt(2)
	if n < 0 || n > maxReceive {
		L.ArgError(2, fmt.Sprintf("must be 0-%d", maxReceive))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.reader(), buf); err != nil {
		if errors.Is(err, io.EOF) {
			return pushErr(L, errors.New("closed"))
		}
		return pushErr(L, fmt.Errorf("receive: %w", netx.Cause(context.Background(), err)))
	}
	L.Push(glua.LString(buf))
	return 1
}

// tcpAbort lua conn:abort() closes the connection with a reset (SO_LINGER
// 0): unsent data is dropped and no socket lingers in TIME_WAIT, which
// matters for probes that connect to one target many times a second.
func tcpAbort(L *glua.LState) int {
	ud := L.CheckUserData(1)
	if c, ok := ud.Value.(*tcpConn); ok && !c.closed {
		c.closed = true
		netx.Abort(c.c)
	}
	return 0
}

// tcpClose lua conn:close() closes the connection.
func tcpClose(L *glua.LState) int {
	ud := L.CheckUserData(1)
	if c, ok := ud.Value.(*tcpConn); ok {
		c.Close()
	}
	return 0
}
