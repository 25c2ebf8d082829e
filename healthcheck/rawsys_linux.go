package healthcheck

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The connection engine's system calls never block: the sockets are non-blocking, the
// epoll waits have a zero timeout, and a TCP close without SO_LINGER returns at once. So
// they are made as raw system calls, which the Go runtime does not treat as possibly
// blocking. A normal system call that takes longer than the runtime monitor's tick (20 µs)
// lets the monitor hand the thread's P to another thread, and the caller must win a P back
// afterwards: a hand-off and a thread wake-up each time. On a LAN a connect takes a few
// microseconds and that never happens, but on loopback connect does the whole handshake
// for both ends, and on a slow or emulated CPU it takes longer than the tick: the
// hand-offs then cost more CPU than the checks (README.md, "Design notes").

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func rawSocket(family, typ, proto int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC), uintptr(proto))
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func rawClose(fd int) { unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

// rawSockaddr is a sockaddr_in or sockaddr_in6 for ip and port; family is AF_INET for an
// IPv4 (or IPv4-mapped) ip.
type rawSockaddr struct {
	in4  unix.RawSockaddrInet4
	in6  unix.RawSockaddrInet6
	four bool
}

func makeSockaddr(ip netip.Addr, port uint16) *rawSockaddr {
	var sa rawSockaddr
	ip = ip.Unmap()
	if ip.Is4() {
		sa.four = true
		sa.in4.Family = unix.AF_INET
		sa.in4.Addr = ip.As4()
		sa.in4.Port = htons(port)
		return &sa
	}
	sa.in6.Family = unix.AF_INET6
	sa.in6.Addr = ip.As16()
	sa.in6.Port = htons(port)
	return &sa
}

// htons returns the uint16 whose bytes in memory are port in network order, as the
// sin_port and sin6_port fields want it, on a host of either byte order.
func htons(port uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], port)
	return binary.NativeEndian.Uint16(b[:])
}

func (sa *rawSockaddr) family() int {
	if sa.four {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func rawConnect(fd int, sa *rawSockaddr) error { return sa.call(unix.SYS_CONNECT, fd) }

func rawBind(fd int, sa *rawSockaddr) error { return sa.call(unix.SYS_BIND, fd) }

// call makes a system call that takes a socket and a socket address (connect, bind).
func (sa *rawSockaddr) call(trap uintptr, fd int) error {
	var e unix.Errno
	if sa.four {
		_, _, e = unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa.in4)), unix.SizeofSockaddrInet4)
	} else {
		_, _, e = unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa.in6)), unix.SizeofSockaddrInet6)
	}
	return errnoErr(e)
}

func rawSetsockoptInt(fd, level, opt, v int) error {
	val := int32(v)
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&val)), 4, 0)
	return errnoErr(e)
}

func rawGetsockoptInt(fd, level, opt int) (int, error) {
	var val int32
	size := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&val)), uintptr(unsafe.Pointer(&size)), 0)
	return int(val), errnoErr(e)
}

// rawConnected reports whether fd has a peer (getpeername succeeds).
func rawConnected(fd int) bool {
	var sa unix.RawSockaddrAny
	size := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)))
	return e == 0
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoErr(e)
}

// rawEpollPoll returns the events ready now, without waiting.
func rawEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawSend sends b on a connected socket; a datagram is sent whole or not at all.
func rawSend(fd int, b []byte) error {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(b)), 0, 0, 0)
	return errnoErr(e)
}

// rawRecv reads one datagram (truncated to len(b)) or the error pending on the socket.
func rawRecv(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
