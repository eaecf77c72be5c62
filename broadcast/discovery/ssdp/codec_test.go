package ssdp

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// crlf turns a readable message with \n line ends into the wire form.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// miniupnpdResponse is a response miniupnpd 2.3.1 sent in a test LAN.
const miniupnpdResponse = `HTTP/1.1 200 OK
CACHE-CONTROL: max-age=120
ST: urn:schemas-upnp-org:device:InternetGatewayDevice:2
USN: uuid:3e1f0a52-8d3c-4b1f-9a2e-7c5d6e8f9012::urn:schemas-upnp-org:device:InternetGatewayDevice:2
EXT:
SERVER: Debian/6.1 UPnP/1.1 MiniUPnPd/2.3.1
LOCATION: http://10.99.1.1:5000/rootDesc.xml
OPT: "http://schemas.upnp.org/upnp/1/0/"; ns=01
01-NLS: 1796527925
BOOTID.UPNP.ORG: 1796527925
CONFIGID.UPNP.ORG: 1337

`

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want Message
	}{
		{"M-SEARCH", crlf("M-SEARCH * HTTP/1.1\nHOST: 239.255.255.250:1900\nMAN: \"ssdp:discover\"\nMX: 3\nST: ssdp:all\nUSER-AGENT: Linux/6 UPnP/1.1 test/1\n\n"),
			Message{Kind: Search, Host: "239.255.255.250:1900", Man: "ssdp:discover", MX: 3, ST: All, UserAgent: "Linux/6 UPnP/1.1 test/1",
				MaxAge: -1, BootID: -1, ConfigID: -1, NextBootID: -1, SearchPort: -1}},
		{"lower case, LF only, spaces", []byte("M-SEARCH * HTTP/1.1\nhost:[ff02::c]:1900\nman:ssdp:discover\nmx:  1 \nst:   upnp:rootdevice  \n\n"),
			Message{Kind: Search, Host: "[ff02::c]:1900", Man: "ssdp:discover", MX: 1, ST: RootDevice,
				MaxAge: -1, BootID: -1, ConfigID: -1, NextBootID: -1, SearchPort: -1}},
		{"NOTIFY alive", crlf("NOTIFY * HTTP/1.1\nHOST: 239.255.255.250:1900\nCACHE-CONTROL: max-age=1800\nLOCATION: http://10.0.0.1:80/d.xml\nNT: upnp:rootdevice\nNTS: ssdp:alive\nSERVER: X/1 UPnP/1.1 Y/2\nUSN: uuid:a::upnp:rootdevice\nBOOTID.UPNP.ORG: 7\nCONFIGID.UPNP.ORG: 9\nSEARCHPORT.UPNP.ORG: 1901\n\n"),
			Message{Kind: Notify, Host: "239.255.255.250:1900", MaxAge: 1800, Location: "http://10.0.0.1:80/d.xml", NT: RootDevice, NTS: Alive,
				Server: "X/1 UPnP/1.1 Y/2", USN: "uuid:a::upnp:rootdevice", BootID: 7, ConfigID: 9, NextBootID: -1, SearchPort: 1901, MX: -1}},
		{"cache-control with other directives", crlf("NOTIFY * HTTP/1.1\nHOST: 239.255.255.250:1900\nCache-Control: no-cache=\"Ext\", max-age = 600\nNT: uuid:a\nNTS: ssdp:byebye\nUSN: uuid:a\n\n"),
			Message{Kind: Notify, Host: "239.255.255.250:1900", MaxAge: 600, NT: "uuid:a", NTS: ByeBye, USN: "uuid:a",
				MX: -1, BootID: -1, ConfigID: -1, NextBootID: -1, SearchPort: -1}},
		{"update", crlf("NOTIFY * HTTP/1.1\nHOST: 239.255.255.250:1900\nLOCATION: http://h/\nNT: uuid:a\nNTS: ssdp:update\nUSN: uuid:a\nBOOTID.UPNP.ORG: 1\nNEXTBOOTID.UPNP.ORG: 2\n\n"),
			Message{Kind: Notify, Host: "239.255.255.250:1900", Location: "http://h/", NT: "uuid:a", NTS: Update, USN: "uuid:a", BootID: 1, NextBootID: 2,
				MX: -1, MaxAge: -1, ConfigID: -1, SearchPort: -1}},
		{"miniupnpd's response", crlf(miniupnpdResponse),
			Message{Kind: Response, StatusCode: 200, MaxAge: 120, Ext: true, ST: "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
				USN:    "uuid:3e1f0a52-8d3c-4b1f-9a2e-7c5d6e8f9012::urn:schemas-upnp-org:device:InternetGatewayDevice:2",
				Server: "Debian/6.1 UPnP/1.1 MiniUPnPd/2.3.1", Location: "http://10.99.1.1:5000/rootDesc.xml",
				BootID: 1796527925, ConfigID: 1337, MX: -1, NextBootID: -1, SearchPort: -1}},
		{"bad numbers are -1", crlf("M-SEARCH * HTTP/1.1\nHOST: 239.255.255.250:1900\nMAN: \"ssdp:discover\"\nMX: -2\nST: ssdp:all\nBOOTID.UPNP.ORG: 99999999999\n\n"),
			Message{Kind: Search, Host: "239.255.255.250:1900", Man: "ssdp:discover", MX: -1, ST: All,
				MaxAge: -1, BootID: -1, ConfigID: -1, NextBootID: -1, SearchPort: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got.Header = nil
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v; want %+v", *got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"binary", "\x00\x01\x02\r\n\r\n", ErrMalformed},
		{"GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ErrNotSSDP},
		{"M-SEARCH for a path", "M-SEARCH /x HTTP/1.1\r\nHOST: a\r\n\r\n", ErrNotSSDP},
		{"unterminated header", "NOTIFY * HTTP/1.1\r\nHOST: a\r\nNT", ErrMalformed},
		{"too large", "NOTIFY * HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", 2000) + "\r\n", ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Errorf("Parse = %+v, %v; want %v", m, err, tc.want)
			}
		})
	}
}

