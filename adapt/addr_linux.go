package adapt

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockName and peerName ask the kernel for a socket's local and remote
// address with getsockname(2) and getpeername(2), and decode the raw
// address here. x/sys/unix's Getsockname and Getpeername add a
// getsockopt(SO_PROTOCOL) to every IPv4 and IPv6 address (to tell L2TP
// sockets apart, which a stream socket never is): two of the system calls
// an accepted connection cost before (docs/design.md, decision 71). A
// failure (say, an unconnected socket) gives nil, as net.Conn does.
func sockName(fd int) net.Addr { return sockAddr(unix.SYS_GETSOCKNAME, fd) }
func peerName(fd int) net.Addr { return sockAddr(unix.SYS_GETPEERNAME, fd) }

func sockAddr(trap uintptr, fd int) net.Addr {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	// Neither call blocks, so the scheduler need not hear of it.
	_, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return nil
	}
	return rawToAddr(&rsa)
}

// rawToAddr decodes the address families a Conn can have into what toAddr
// makes of x/sys's decoding of them, so either path reports the same.
func rawToAddr(rsa *unix.RawSockaddrAny) net.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return &net.TCPAddr{IP: net.IPv4(p.Addr[0], p.Addr[1], p.Addr[2], p.Addr[3]), Port: netPort(&p.Port)}
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return toAddr(&unix.SockaddrInet6{Port: netPort(&p.Port), ZoneId: p.Scope_id, Addr: p.Addr})
	case unix.AF_UNIX:
		// As x/sys decodes it: a leading NUL (an abstract name, or no
		// name at all) reads as '@', and the name ends at the first NUL.
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		path := unsafe.Slice((*byte)(unsafe.Pointer(&p.Path[0])), len(p.Path))
		if path[0] == 0 {
			path[0] = '@'
		}
		n := 0
		for n < len(path) && path[n] != 0 {
			n++
		}
		return &net.UnixAddr{Name: string(path[:n]), Net: "unix"}
	}
	return nil
}

// netPort reads a port in network byte order.
func netPort(p *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(p))
	return int(b[0])<<8 | int(b[1])
}
