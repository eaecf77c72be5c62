package broadcast

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// A Receiver asks the kernel only for the metadata its config names, and
// the Packet fields left out keep their "unknown" values.
func TestReceiveMetadata(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   ReceiverConfig
		want  Metadata
		iface bool // the datagram must arrive through an Iface filter
	}{
		{"zero is all", ReceiverConfig{}, MetaAll, false},
		{"none", ReceiverConfig{Metadata: MetaNone}, MetaNone, false},
		{"drops only", ReceiverConfig{Metadata: MetaDrops}, MetaDrops, false},
		{"drops and time", ReceiverConfig{Metadata: MetaDrops | MetaTime}, MetaDrops | MetaTime, false},
		{"ttl and tos", ReceiverConfig{Metadata: MetaTTL | MetaTOS}, MetaTTL | MetaTOS, false},
		{"none beside another piece", ReceiverConfig{Metadata: MetaNone | MetaTTL}, MetaTTL, false},
		{"iface adds pktinfo", ReceiverConfig{Metadata: MetaDrops, Iface: "lo"}, MetaDrops | MetaPktInfo, true},
		{"udp6 pktinfo only", ReceiverConfig{Network: "udp6", Metadata: MetaPktInfo}, MetaPktInfo, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := listen(t, tc.cfg)
			if got := r.Metadata(); got != tc.want {
				t.Errorf("Metadata() = %v; want %v", got, tc.want)
			}
			sock := r.Socket()
			level, pktinfo, ttl, tos := unix.IPPROTO_IP, unix.IP_PKTINFO, unix.IP_RECVTTL, unix.IP_RECVTOS
			if tc.cfg.Network == "udp6" {
				level, pktinfo, ttl, tos = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, unix.IPV6_RECVHOPLIMIT, unix.IPV6_RECVTCLASS
			}
			for _, o := range []struct {
				name       string
				level, opt int
				piece      Metadata
			}{
				{"pktinfo", level, pktinfo, MetaPktInfo},
				{"ttl", level, ttl, MetaTTL},
				{"tos", level, tos, MetaTOS},
				{"SO_TIMESTAMPNS", unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, MetaTime},
				{"SO_RXQ_OVFL", unix.SOL_SOCKET, unix.SO_RXQ_OVFL, MetaDrops},
			} {
				on, err := sock.OptionBool(o.level, o.opt)
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.want&o.piece != 0; on != want {
					t.Errorf("%s on: got %v; want %v", o.name, on, want)
				}
			}

			s := newSender(t, SenderConfig{TTL: 7, TOS: 0x28})
			dst := loopback
			if tc.cfg.Network == "udp6" {
				dst = netip.IPv6Loopback()
				s = newSender(t, SenderConfig{Network: "udp6", TTL: 7, TOS: 0x28})
			}
			if err := s.Send([]byte("meta"), netip.AddrPortFrom(dst, port(r))); err != nil {
				t.Fatal(err)
			}
			p, data := recvOne(t, r)
			if data != "meta" || !p.Src.IsValid() {
				t.Fatalf("payload %q from %v; want \"meta\" from a valid source", data, p.Src)
			}
			if got, want := p.Dst.IsValid() && p.IfIndex != 0 && p.Kind == Unicast, tc.want&MetaPktInfo != 0; got != want {
				t.Errorf("dst %v ifindex %d kind %v: known %v; want %v", p.Dst, p.IfIndex, p.Kind, got, want)
			}
			if tc.want&MetaPktInfo == 0 && p.Kind != Unknown {
				t.Errorf("kind %v without pktinfo; want %v", p.Kind, Unknown)
			}
			if got, want := p.TTL, map[bool]int{true: 7, false: -1}[tc.want&MetaTTL != 0]; got != want {
				t.Errorf("ttl %d; want %d", got, want)
			}
			if got, want := p.TOS, map[bool]int{true: 0x28, false: 0}[tc.want&MetaTOS != 0]; got != want {
				t.Errorf("tos %#x; want %#x", got, want)
			}
			if got, want := !p.Time.IsZero(), tc.want&MetaTime != 0; got != want {
				t.Errorf("time %v: set %v; want %v", p.Time, got, want)
			}
		})
	}
}

func TestMetadataString(t *testing.T) {
	for _, tc := range []struct {
		m    Metadata
		want string
	}{
		{0, "all"},
		{MetaNone, "none"},
		{MetaDrops | MetaTime, "time|drops"},
		{MetaAll, "all"},
		{MetaAll &^ MetaTOS, "pktinfo|ttl|time|drops"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("Metadata(%#x).String() = %q; want %q", uint8(tc.m), got, tc.want)
		}
	}
}
