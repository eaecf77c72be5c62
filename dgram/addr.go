package dgram

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Addr is a socket address: an IP endpoint (AF_INET, AF_INET6 with zone) or
// a unix-domain path (AF_UNIX). The zero Addr means "no address" (an
// unconnected datagram send, an unnamed unix socket).
type Addr struct {
	// AddrPort is the IP endpoint of an AF_INET or AF_INET6 address. An IPv6
	// link-local address carries its interface as the zone ("fe80::1%eth0").
	AddrPort netip.AddrPort
	// Path is the AF_UNIX path; a leading '@' names the abstract namespace.
	// Empty with Unix set is an unnamed unix socket (socketpair, unbound).
	Path string
	// Unix marks an AF_UNIX address, so that an unnamed one is not mistaken
	// for the zero Addr.
	Unix bool
}

// AddrFrom returns the Addr of an IP endpoint.
func AddrFrom(ap netip.AddrPort) Addr { return Addr{AddrPort: ap} }

// UnixAddr returns the Addr of a unix-domain path ("@name" for abstract).
func UnixAddr(path string) Addr { return Addr{Path: path, Unix: true} }

// ParseAddr reads "1.2.3.4:5", "[fe80::1%eth0]:5", "/run/x.sock",
// "@abstract" or "unix:/path". Errors name the text that was wrong.
func ParseAddr(s string) (Addr, error) {
	switch {
	case strings.HasPrefix(s, "unix:"):
		return UnixAddr(strings.TrimPrefix(s, "unix:")), nil
	case strings.HasPrefix(s, "/"), strings.HasPrefix(s, "@"), strings.HasPrefix(s, "./"):
		return UnixAddr(s), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("dgram: bad address %q: want IP:PORT, [IPv6%%zone]:PORT or a unix path: %w", s, err)
	}
	return AddrFrom(ap), nil
}

// IsZero reports whether a is the zero Addr.
func (a Addr) IsZero() bool { return !a.Unix && !a.AddrPort.IsValid() }

// Family is the address family: unix.AF_INET, unix.AF_INET6, unix.AF_UNIX,
// or unix.AF_UNSPEC for the zero Addr. An IPv4-mapped IPv6 address is
// AF_INET6.
func (a Addr) Family() int {
	switch {
	case a.Unix:
		return unix.AF_UNIX
	case !a.AddrPort.IsValid():
		return unix.AF_UNSPEC
	case a.AddrPort.Addr().Is4():
		return unix.AF_INET
	default:
		return unix.AF_INET6
	}
}

func (a Addr) String() string {
	switch {
	case a.Unix && a.Path == "":
		return "@(unnamed)"
	case a.Unix && (strings.HasPrefix(a.Path, "/") || strings.HasPrefix(a.Path, "@") || strings.HasPrefix(a.Path, "./")):
		return a.Path
	case a.Unix:
		return "unix:" + a.Path // a bare relative path would read as something else
	case a.AddrPort.IsValid():
		return a.AddrPort.String()
	}
	return "<none>"
}

// NetAddr converts a into the net.Addr type matching the socket type
// (*net.UDPAddr, *net.TCPAddr, *net.IPAddr or *net.UnixAddr).
func (a Addr) NetAddr(sotype int) net.Addr {
	if a.Unix {
		return &net.UnixAddr{Name: a.Path, Net: unixNet(sotype)}
	}
	if !a.AddrPort.IsValid() {
		return nil
	}
	switch sotype {
	case unix.SOCK_STREAM:
		return net.TCPAddrFromAddrPort(a.AddrPort)
	case unix.SOCK_RAW:
		ip := a.AddrPort.Addr()
		return &net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	return net.UDPAddrFromAddrPort(a.AddrPort)
}

func unixNet(sotype int) string {
	switch sotype {
	case unix.SOCK_DGRAM:
		return "unixgram"
	case unix.SOCK_SEQPACKET:
		return "unixpacket"
	}
	return "unix"
}

// AddrOf converts a net.Addr (UDP, TCP, IP or unix) into an Addr.
func AddrOf(na net.Addr) (Addr, error) {
	switch v := na.(type) {
	case *net.UDPAddr:
		return AddrFrom(v.AddrPort()), nil
	case *net.TCPAddr:
		return AddrFrom(v.AddrPort()), nil
	case *net.UnixAddr:
		return UnixAddr(v.Name), nil
	case *net.IPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		if !ok {
			return Addr{}, fmt.Errorf("dgram: bad IP address %v", v)
		}
		return AddrFrom(netip.AddrPortFrom(ip.Unmap().WithZone(v.Zone), 0)), nil
	case nil:
		return Addr{}, nil
	}
	return Addr{}, fmt.Errorf("dgram: unsupported address type %T (%v)", na, na)
}

// rawAddr is a sockaddr buffer large enough for every family. Send and
// receive paths keep one per operation so that no sockaddr is allocated per
// datagram (x/sys/unix's Sockaddr interface allocates).
type rawAddr struct {
	any unix.RawSockaddrAny
	len uint32
}

func (r *rawAddr) ptr() unsafe.Pointer { return unsafe.Pointer(&r.any) }

// set encodes a into r; it returns an error naming the address when a does not
// suit a socket of family fam.
func (r *rawAddr) set(a Addr, fam int, s *Socket) error {
	switch {
	case a.Unix:
		if fam != unix.AF_UNIX {
			return ErrWrongFamily
		}
		sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(&r.any))
		sa.Family = unix.AF_UNIX
		if len(a.Path) > len(sa.Path) {
			return fmt.Errorf("dgram: unix path %q is %d bytes; the kernel allows %d", a.Path, len(a.Path), len(sa.Path))
		}
		n := copy(unsafe.Slice((*byte)(unsafe.Pointer(&sa.Path[0])), len(sa.Path)), a.Path)
		if n > 0 && a.Path[0] == '@' {
			sa.Path[0] = 0 // abstract namespace: no NUL terminator, length is exact
			r.len = uint32(2 + n)
			return nil
		}
		if n < len(sa.Path) {
			sa.Path[n] = 0
		}
		r.len = uint32(2 + n)
		if n > 0 && n < len(sa.Path) {
			r.len++ // count the NUL, as the C library does
		}
		return nil
	case !a.AddrPort.IsValid():
		r.len = 0
		return nil
	}
	ip := a.AddrPort.Addr()
	port := a.AddrPort.Port()
	switch fam {
	case unix.AF_INET:
		if !ip.Is4() && !ip.Is4In6() {
			return ErrWrongFamily
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.any))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.Unmap().As4()}
		putPort(&sa.Port, port)
		r.len = unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.any))
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
		putPort(&sa.Port, port)
		if z := ip.Zone(); z != "" {
			idx, err := s.zoneIndex(z)
			if err != nil {
				return err
			}
			sa.Scope_id = uint32(idx)
		}
		r.len = unix.SizeofSockaddrInet6
	default:
		return ErrWrongFamily
	}
	return nil
}

