package adapt

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Dial connects to address on network (tcp, tcp4, tcp6 or unix) with an
// engine Connect. Host names are resolved with net.DefaultResolver, and
// each address is tried in turn until one connects. ctx bounds the whole
// dial: its deadline is the Connect's expiry and its cancellation an Abort;
// then the error matches ctx.Err(). A TCP connection has TCP_NODELAY and
// keep-alive probes on, as net.Dial's has (Listener says how).
func Dial(ctx context.Context, e *aio.Engine, network, address string) (*Conn, error) {
	fail := func(err error) (*Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var sas []sockaddr
	switch network {
	case "tcp", "tcp4", "tcp6":
		host, portStr, err := net.SplitHostPort(address)
		if err != nil {
			return fail(err)
		}
		port, err := net.DefaultResolver.LookupPort(ctx, network, portStr)
		if err != nil {
			return fail(err)
		}
		ips, err := lookupHost(ctx, network, host)
		if err != nil {
			return fail(err)
		}
		for _, ip := range ips {
			sa, err := tcpSockaddr(network, netip.AddrPortFrom(ip, uint16(port)))
			if err == nil {
				sa.v6only = false
				sas = append(sas, sa)
			}
		}
		if len(sas) == 0 {
			return fail(&net.AddrError{Err: "no suitable address", Addr: host})
		}
	case "unix":
		sas = append(sas, sockaddr{family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: address}})
	default:
		return fail(net.UnknownNetworkError(network))
	}
	var err error
	for _, sa := range sas {
		var c *Conn
		c, err = dialOne(ctx, e, sa)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		oe.Net = network
		return nil, oe
	}
	return fail(err)
}

// lookupHost resolves host to addresses of network's family; an empty host
// means the local system, as in net.Dial.
func lookupHost(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host == "" {
		if network == "tcp6" {
			return []netip.Addr{netip.IPv6Loopback()}, nil
		}
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	ipNet := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
	return net.DefaultResolver.LookupNetIP(ctx, ipNet, host)
}

func dialOne(ctx context.Context, e *aio.Engine, sa sockaddr) (*Conn, error) {
	raddr := toAddr(sa.sa)
	fail := func(err error) (*Conn, error) {
		return nil, &net.OpError{Op: "dial", Addr: raddr, Err: err}
	}
	fd, err := newSocket(sa)
	if err != nil {
		return fail(os.NewSyscallError("socket", err))
	}
	if sa.family != unix.AF_UNIX {
		// Options set before the connect hold for the connection.
		if err := tcpOptions(fd); err != nil {
			unix.Close(fd)
			return fail(err)
		}
	}
	r := newRunner(e)
	if d, ok := ctx.Deadline(); ok {
		r.deadline = d
	}
	_, err = r.run(ctx, func(a *aio.Aio) { a.Connect(fd, sa.sa) }, nil)
	r.close()
	if err != nil {
		unix.Close(fd)
		switch {
		case err == errCtxDone || (ctx.Err() != nil && errors.Is(err, aio.ErrTimedOut)):
			err = ctx.Err()
		default:
			err = netErr("dial", err)
		}
		return fail(err)
	}
	c, err := newConn(e, fd, connDialed, nil)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}
