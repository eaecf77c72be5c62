package mdns

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func sampleMessage() *Message {
	return &Message{
		Response: true, Authoritative: true,
		Answers: []Record{
			{Name: "_ipp._tcp.local.", Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET, TTL: 4500, Target: "My Printer._ipp._tcp.local."},
		},
		Additionals: []Record{
			{Name: "My Printer._ipp._tcp.local.", Type: dnsmessage.TypeSRV, Class: dnsmessage.ClassINET, CacheFlush: true, TTL: 120, Port: 631, Target: "host.local."},
			{Name: "My Printer._ipp._tcp.local.", Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET, CacheFlush: true, TTL: 4500, Text: []string{"rp=ipp/print", "color"}},
			{Name: "host.local.", Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, CacheFlush: true, TTL: 120, Addr: netip.MustParseAddr("192.0.2.7")},
			{Name: "host.local.", Type: dnsmessage.TypeAAAA, Class: dnsmessage.ClassINET, CacheFlush: true, TTL: 120, Addr: netip.MustParseAddr("fe80::1")},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	m := sampleMessage()
	m.Questions = []Question{{Name: "_ipp._tcp.local.", Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET, QU: true}}
	b, err := m.AppendPack(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("got %+v; want %+v", got, m)
	}
}

func TestCompression(t *testing.T) {
	m := sampleMessage()
	b, err := m.AppendPack(nil)
	if err != nil {
		t.Fatal(err)
	}
	bound := 12
	for _, r := range append(m.Answers, m.Additionals...) {
		bound += r.maxWireLen()
	}
	// Names repeat across the five records; dnsmessage's compression
	// must make the message markedly smaller than the uncompressed bound.
	if len(b) > bound-60 {
		t.Errorf("packed %d bytes; uncompressed bound %d: names were not compressed", len(b), bound)
	}
}

func TestTopBits(t *testing.T) {
	m := &Message{
		Questions: []Question{{Name: "a.local.", Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, QU: true}},
		Answers:   []Record{{Name: "a.local.", Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, CacheFlush: true, TTL: 1, Addr: netip.MustParseAddr("10.0.0.1")}},
	}
	b, err := m.AppendPack(nil)
	if err != nil {
		t.Fatal(err)
	}
	// header 12, "a.local." 9 bytes, type 2, class 2
	if got := b[12+9+2 : 12+9+4]; !bytes.Equal(got, []byte{0x80, 0x01}) {
		t.Errorf("question class bytes % x; want 80 01 (QU)", got)
	}
	// then the answer: name is a 2-byte pointer, type 2, class 2
	off := 12 + 9 + 4 + 2 + 2
	if got := b[off : off+2]; !bytes.Equal(got, []byte{0x80, 0x01}) {
		t.Errorf("record class bytes % x; want 80 01 (cache flush)", got)
	}
}

func TestNSEC(t *testing.T) {
	r := Record{Name: "h.local.", Type: TypeNSEC, Class: dnsmessage.ClassINET, CacheFlush: true, TTL: 120,
		Types: []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}}
	got, err := r.rdata()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 'h', 5, 'l', 'o', 'c', 'a', 'l', 0, 0, 4, 0x40, 0, 0, 8}
	if !bytes.Equal(got, want) {
		t.Errorf("got % x; want % x", got, want)
	}
	b, err := (&Message{Response: true, Answers: []Record{r}}).AppendPack(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if a := m.Answers[0]; a.Type != TypeNSEC || !bytes.Equal(a.Raw, want) || !a.CacheFlush {
		t.Errorf("got %+v; want NSEC with data % x and cache flush", a, want)
	}
}

// A label with a dot is legal on the wire but dnsmessage refuses it; the
// record is skipped and counted, and the records around it survive.
func TestParseSkipsDottedLabel(t *testing.T) {
	msg := []byte{0, 0, 0x84, 0, 0, 0, 0, 3, 0, 0, 0, 0}
	rec := func(label string) []byte {
		b := []byte{byte(len(label))}
		b = append(b, label...)
		b = append(b, 5, 'l', 'o', 'c', 'a', 'l', 0, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 10, 0, 0, 1)
		return b
	}
	msg = append(msg, rec("a")...)
	msg = append(msg, rec("b.c")...)
	msg = append(msg, rec("d")...)
	m, err := ParseMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answers) != 2 || m.Answers[0].Name != "a.local." || m.Answers[1].Name != "d.local." || m.Skipped != 1 {
		t.Errorf("got answers %+v skipped %d; want a.local. and d.local., 1 skipped", m.Answers, m.Skipped)
	}
}

