package doctor

import (
	"encoding/binary"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// The captures in testdata come from a little-endian machine, where the
// kernel prints address words in that order.
func requireLittleEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("testdata captured on a little-endian machine")
	}
}

func parseFile(t *testing.T, name string) []UDPSocket {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ss, err := ParseUDP(f)
	if err != nil {
		t.Fatalf("ParseUDP(%s): %v", name, err)
	}
	return ss
}

func TestParseUDPCapture(t *testing.T) {
	requireLittleEndian(t)
	ss := parseFile(t, "udp")
	want := []UDPSocket{
		{Local: netip.MustParseAddrPort("0.0.0.0:45999"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: 7, RxQueue: 0x340, Inode: 384324},
		{Local: netip.MustParseAddrPort("127.0.0.1:46001"), Remote: netip.MustParseAddrPort("127.0.0.1:45999"), State: 1, Inode: 384327},
	}
	if len(ss) != len(want) {
		t.Fatalf("got %d sockets; want %d", len(ss), len(want))
	}
	for i := range want {
		if ss[i] != want[i] {
			t.Errorf("socket %d = %+v; want %+v", i, ss[i], want[i])
		}
	}
	ss = parseFile(t, "udp6")
	if len(ss) != 2 || ss[0].Local != netip.MustParseAddrPort("[::1]:45999") || ss[1].Local != netip.MustParseAddrPort("[::]:46000") {
		t.Errorf("udp6 = %+v", ss)
	}
}

func TestParseUDPErrors(t *testing.T) {
	head := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	good := " 1: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 20123 2 0000000000000000 5\n"
	ss, err := ParseUDP(strings.NewReader(head + good))
	if err != nil || len(ss) != 1 || ss[0].UID != 101 || ss[0].Drops != 5 || ss[0].Local.Port() != 53 {
		t.Fatalf("good line: %+v, %v", ss, err)
	}
	bad := map[string]string{
		"few fields":  " 1: 0100007F:0035 00000000:0000 07\n",
		"no port":     strings.Replace(good, "0100007F:0035", "0100007F", 1),
		"odd address": strings.Replace(good, "0100007F:0035", "0100007:0035", 1),
		"short port":  strings.Replace(good, "0100007F:0035", "0100007F:35", 1),
		"state":       strings.Replace(good, " 07 ", " zz ", 1),
		"queues":      strings.Replace(good, "00000000:00000000 00:", "0000000000000000 00:", 1),
		"uid":         strings.Replace(good, "   101  ", "   -1  ", 1),
		"drops":       strings.Replace(good, " 5\n", " x\n", 1),
	}
	for name, line := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := ParseUDP(strings.NewReader(head + line))
			if err == nil || !strings.Contains(err.Error(), "line 2") {
				t.Errorf("error = %v; want one naming line 2", err)
			}
		})
	}
}

func TestParseSNMPCapture(t *testing.T) {
	f, err := os.Open("testdata/snmp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseSNMP(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["Udp"]["RcvbufErrors"]; !ok {
		t.Errorf("no Udp RcvbufErrors in %v", m["Udp"])
	}
	if len(m["Ip"]) == 0 || len(m["Tcp"]) == 0 {
		t.Errorf("missing protocols: %v", m)
	}
	f6, err := os.Open("testdata/snmp6")
	if err != nil {
		t.Fatal(err)
	}
	defer f6.Close()
	m6, err := ParseSNMP6(f6)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m6["Udp6RcvbufErrors"]; !ok {
		t.Error("no Udp6RcvbufErrors")
	}
}

func TestParseSNMPErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no colon":        "Udp InDatagrams\n",
		"count mismatch":  "Udp: A B\nUdp: 1\n",
		"proto mismatch":  "Udp: A\nTcp: 1\n",
		"not a number":    "Udp: A\nUdp: x\n",
		"names no values": "Udp: A\n",
	} {
		if _, err := ParseSNMP(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for name, in := range map[string]string{
		"three fields": "Udp6InDatagrams 1 2\n",
		"not a number": "Udp6InDatagrams x\n",
	} {
		if _, err := ParseSNMP6(strings.NewReader(in)); err == nil {
			t.Errorf("snmp6 %s: no error", name)
		}
	}
}

func FuzzParseUDP(f *testing.F) {
	for _, name := range []string{"udp", "udp6"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		ss, err := ParseUDP(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, x := range ss {
			if !x.Local.Addr().IsValid() || !x.Remote.Addr().IsValid() {
				t.Fatalf("invalid address in %+v", x)
			}
		}
	})
}

func FuzzParseSNMP(f *testing.F) {
	b, err := os.ReadFile("testdata/snmp")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("Udp: A B\nUdp: 1 2\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseSNMP(strings.NewReader(s))
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
		_, _ = ParseSNMP6(strings.NewReader(s))
	})
}
