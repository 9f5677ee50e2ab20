package aio

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errSockaddr is putSockaddr's complaint; operations report ErrInvalid.
var errSockaddr = errors.New("unsupported socket address type")

// putSockaddr encodes sa as the kernel's struct sockaddr into raw and
// returns its length. x/sys keeps its own encoder private (and it writes
// into the value it is given, which may be shared), so the three families
// Connect and SendTo need are written out here. sa is only read.
func putSockaddr(raw *unix.RawSockaddrAny, sa unix.Sockaddr) (uint32, error) {
	n, err := encodeSockaddr(raw, sa)
	if err == nil {
		setSockaddrLen(raw, n)
	}
	return n, err
}

func encodeSockaddr(raw *unix.RawSockaddrAny, sa unix.Sockaddr) (uint32, error) {
	*raw = unix.RawSockaddrAny{}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		if sa.Port < 0 || sa.Port > 0xffff {
			return 0, errSockaddr
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		p.Family = unix.AF_INET
		putPort(&p.Port, sa.Port)
		p.Addr = sa.Addr
		return unix.SizeofSockaddrInet4, nil
	case *unix.SockaddrInet6:
		if sa.Port < 0 || sa.Port > 0xffff {
			return 0, errSockaddr
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		p.Family = unix.AF_INET6
		putPort(&p.Port, sa.Port)
		p.Scope_id = sa.ZoneId
		p.Addr = sa.Addr
		return unix.SizeofSockaddrInet6, nil
	case *unix.SockaddrUnix:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		name := sa.Name
		if len(name) >= len(p.Path) || len(name) == 0 {
			return 0, errSockaddr
		}
		p.Family = unix.AF_UNIX
		for i := 0; i < len(name); i++ {
			p.Path[i] = int8(name[i])
		}
		n := uint32(unsafe.Offsetof(p.Path)) + uint32(len(name))
		if name[0] == '@' { // abstract socket: leading NUL, no terminator
			p.Path[0] = 0
		} else {
			n++ // the terminating NUL
		}
		return n, nil
	}
	return 0, errSockaddr
}

// putPort stores a port in network byte order.
func putPort(dst *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0] = byte(port >> 8)
	b[1] = byte(port)
}
