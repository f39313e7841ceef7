//go:build !linux

package tcpprobe

import (
	"context"
	"net/netip"
)

// Prober runs probes; it is built on Linux only.
type Prober struct{}

// New returns ErrUnsupported.
func New() (*Prober, error) { return nil, ErrUnsupported }

// Close does nothing.
func (p *Prober) Close() error { return nil }

// Probe returns ErrUnsupported.
func (p *Prober) Probe(context.Context, netip.AddrPort, []byte) (Result, error) {
	return Result{}, ErrUnsupported
}
