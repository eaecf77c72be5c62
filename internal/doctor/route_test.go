package doctor

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRouteGetLoopback(t *testing.T) {
	rt, err := RouteGet(netip.MustParseAddr("127.0.0.1"), 0)
	if err != nil {
		t.Fatalf("RouteGet 127.0.0.1: %v", err)
	}
	if rt.Type != "local" || rt.OIF == 0 {
		t.Errorf("route to 127.0.0.1 = %+v; want type local with an interface", rt)
	}
	rt, err = RouteGet(netip.MustParseAddr("127.255.255.255"), 0)
	if err != nil {
		t.Fatalf("RouteGet 127.255.255.255: %v", err)
	}
	if rt.Type != "broadcast" {
		t.Errorf("route to 127.255.255.255 = %+v; want broadcast", rt)
	}
}

// nlReply builds a reply buffer as the kernel would.
func nlReply(typ uint16, seq uint32, body []byte) []byte {
	ne := binary.NativeEndian
	b := ne.AppendUint32(nil, uint32(unix.SizeofNlMsghdr+len(body)))
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, 0)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func rtBody(family, typ uint8, attrs ...[]byte) []byte {
	b := []byte{family, 32, 0, 0, unix.RT_TABLE_MAIN, 0, 0, typ, 0, 0, 0, 0}
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func TestParseRouteReply(t *testing.T) {
	ne := binary.NativeEndian
	oif := appendRta(nil, unix.RTA_OIF, ne.AppendUint32(nil, 3))
	src := appendRta(nil, unix.RTA_PREFSRC, []byte{10, 0, 0, 7})
	gw := appendRta(nil, unix.RTA_GATEWAY, []byte{10, 0, 0, 1})
	table := appendRta(nil, unix.RTA_TABLE, ne.AppendUint32(nil, 254))

	b := nlReply(unix.RTM_NEWROUTE, 1, rtBody(unix.AF_INET, unix.RTN_UNICAST, oif, src, gw, table))
	rt, mine, err := parseRouteReply(b, 1)
	if err != nil || !mine {
		t.Fatalf("parse: %v mine %v", err, mine)
	}
	want := Route{Type: "unicast", OIF: 3, PrefSrc: netip.MustParseAddr("10.0.0.7"), Gateway: netip.MustParseAddr("10.0.0.1"), Table: 254}
	if rt != want {
		t.Errorf("route = %+v; want %+v", rt, want)
	}

	// Another sequence number first, then ours as an error.
	code := -int32(unix.ENETUNREACH)
	errBody := ne.AppendUint32(nil, uint32(code))
	b = append(nlReply(unix.RTM_NEWROUTE, 9, rtBody(unix.AF_INET, unix.RTN_LOCAL)), nlReply(unix.NLMSG_ERROR, 1, errBody)...)
	_, mine, err = parseRouteReply(b, 1)
	if !mine || !errors.Is(err, unix.ENETUNREACH) {
		t.Errorf("error reply: mine %v err %v; want ENETUNREACH", mine, err)
	}

	_, mine, err = parseRouteReply(nlReply(unix.RTM_NEWROUTE, 9, rtBody(unix.AF_INET, unix.RTN_LOCAL)), 1)
	if mine || err != nil {
		t.Errorf("foreign reply: mine %v err %v; want false, nil", mine, err)
	}
}

func TestParseRouteReplyMalformed(t *testing.T) {
	good := nlReply(unix.RTM_NEWROUTE, 1, rtBody(unix.AF_INET, unix.RTN_UNICAST, appendRta(nil, unix.RTA_OIF, []byte{1, 0, 0, 0})))
	tests := map[string][]byte{
		"short header":         good[:10],
		"length past end":      func() []byte { b := append([]byte(nil), good...); b[0] = 200; return b }(),
		"length below header":  func() []byte { b := append([]byte(nil), good...); b[0], b[1], b[2], b[3] = 4, 0, 0, 0; return b }(),
		"short rtmsg":          nlReply(unix.RTM_NEWROUTE, 1, []byte{2, 32}),
		"attr length past end": nlReply(unix.RTM_NEWROUTE, 1, rtBody(unix.AF_INET, 1, []byte{200, 0, 4, 0, 1, 2, 3, 4})),
		"short NLMSG_ERROR":    nlReply(unix.NLMSG_ERROR, 1, []byte{1}),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := parseRouteReply(b, 1); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestAppendRouteRequest(t *testing.T) {
	b := appendRouteRequest(nil, netip.MustParseAddr("ff02::1"), 2, 5)
	if got := int(binary.NativeEndian.Uint32(b)); got != len(b) {
		t.Errorf("nlmsg_len %d; buffer %d", got, len(b))
	}
	if b[unix.SizeofNlMsghdr] != unix.AF_INET6 || b[unix.SizeofNlMsghdr+1] != 128 {
		t.Errorf("rtmsg family/dst_len = %d/%d", b[unix.SizeofNlMsghdr], b[unix.SizeofNlMsghdr+1])
	}
	if len(b) != unix.SizeofNlMsghdr+unix.SizeofRtMsg+rtaLen(16)+rtaLen(4) {
		t.Errorf("request of %d bytes", len(b))
	}
}

func FuzzParseRouteReply(f *testing.F) {
	f.Add(nlReply(unix.RTM_NEWROUTE, 1, rtBody(unix.AF_INET, unix.RTN_UNICAST, appendRta(nil, unix.RTA_OIF, []byte{1, 0, 0, 0}))))
	f.Add(nlReply(unix.NLMSG_ERROR, 1, []byte{0x9b, 0xff, 0xff, 0xff}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rt, mine, err := parseRouteReply(b, 1)
		if err != nil && rt != (Route{}) {
			t.Fatalf("error %v with a route %+v", err, rt)
		}
		if !mine && err == nil && rt != (Route{}) {
			t.Fatalf("route %+v from a foreign message", rt)
		}
	})
}