func TestAppendSearch(t *testing.T) {
	m := Message{Kind: Search, Host: HostHeader(IPv6Group), MX: 2, ST: All, UserAgent: "Linux/6 UPnP/1.1 bcast/1",
		MaxAge: -1, BootID: -1, ConfigID: -1, NextBootID: -1, SearchPort: -1}
	b, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: ssdp:all\r\nUSER-AGENT: Linux/6 UPnP/1.1 bcast/1\r\n\r\n"
	if string(b) != want {
		t.Errorf("got %q; want %q", b, want)
	}
}

func TestAppendRoundTrip(t *testing.T) {
	for _, m := range []Message{
		{Kind: Notify, Host: "239.255.255.250:1900", MaxAge: 1800, Location: "http://10.0.0.1:8080/d.xml", NT: "urn:schemas-upnp-org:device:Basic:1",
			NTS: Alive, Server: DefaultServer, USN: "uuid:x::urn:schemas-upnp-org:device:Basic:1", BootID: 5, ConfigID: 0, NextBootID: -1, SearchPort: -1, MX: -1},
		{Kind: Notify, Host: "239.255.255.250:1900", NT: "uuid:x", NTS: ByeBye, USN: "uuid:x", BootID: 5, ConfigID: 1,
			MaxAge: -1, NextBootID: -1, SearchPort: -1, MX: -1},
		{Kind: Notify, Host: "[FF02::C]:1900", Location: "http://[fd00::1]:80/d.xml", NT: "uuid:x", NTS: Update, USN: "uuid:x", BootID: 5, ConfigID: 1, NextBootID: 6,
			MaxAge: -1, SearchPort: -1, MX: -1},
		{Kind: Response, StatusCode: 200, MaxAge: 60, Ext: true, Location: "http://10.0.0.1:80/", Server: DefaultServer, ST: RootDevice, USN: "uuid:x::upnp:rootdevice",
			BootID: 1, ConfigID: 2, NextBootID: -1, SearchPort: -1, MX: -1},
		{Kind: Search, Host: "10.0.0.9:1900", Man: "ssdp:discover", ST: "uuid:x", MX: -1, MaxAge: -1, BootID: -1, ConfigID: -1, NextBootID: -1, SearchPort: -1},
	} {
		t.Run(m.Kind.String()+" "+m.NTS, func(t *testing.T) {
			b, err := m.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(string(b), "\r\n\r\n") || strings.Contains(strings.ReplaceAll(string(b), "\r\n", ""), "\n") {
				t.Errorf("not CRLF throughout: %q", b)
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(%q): %v", b, err)
			}
			got.Header = nil
			if !reflect.DeepEqual(*got, m) {
				t.Errorf("got %+v; want %+v\n%s", *got, m, b)
			}
		})
	}
}

func TestAppendRejectsInjection(t *testing.T) {
	m := Message{Kind: Response, ST: "upnp:rootdevice\r\nLOCATION: http://evil/", USN: "uuid:x"}
	if b, err := m.Append(nil); err == nil {
		t.Errorf("Append wrote %q; want an error", b)
	}
}

