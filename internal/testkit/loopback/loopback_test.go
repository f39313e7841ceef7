package loopback

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestServe(t *testing.T) {
	addr := Serve(t, func(c net.Conn) { io.WriteString(c, "hello") })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Errorf("read %q, %v; want hello, nil", b, err)
	}
	if Port(addr) == 0 || PortString(addr) != strconv.Itoa(Port(addr)) {
		t.Errorf("Port(%q) = %d, PortString = %q", addr, Port(addr), PortString(addr))
	}
}

func TestSilent(t *testing.T) {
	addr := Silent(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Errorf("Read = %d, %v; want a timeout", n, err)
	}
}

func TestSilentStop(t *testing.T) {
	addr, stop := SilentStop(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop()
	stop()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("Read after stop = %v, want the connection closed", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not free after stop: %v", err)
	}
	ln.Close()
}

func TestServeStop(t *testing.T) {
	addr, stop := ServeStop(t, func(c net.Conn) { io.WriteString(c, "hi") })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	stop()
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("dial after stop succeeded")
	}
}

func TestClosedPort(t *testing.T) {
	p := ClosedPort(t)
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("dial to closed port %d succeeded", p)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
