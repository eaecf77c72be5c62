package broadcast

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Builders of rtnetlink messages as the kernel writes them, for the parser
// tests and the fuzz seeds.

func nlMessage(typ, flags uint16, seq uint32, body ...[]byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr)
	for _, p := range body {
		b = append(b, p...)
	}
	putNlHeader(b, typ, flags, seq)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func rtAttr(typ uint16, data []byte) []byte {
	b := make([]byte, unix.SizeofRtAttr, nlAlign(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ifInfo(index int32, flags uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	return b
}

func ifAddrMsg(family, bits uint8, index uint32) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0], b[1] = family, bits
	binary.NativeEndian.PutUint32(b[4:], index)
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func i32(v int32) []byte  { return u32(uint32(v)) }

func linkMsg(seq uint32, index int32, name string, flags uint32) []byte {
	return nlMessage(unix.RTM_NEWLINK, unix.NLM_F_MULTI, seq, ifInfo(index, flags),
		rtAttr(unix.IFLA_IFNAME, append([]byte(name), 0)),
		rtAttr(unix.IFLA_MTU, u32(1500)),
		rtAttr(unix.IFLA_ADDRESS, []byte{2, 0, 0, 0, 0, byte(index)}))
}

func addrMsg(seq uint32, index uint32, p netip.Prefix, brd netip.Addr) []byte {
	family := uint8(unix.AF_INET)
	if p.Addr().Is6() {
		family = unix.AF_INET6
	}
	attrs := [][]byte{ifAddrMsg(family, uint8(p.Bits()), index), rtAttr(unix.IFA_ADDRESS, p.Addr().AsSlice()), rtAttr(unix.IFA_LOCAL, p.Addr().AsSlice())}
	if brd.IsValid() {
		attrs = append(attrs, rtAttr(unix.IFA_BROADCAST, brd.AsSlice()))
	}
	return nlMessage(unix.RTM_NEWADDR, unix.NLM_F_MULTI, seq, attrs...)
}

func doneMsg(seq uint32, errno int32) []byte {
	return nlMessage(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, u32(uint32(errno)))
}

func TestParseLink(t *testing.T) {
	m, _, err := nextMsg(linkMsg(1, 7, "eth7", unix.IFF_UP|unix.IFF_BROADCAST|unix.IFF_RUNNING))
	if err != nil {
		t.Fatal(err)
	}
	ifi, err := parseLink(m.data)
	if err != nil {
		t.Fatal(err)
	}
	want := Interface{Index: 7, Name: "eth7", Flags: net.FlagUp | net.FlagBroadcast | net.FlagRunning, MTU: 1500, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 7}}
	if ifi.String() != want.String() || ifi.HardwareAddr.String() != want.HardwareAddr.String() {
		t.Errorf("parseLink: %v %v; want %v %v", ifi, ifi.HardwareAddr, want, want.HardwareAddr)
	}
	if _, err := parseLink(m.data[:8]); err == nil {
		t.Error("short ifinfomsg: no error")
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		name      string
		msg       []byte
		want      IfAddr
		wantIndex int
	}{
		{"kernel broadcast", addrMsg(1, 3, netip.MustParsePrefix("10.0.0.7/22"), netip.MustParseAddr("10.0.0.77")),
			IfAddr{Prefix: netip.MustParsePrefix("10.0.0.7/22"), Broadcast: netip.MustParseAddr("10.0.0.77")}, 3},
		{"computed broadcast", addrMsg(1, 3, netip.MustParsePrefix("172.16.0.9/22"), netip.Addr{}),
			IfAddr{Prefix: netip.MustParsePrefix("172.16.0.9/22"), Broadcast: netip.MustParseAddr("172.16.3.255")}, 3},
		{"zero kernel broadcast", addrMsg(1, 3, netip.MustParsePrefix("172.16.0.9/16"), netip.IPv4Unspecified()),
			IfAddr{Prefix: netip.MustParsePrefix("172.16.0.9/16"), Broadcast: netip.MustParseAddr("172.16.255.255")}, 3},
		{"/31 has none", addrMsg(1, 4, netip.MustParsePrefix("10.9.9.0/31"), netip.MustParseAddr("10.9.9.1")),
			IfAddr{Prefix: netip.MustParsePrefix("10.9.9.0/31")}, 4},
		{"/32 has none", addrMsg(1, 4, netip.MustParsePrefix("10.9.9.9/32"), netip.Addr{}),
			IfAddr{Prefix: netip.MustParsePrefix("10.9.9.9/32")}, 4},
		{"APIPA", addrMsg(1, 5, netip.MustParsePrefix("169.254.3.4/16"), netip.Addr{}),
			IfAddr{Prefix: netip.MustParsePrefix("169.254.3.4/16"), Broadcast: netip.MustParseAddr("169.254.255.255"), LinkLocal: true}, 5},
		{"IPv6", addrMsg(1, 5, netip.MustParsePrefix("fd00::2/64"), netip.Addr{}),
			IfAddr{Prefix: netip.MustParsePrefix("fd00::2/64")}, 5},
		{"IPv6 link-local", addrMsg(1, 5, netip.MustParsePrefix("fe80::1/64"), netip.Addr{}),
			IfAddr{Prefix: netip.MustParsePrefix("fe80::1/64"), LinkLocal: true}, 5},
		// Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
		{"point-to-point", nlMessage(unix.RTM_NEWADDR, 0, 1, ifAddrMsg(unix.AF_INET, 32, 6),
			rtAttr(unix.IFA_ADDRESS, []byte{10, 8, 0, 1}), rtAttr(unix.IFA_LOCAL, []byte{10, 8, 0, 2})),
			IfAddr{Prefix: netip.MustParsePrefix("10.8.0.2/32")}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := nextMsg(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			index, a, ok, err := parseAddr(m.data)
			if err != nil || !ok || index != tc.wantIndex || a != tc.want {
				t.Errorf("parseAddr: %d %+v %v %v; want %d %+v", index, a, ok, err, tc.wantIndex, tc.want)
			}
		})
	}
	m, _, _ := nextMsg(nlMessage(unix.RTM_NEWADDR, 0, 1, ifAddrMsg(unix.AF_INET, 33, 1), rtAttr(unix.IFA_LOCAL, []byte{1, 2, 3, 4})))
	if _, _, _, err := parseAddr(m.data); err == nil {
		t.Error("prefix length 33: no error")
	}
	m, _, _ = nextMsg(nlMessage(unix.RTM_NEWADDR, 0, 1, ifAddrMsg(unix.AF_PACKET, 0, 1)))
	if _, _, ok, err := parseAddr(m.data); ok || err != nil {
		t.Errorf("other family: ok %v err %v; want skipped", ok, err)
	}
}

func TestDirectedBroadcast(t *testing.T) {
	for p, want := range map[string]string{
		"192.168.1.7/24": "192.168.1.255",
		"10.1.2.3/8":     "10.255.255.255",
		"172.16.0.9/22":  "172.16.3.255",
		"10.0.0.5/30":    "10.0.0.7",
		"0.0.0.0/0":      "255.255.255.255",
	} {
		if got := directedBroadcast(netip.MustParsePrefix(p)); got.String() != want {
			t.Errorf("directedBroadcast(%s) = %v; want %s", p, got, want)
		}
	}
}

func TestWalkDump(t *testing.T) {
	var seen []string
	fn := func(typ uint16, data []byte) error {
		if typ == unix.RTM_NEWLINK {
			ifi, err := parseLink(data)
			if err != nil {
				return err
			}
			seen = append(seen, ifi.Name)
		}
		return nil
	}
	b := append(linkMsg(9, 1, "stale", unix.IFF_UP), linkMsg(10, 2, "eth0", unix.IFF_UP)...)
	done, intr, err := walkDump(b, 10, fn)
	if done || intr || err != nil || strings.Join(seen, ",") != "eth0" {
		t.Errorf("walkDump: done %v intr %v err %v seen %q; want only eth0 of seq 10", done, intr, err, seen)
	}
	done, _, err = walkDump(doneMsg(10, 0), 10, fn)
	if !done || err != nil {
		t.Errorf("NLMSG_DONE: done %v err %v", done, err)
	}
	if _, _, err = walkDump(doneMsg(10, -int32(unix.EINTR)), 10, fn); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("NLMSG_DONE with -EINTR: %v", err)
	}
	if _, _, err = walkDump(nlMessage(unix.NLMSG_ERROR, 0, 10, i32(-int32(unix.EPERM))), 10, fn); err == nil {
		t.Error("NLMSG_ERROR -EPERM: no error")
	}
	_, intr, _ = walkDump(nlMessage(unix.RTM_NEWLINK, unix.NLM_F_DUMP_INTR, 10, ifInfo(3, 0)), 10, fn)
	if !intr {
		t.Error("NLM_F_DUMP_INTR not reported")
	}
	for name, bad := range map[string][]byte{
		"short header":   make([]byte, 8),
		"length too big": func() []byte { b := linkMsg(10, 1, "x", 0); binary.NativeEndian.PutUint32(b, 4096); return b }(),
		"length too small": func() []byte {
			b := linkMsg(10, 1, "x", 0)
			binary.NativeEndian.PutUint32(b, 4)
			return b
		}(),
		"bad attribute": nlMessage(unix.RTM_NEWLINK, 0, 10, ifInfo(1, 0), []byte{200, 0, 3, 0}),
	} {
		if _, _, err := walkDump(bad, 10, fn); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzWalkDump feeds arbitrary bytes through the dump walker and both
// message parsers: no input may panic or loop, and every parsed address
// must obey IfAddr's rules.
func FuzzWalkDump(f *testing.F) {
	f.Add(linkMsg(1, 1, "lo", unix.IFF_UP|unix.IFF_LOOPBACK))
	f.Add(addrMsg(1, 2, netip.MustParsePrefix("10.0.0.7/22"), netip.MustParseAddr("10.0.3.255")))
	f.Add(addrMsg(1, 2, netip.MustParsePrefix("fe80::1/64"), netip.Addr{}))
	f.Add(doneMsg(1, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		walkDump(b, 1, func(typ uint16, data []byte) error {
			switch typ {
			case unix.RTM_NEWLINK:
				parseLink(data)
			case unix.RTM_NEWADDR:
				_, a, ok, err := parseAddr(data)
				if err != nil || !ok {
					return err
				}
				p := a.Prefix
				if !p.IsValid() {
					t.Fatalf("invalid prefix %v from %x", p, data)
				}
				if a.Broadcast.IsValid() != (p.Addr().Is4() && p.Bits() < 31) {
					t.Fatalf("broadcast %v for %v", a.Broadcast, p)
				}
				if a.LinkLocal != p.Addr().IsLinkLocalUnicast() {
					t.Fatalf("LinkLocal %v for %v", a.LinkLocal, p)
				}
			}
			return nil
		})
	})
}
