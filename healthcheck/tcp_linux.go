package healthcheck

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// connectCheck is TCP.Check's Linux path for a check run on its own (the Monitor runs TCP
// checks on its connEngine): the system calls a connect check needs and no more (net.Dialer
// adds TCP_NODELAY, getsockname and more), with the Go runtime's poller doing the waiting.
// Like the engine, it takes a last look at the socket when the deadline fires: a
// connection established in time but noticed late is a success.
//
// ok is false when addr needs the general path (an IPv6 zone).
func connectCheck(ctx context.Context, addr netip.AddrPort, bindTo netip.Addr) (ok bool, err error) {
	if addr.Addr().Zone() != "" || bindTo.Zone() != "" {
		return false, nil
	}
	fd, err := openConnect(addr, bindTo)
	if fd < 0 {
		return true, err
	}
	// The file owns fd from here. It is registered with the poller before the first look,
	// so a connection established in between is seen by that look.
	f := os.NewFile(uintptr(fd), "tcp-check")
	defer f.Close()
	if dl, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return true, err
	}
	var result error
	look := func(fd uintptr) bool {
		if _, err := unix.Getpeername(int(fd)); err == nil {
			return true // connected
		}
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			result = os.NewSyscallError("getsockopt", err)
		case v != 0:
			result = os.NewSyscallError("connect", unix.Errno(v))
		default:
			return false // still connecting: wait until writable (connected or failed)
		}
		return true
	}
	werr := rc.Write(look)
	if werr == nil {
		return true, result
	}
	if errors.Is(werr, os.ErrDeadlineExceeded) {
		if _, err := unix.Getpeername(fd); err == nil {
			return true, nil
		}
		if ctx.Err() != nil {
			werr = ctx.Err()
		}
	}
	return true, werr
}
