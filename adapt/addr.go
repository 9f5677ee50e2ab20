package adapt

import (
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// toAddr converts a kernel socket address to the net.Addr the net package
// would report for it; nil when sa is nil or of another family.
func toAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, sa.Addr[:])
		zone := ""
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip, Port: sa.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// tcpOptions sets what package net sets on every TCP connection it accepts
// or dials: TCP_NODELAY and keep-alive probes (setKeepAlive).
func tcpOptions(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return setKeepAlive(fd)
}

// sockaddr is a resolved address with the socket family it needs.
type sockaddr struct {
	family int
	sa     unix.Sockaddr
	v6only bool // for AF_INET6: only when the network is tcp6
}

// tcpSockaddr converts ap for the network tcp, tcp4 or tcp6. An unspecified
// address on "tcp" becomes a dual-stack IPv6 socket where IPv6 exists, as
// net.Listen does.
func tcpSockaddr(network string, ap netip.AddrPort) (sockaddr, error) {
	ip := ap.Addr().Unmap()
	port := int(ap.Port())
	switch {
	case network == "tcp4" || (network == "tcp" && ip.Is4()):
		if ip.IsValid() && !ip.Is4() {
			return sockaddr{}, &net.AddrError{Err: "not an IPv4 address", Addr: ip.String()}
		}
		sa := &unix.SockaddrInet4{Port: port}
		if ip.IsValid() {
			sa.Addr = ip.As4()
		}
		return sockaddr{family: unix.AF_INET, sa: sa}, nil
	case network == "tcp6" || network == "tcp":
		if network == "tcp6" && ip.Is4() {
			return sockaddr{}, &net.AddrError{Err: "not an IPv6 address", Addr: ip.String()}
		}
		sa := &unix.SockaddrInet6{Port: port}
		if ip.IsValid() {
			sa.Addr = ap.Addr().As16()
			if z := ap.Addr().Zone(); z != "" {
				if ifi, err := net.InterfaceByName(z); err == nil {
					sa.ZoneId = uint32(ifi.Index)
				}
			}
		}
		return sockaddr{family: unix.AF_INET6, sa: sa, v6only: network == "tcp6"}, nil
	}
	return sockaddr{}, net.UnknownNetworkError(network)
}

// newSocket makes a blocking stream socket for sa. (io_uring's Recv,
// Send, Accept and Connect wait for readiness on an O_NONBLOCK socket as
// well, measured on Linux 6.18; only IORING_OP_SPLICE ends with EAGAIN
// there, see aio.Aio.Splice.)
func newSocket(sa sockaddr) (int, error) {
	fd, err := socketCloexec(sa.family, unix.SOCK_STREAM)
	if err != nil {
		return -1, err
	}
	if sa.family == unix.AF_INET6 {
		v := 0
		if sa.v6only {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}