func TestParseTruncated(t *testing.T) {
	b, err := sampleMessage().AppendPack(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n++ {
		if _, err := ParseMessage(b[:n]); err == nil {
			t.Errorf("ParseMessage of the first %d of %d bytes: no error", n, len(b))
		}
	}
}

func TestPackErrors(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"no trailing dot", Record{Name: "a.local", Type: dnsmessage.TypeA, Addr: netip.MustParseAddr("10.0.0.1")}},
		{"A with IPv6", Record{Name: "a.local.", Type: dnsmessage.TypeA, Addr: netip.MustParseAddr("::1")}},
		{"AAAA with nothing", Record{Name: "a.local.", Type: dnsmessage.TypeAAAA}},
		{"long label", Record{Name: string(bytes.Repeat([]byte("x"), 64)) + ".local.", Type: dnsmessage.TypeA, Addr: netip.MustParseAddr("10.0.0.1")}},
		{"NSEC type 300", Record{Name: "a.local.", Type: TypeNSEC, Types: []dnsmessage.Type{300}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := (&Message{Answers: []Record{tt.rec}}).AppendPack(nil); err == nil {
				t.Errorf("got no error; want one")
			}
		})
	}
}

func TestSameRData(t *testing.T) {
	a := Record{Type: dnsmessage.TypeSRV, Port: 1, Target: "Host.local."}
	b := Record{Type: dnsmessage.TypeSRV, Port: 1, Target: "host.LOCAL."}
	if !sameRData(&a, &b) || a.rdataKey() != b.rdataKey() {
		t.Errorf("SRV targets differing in case: not the same data")
	}
	c := Record{Type: dnsmessage.TypeTXT}
	d := Record{Type: dnsmessage.TypeTXT, Text: []string{""}}
	if !sameRData(&c, &d) || c.rdataKey() != d.rdataKey() {
		t.Errorf("empty TXT and TXT of one empty string: not the same data")
	}
	e := Record{Type: dnsmessage.TypeTXT, Text: []string{"a", "b"}}
	f := Record{Type: dnsmessage.TypeTXT, Text: []string{"ab"}}
	if sameRData(&e, &f) || e.rdataKey() == f.rdataKey() {
		t.Errorf("TXT a,b and TXT ab: the same data")
	}
}

func TestCheckInstance(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		ok      bool
	}{
		{"My Printer", nil, true},
		{"Drucker im Büro – 2. Stock", ErrDotInLabel, false},
		{"日本語のプリンター", nil, true},
		{"", nil, false},
		{string(bytes.Repeat([]byte("x"), 64)), nil, false},
		{"tab\there", nil, false},
		{"v1.0", ErrDotInLabel, false},
	}
	for _, tt := range tests {
		err := CheckInstance(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("CheckInstance(%q) = %v; want ok %v", tt.in, err, tt.ok)
		}
		if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("CheckInstance(%q) = %v; want %v", tt.in, err, tt.wantErr)
		}
	}
}

