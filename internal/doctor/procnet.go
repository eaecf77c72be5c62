package doctor

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// UDPSocket is one line of /proc/net/udp or /proc/net/udp6.
type UDPSocket struct {
	Local, Remote netip.AddrPort
	State         int    // 7 (TCP_CLOSE) for an unconnected socket, 1 for a connected one
	TxQueue       uint64 // bytes queued to send
	RxQueue       uint64 // bytes waiting to be read
	UID           int
	Inode         uint64
	Drops         uint64 // datagrams dropped on this socket (receive buffer full, ...)
}

// ParseUDP reads the format of /proc/net/udp and /proc/net/udp6: a header,
// then one line per socket:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
//	 5: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 20123 2 0000000000000000 0
//
// Addresses are hex in the kernel's memory order: one 32-bit word for IPv4,
// four for IPv6, each as the host stores it (little-endian on x86); ports
// are big-endian hex. Errors name the line.
func ParseUDP(r io.Reader) ([]UDPSocket, error) {
	var out []UDPSocket
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 || text == "" {
			continue // header
		}
		f := strings.Fields(text)
		if len(f) < 13 {
			return nil, fmt.Errorf("doctor: udp line %d: %d fields, want at least 13", line, len(f))
		}
		var s UDPSocket
		var err error
		if s.Local, err = parseHexAddrPort(f[1]); err != nil {
			return nil, fmt.Errorf("doctor: udp line %d: local address: %w", line, err)
		}
		if s.Remote, err = parseHexAddrPort(f[2]); err != nil {
			return nil, fmt.Errorf("doctor: udp line %d: remote address: %w", line, err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("doctor: udp line %d: state %q", line, f[3])
		}
		s.State = int(st)
		tx, rx, ok := strings.Cut(f[4], ":")
		if !ok {
			return nil, fmt.Errorf("doctor: udp line %d: queues %q", line, f[4])
		}
		if s.TxQueue, err = strconv.ParseUint(tx, 16, 64); err != nil {
			return nil, fmt.Errorf("doctor: udp line %d: tx_queue %q", line, tx)
		}
		if s.RxQueue, err = strconv.ParseUint(rx, 16, 64); err != nil {
			return nil, fmt.Errorf("doctor: udp line %d: rx_queue %q", line, rx)
		}
		uid, err := strconv.ParseUint(f[7], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("doctor: udp line %d: uid %q", line, f[7])
		}
		s.UID = int(uid)
		if s.Inode, err = strconv.ParseUint(f[9], 10, 64); err != nil {
			return nil, fmt.Errorf("doctor: udp line %d: inode %q", line, f[9])
		}
		if s.Drops, err = strconv.ParseUint(f[len(f)-1], 10, 64); err != nil {
			return nil, fmt.Errorf("doctor: udp line %d: drops %q", line, f[len(f)-1])
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("doctor: udp: %w", err)
	}
	return out, nil
}

// parseHexAddrPort reads "0100007F:0035" or a 32-digit IPv6 form.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q has no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil || len(p) != 4 {
		return netip.AddrPort{}, fmt.Errorf("%q: bad port", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: bad hex address", s)
	}
	var addr netip.Addr
	switch len(raw) {
	case 4:
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], binary.NativeEndian.Uint32(raw))
		addr = netip.AddrFrom4(b)
	case 16:
		var b [16]byte
		for i := 0; i < 16; i += 4 {
			binary.BigEndian.PutUint32(b[i:], binary.NativeEndian.Uint32(raw[i:]))
		}
		addr = netip.AddrFrom16(b)
	default:
		return netip.AddrPort{}, fmt.Errorf("%q: address of %d bytes", s, len(raw))
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// ParseSNMP reads /proc/net/snmp: pairs of lines "Proto: Name Name ..." and
// "Proto: value value ...". It returns the counters by protocol and name
// (snmp["Udp"]["RcvbufErrors"]). Errors name the line.
func ParseSNMP(r io.Reader) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	sc := bufio.NewScanner(r)
	var names []string
	var proto string
	line := 0
	for sc.Scan() {
		line++
		p, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			return nil, fmt.Errorf("doctor: snmp line %d: no \"Proto:\"", line)
		}
		f := strings.Fields(rest)
		if names == nil {
			names, proto = f, p
			continue
		}
		if p != proto || len(f) != len(names) {
			return nil, fmt.Errorf("doctor: snmp line %d: %d values for %d %s names", line, len(f), len(names), proto)
		}
		m := map[string]int64{}
		for i, v := range f {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("doctor: snmp line %d: %s %s = %q", line, proto, names[i], v)
			}
			m[names[i]] = n
		}
		out[proto] = m
		names = nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("doctor: snmp: %w", err)
	}
	if names != nil {
		return nil, fmt.Errorf("doctor: snmp: %s names without values", proto)
	}
	return out, nil
}

// ParseSNMP6 reads /proc/net/snmp6: one "Name value" per line
// (Udp6RcvbufErrors 0). Errors name the line.
func ParseSNMP6(r io.Reader) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("doctor: snmp6 line %d: %d fields, want 2", line, len(f))
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("doctor: snmp6 line %d: %s = %q", line, f[0], f[1])
		}
		out[f[0]] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("doctor: snmp6: %w", err)
	}
	return out, nil
}