func TestHostHeader(t *testing.T) {
	for in, want := range map[string]string{
		"239.255.255.250:1900":    "239.255.255.250:1900",
		"[ff02::c]:1900":          "[FF02::C]:1900",
		"[ff05::c]:1900":          "[FF05::C]:1900",
		"[::ffff:10.0.0.1]:40000": "10.0.0.1:40000",
		"[fe80::1%eth0]:1900":     "[FE80::1]:1900",
	} {
		if got := HostHeader(netip.MustParseAddrPort(in)); got != want {
			t.Errorf("HostHeader(%s) = %q; want %q", in, got, want)
		}
	}
}

func TestMatches(t *testing.T) {
	basic2 := "urn:schemas-upnp-org:device:Basic:2"
	for _, tc := range []struct {
		st, nt, want string
		ok           bool
	}{
		{All, basic2, basic2, true},
		{All, RootDevice, RootDevice, true},
		{RootDevice, RootDevice, RootDevice, true},
		{RootDevice, "uuid:a", "", false},
		{"uuid:A", "uuid:a", "uuid:a", true},
		{"uuid:b", "uuid:a", "", false},
		{"urn:schemas-upnp-org:device:Basic:1", basic2, "urn:schemas-upnp-org:device:Basic:1", true},
		{basic2, basic2, basic2, true},
		{"urn:schemas-upnp-org:device:Basic:3", basic2, "", false},
		{"urn:schemas-upnp-org:service:Basic:1", basic2, "", false},
		{"urn:other-org:device:Basic:1", basic2, "", false},
	} {
		got, ok := matches(tc.st, tc.nt)
		if got != tc.want || ok != tc.ok {
			t.Errorf("matches(%q, %q) = %q, %v; want %q, %v", tc.st, tc.nt, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for st, ok := range map[string]bool{
		All: true, RootDevice: true, "uuid:1234": true, "urn:schemas-upnp-org:service:WANIPConnection:2": true,
		"urn:a:device:b:1": true, "": false, "uuid:": false, "uuid:a b": false, "urn:a:thing:b:1": false,
		"urn:a:device:b:x": false, "urn:a:device:b:0": false, "ssdp:some": false, "urn:a:device:b:1\r\n": false,
	} {
		if err := CheckTarget(st); (err == nil) != ok {
			t.Errorf("CheckTarget(%q) = %v; want ok %v", st, err, ok)
		}
	}
}

func TestDeviceChecks(t *testing.T) {
	good := Device{UUID: "a", Type: "urn:schemas-upnp-org:device:Basic:1"}
	for _, tc := range []struct {
		name string
		d    Device
		want string
	}{
		{"no uuid", Device{Type: good.Type}, "UUID"},
		{"bad type", Device{UUID: "a", Type: "Basic"}, "type"},
		{"bad service", Device{UUID: "a", Type: good.Type, Services: []string{"urn:x:device:y:1"}}, "service"},
		{"service twice", Device{UUID: "a", Type: good.Type, Services: []string{"urn:x:service:y:1", "urn:x:service:y:1"}}, "twice"},
		{"uuid twice", Device{UUID: "a", Type: good.Type, Devices: []Device{{UUID: "uuid:A", Type: good.Type}}}, "used twice"},
		{"uuid with colon", Device{UUID: "uuid:a:b", Type: good.Type}, "UUID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check = %v; want an error about %s", err, tc.want)
			}
		})
	}
	if err := good.check(); err != nil {
		t.Errorf("check(%+v) = %v", good, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(crlf(miniupnpdResponse))
	f.Add(crlf("M-SEARCH * HTTP/1.1\nHOST: 239.255.255.250:1900\nMAN: \"ssdp:discover\"\nMX: 3\nST: ssdp:all\n\n"))
	f.Add(crlf("NOTIFY * HTTP/1.1\nHOST: 239.255.255.250:1900\nNT: uuid:a\nNTS: ssdp:byebye\nUSN: uuid:a\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		// What was parsed is written and read back the same, when its
		// fields are writable at all.
		out, err := m.Append(nil)
		if err != nil {
			return
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Append(Parse(%q))) = %v; wrote %q", b, err, out)
		}
		if got, want := written(again), written(m); got != want {
			t.Fatalf("round trip of %q: got %s; want %s", b, got, want)
		}
	})
}

// written lists the fields Append writes for the message's kind.
func written(m *Message) string {
	switch m.Kind {
	case Search:
		return fmt.Sprint(m.Kind, m.Host, m.MX, m.ST, m.UserAgent)
	case Notify:
		return fmt.Sprint(m.Kind, m.Host, m.NT, m.NTS, m.USN, m.BootID, m.ConfigID, m.SearchPort)
	}
	return fmt.Sprint(m.Kind, m.StatusCode, m.MaxAge, m.Location, m.Server, m.ST, m.USN, m.BootID, m.ConfigID, m.SearchPort)
}
