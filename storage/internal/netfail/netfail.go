// Package netfail recognises the failures of a connection to a store that
// every driver reports with the standard library's errors. Each store
// translates them, with its own driver's errors, into
// storage.ErrUnavailable.
package netfail

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// Is reports whether err says the connection failed or timed out: the
// request's deadline; a dial, read or write timeout (net.Error.Timeout); a
// connection refused, reset or aborted, a broken pipe, an unreachable host
// or network; a closed socket; EOF in the middle of a reply; any
// *net.OpError.
func Is(err error) bool {
	var opErr *net.OpError
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.As(err, &opErr) ||
		errors.As(err, &netErr) && netErr.Timeout()
}
