package netx

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
)

// Cause returns the cause of a network error without the layers that
// repeat the socket and the system call ("read tcp A->B: " of
// *net.OpError, *os.SyscallError), so that a message names the step and
// the peer once: `i/o timeout`, `connection refused`. When ctx (may be
// nil) was cancelled, the cause is context.Canceled; an error caused by
// ctx's deadline is os.ErrDeadlineExceeded ("i/o timeout", a Timeout()).
// A nil err stays nil.
func Cause(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx != nil && errors.Is(ctx.Err(), context.Canceled) {
		return context.Canceled
	}
	for {
		var op *net.OpError
		var sys *os.SyscallError
		switch {
		case errors.As(err, &op) && op.Err != nil:
			err = op.Err
		case errors.As(err, &sys) && sys.Err != nil:
			err = sys.Err
		default:
			if errors.Is(err, context.DeadlineExceeded) {
				return os.ErrDeadlineExceeded
			}
			return err
		}
	}
}

// IsTransport tells whether err is a broken, closed or timed-out
// connection (or the end of its context) rather than an answer of the
// peer.
func IsTransport(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}