func TestInstanceNamePresentation(t *testing.T) {
	tests := []struct {
		instance, service, presentation string
	}{
		{"My Printer", "_ipp._tcp", "My Printer._ipp._tcp.local."},
		{"My.Printer", "_ipp._tcp", `My\.Printer._ipp._tcp.local.`},
		{`back\slash`, "_http._tcp", `back\\slash._http._tcp.local.`},
		{"Büro", "_http._tcp", "Büro._http._tcp.local."},
	}
	for _, tt := range tests {
		if got := FormatInstanceName(tt.instance, tt.service); got != tt.presentation {
			t.Errorf("FormatInstanceName(%q) = %q; want %q", tt.instance, got, tt.presentation)
		}
		inst, svc, err := ParseInstanceName(tt.presentation)
		if err != nil || inst != tt.instance || svc != tt.service {
			t.Errorf("ParseInstanceName(%q) = %q, %q, %v; want %q, %q", tt.presentation, inst, svc, err, tt.instance, tt.service)
		}
	}
	inst, _, err := ParseInstanceName(`a\032b._http._tcp`)
	if err != nil || inst != "a b" {
		t.Errorf(`ParseInstanceName(a\032b._http._tcp) = %q, %v; want "a b"`, inst, err)
	}
	for _, bad := range []string{`x\`, "x", `x\25._http._tcp`, "._http._tcp", "x._http._sctp"} {
		if _, _, err := ParseInstanceName(bad); err == nil {
			t.Errorf("ParseInstanceName(%q): no error", bad)
		}
	}
}

func TestParseServiceType(t *testing.T) {
	for in, want := range map[string]string{
		"_http._tcp": "_http._tcp", "_http._tcp.local": "_http._tcp", "_http._tcp.local.": "_http._tcp",
		"_a-b._udp": "_a-b._udp",
	} {
		if got, err := ParseServiceType(in); err != nil || got != want {
			t.Errorf("ParseServiceType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http._tcp", "_http", "_http._sctp", "_-x._tcp", "_toolongservicename._tcp", "_a b._tcp", "_a._tcp.example."} {
		if _, err := ParseServiceType(bad); err == nil {
			t.Errorf("ParseServiceType(%q): no error", bad)
		}
	}
}

func TestSplitInstanceName(t *testing.T) {
	inst, svc, ok := SplitInstanceName("My Printer._ipp._tcp.LOCAL.")
	if !ok || inst != "My Printer" || svc != "_ipp._tcp" {
		t.Errorf("got %q %q %v; want My Printer, _ipp._tcp", inst, svc, ok)
	}
	for _, bad := range []string{"host.local.", "x._ipp._tcp.example.", "._ipp._tcp.local."} {
		if _, _, ok := SplitInstanceName(bad); ok {
			t.Errorf("SplitInstanceName(%q) ok", bad)
		}
	}
}

func TestRenameSequence(t *testing.T) {
	inst := []string{"My Printer", "My Printer (2)", "My Printer (3)", "My Printer (4)"}
	for i := 1; i < len(inst); i++ {
		if got := nextInstance(inst[i-1]); got != inst[i] {
			t.Errorf("nextInstance(%q) = %q; want %q", inst[i-1], got, inst[i])
		}
	}
	if got := nextInstance("x (9)"); got != "x (10)" {
		t.Errorf("got %q; want x (10)", got)
	}
	if got := nextInstance("x (1)"); got != "x (1) (2)" {
		t.Errorf("got %q; want x (1) (2)", got)
	}
	host := []string{"host", "host-2", "host-3"}
	for i := 1; i < len(host); i++ {
		if got := nextHost(host[i-1]); got != host[i] {
			t.Errorf("nextHost(%q) = %q; want %q", host[i-1], got, host[i])
		}
	}
	if got := nextHost("my-host"); got != "my-host-2" {
		t.Errorf("nextHost(my-host) = %q; want my-host-2", got)
	}
	long := string(bytes.Repeat([]byte("é"), 31)) + "x" // 63 bytes
	if got := nextInstance(long); len(got) > 63 || CheckInstance(got) != nil {
		t.Errorf("nextInstance of a 63-byte name = %q (%d bytes); want a valid label", got, len(got))
	}
}

func TestTXT(t *testing.T) {
	items := []TXTItem{
		{Key: "rp", Value: []byte("ipp/print"), HasValue: true},
		{Key: "color"},
		{Key: "empty", HasValue: true},
		{Key: "bin", Value: []byte{0, 0xff, '='}, HasValue: true},
	}
	strs, err := EncodeTXT(items)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rp=ipp/print", "color", "empty=", "bin=\x00\xff="}
	if !reflect.DeepEqual(strs, want) {
		t.Errorf("EncodeTXT = %q; want %q", strs, want)
	}
	got := DecodeTXT(strs)
	for i := range got {
		if got[i].Value == nil && items[i].Value != nil || got[i].Key != items[i].Key || got[i].HasValue != items[i].HasValue || string(got[i].Value) != string(items[i].Value) {
			t.Errorf("item %d: got %+v; want %+v", i, got[i], items[i])
		}
	}
	if s := items[3].String(); s != `bin=\x00\xff=` {
		t.Errorf("String() = %q; want bin=\\x00\\xff=", s)
	}
	empty, _ := EncodeTXT(nil)
	if !reflect.DeepEqual(empty, []string{""}) {
		t.Errorf("EncodeTXT(nil) = %q; want one empty string", empty)
	}
	// RFC 6763 §6.4: skip empty and '='-led strings, first of a key wins.
	dec := DecodeTXT([]string{"", "=x", "A=1", "a=2", "b"})
	if len(dec) != 2 || dec[0].Key != "A" || string(dec[0].Value) != "1" || dec[1].Key != "b" || dec[1].HasValue {
		t.Errorf("DecodeTXT = %+v; want A=1, b", dec)
	}
	for _, bad := range [][]TXTItem{
		{{Key: ""}}, {{Key: "a=b"}}, {{Key: "a"}, {Key: "A"}}, {{Key: "k", Value: bytes.Repeat([]byte("v"), 254), HasValue: true}}, {{Key: "é"}},
	} {
		if _, err := EncodeTXT(bad); err == nil {
			t.Errorf("EncodeTXT(%+v): no error", bad)
		}
	}
	if it, err := ParseTXTItem("k=v=w"); err != nil || it.Key != "k" || string(it.Value) != "v=w" {
		t.Errorf("ParseTXTItem(k=v=w) = %+v, %v", it, err)
	}
}