// addr decodes r without allocating for IP families (a cached zone name is
// reused); unix paths allocate their string. s names the zones.
func (r *rawAddr) addr(s *Socket) Addr {
	if r.len == 0 {
		return Addr{}
	}
	switch r.any.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.any))
		return Addr{AddrPort: netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port))}
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.any))
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			ip = ip.WithZone(s.zoneName(int(sa.Scope_id)))
		}
		return Addr{AddrPort: netip.AddrPortFrom(ip, getPort(&sa.Port))}
	case unix.AF_UNIX:
		sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(&r.any))
		n := int(r.len) - 2
		if n <= 0 {
			return Addr{Unix: true}
		}
		n = min(n, len(sa.Path))
		p := unsafe.Slice((*byte)(unsafe.Pointer(&sa.Path[0])), n)
		if p[0] == 0 {
			return Addr{Path: "@" + string(p[1:]), Unix: true}
		}
		for i, c := range p {
			if c == 0 {
				p = p[:i]
				break
			}
		}
		return Addr{Path: string(p), Unix: true}
	}
	return Addr{}
}

func putPort(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(src *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(src))
	return uint16(b[0])<<8 | uint16(b[1])
}

// zones resolves IPv6 zones (interface names) for one socket, asking the
// kernel through the socket's own descriptor (SIOCGIFINDEX, SIOCGIFNAME),
// so that names are those of the socket's network namespace, not the
// namespace of whichever thread happens to run the call. Answers are cached
// per socket: decoding a link-local source on the hot path costs a map
// lookup, not a system call.
type zones struct {
	mu      sync.RWMutex
	byIndex map[int]string
	byName  map[string]int
}

// zoneName names interface idx; an index the kernel does not know becomes
// its decimal string, as Go's net package does.
func (s *Socket) zoneName(idx int) string {
	s.zones.mu.RLock()
	name, ok := s.zones.byIndex[idx]
	s.zones.mu.RUnlock()
	if ok {
		return name
	}
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return strconv.Itoa(idx)
	}
	ifr.SetUint32(uint32(idx))
	var ioErr error
	if err := s.rc.Control(func(fd uintptr) { ioErr = unix.IoctlIfreq(int(fd), unix.SIOCGIFNAME, ifr) }); err != nil || ioErr != nil {
		return strconv.Itoa(idx)
	}
	name = ifr.Name()
	s.zones.remember(idx, name)
	return name
}

// zoneIndex is the interface index of a zone: a number as is, a name looked
// up in the socket's namespace.
func (s *Socket) zoneIndex(zone string) (int, error) {
	if n, err := strconv.Atoi(zone); err == nil && n > 0 {
		return n, nil
	}
	s.zones.mu.RLock()
	idx, ok := s.zones.byName[zone]
	s.zones.mu.RUnlock()
	if ok {
		return idx, nil
	}
	ifr, err := unix.NewIfreq(zone)
	if err != nil {
		return 0, fmt.Errorf("dgram: bad IPv6 zone %q: %w", zone, err)
	}
	var ioErr error
	if err := s.rc.Control(func(fd uintptr) { ioErr = unix.IoctlIfreq(int(fd), unix.SIOCGIFINDEX, ifr) }); err != nil {
		return 0, err
	}
	if ioErr != nil {
		return 0, fmt.Errorf("dgram: no interface named %q for the IPv6 zone: %w", zone, os.NewSyscallError("ioctl SIOCGIFINDEX", ioErr))
	}
	idx = int(ifr.Uint32())
	s.zones.remember(idx, zone)
	return idx, nil
}

func (z *zones) remember(idx int, name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.byIndex == nil {
		z.byIndex, z.byName = map[int]string{}, map[string]int{}
	}
	z.byIndex[idx], z.byName[name] = name, idx
}
