package netx

import (
	"context"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/internal/fdlimit"
)

// ExchangeDNS is miekg's ExchangeContext that also ends at once when ctx
// is cancelled (CloseOnDone), not only at its deadline: ExchangeContext
// maps only ctx's deadline onto the socket. Its socket holds a descriptor
// of fdlimit.Checks.
//
// What a server sends is bounded by the protocol, not by a Limits: miekg
// reads one message over TCP after its 2-byte length (at most 65535 bytes)
// and over UDP into a buffer of the client's UDPSize; answers with another
// ID are read and dropped one by one until ctx's deadline.
func ExchangeDNS(ctx context.Context, c *dns.Client, m *dns.Msg, server string) (*dns.Msg, error) {
	fds := fdlimit.Checks()
	if err := fds.Acquire(); err != nil {
		return nil, &Error{Op: "query", Addr: server, Err: err}
	}
	defer fds.Release()
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	stop := CloseOnDone(ctx, conn.Conn)
	defer func() {
		stop()
		conn.Close()
	}()
	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	return r, err
}
