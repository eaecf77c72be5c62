package discovery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func announce() *Message {
	return &Message{
		Type:     TypeAnnounce,
		TTL:      15,
		Service:  "printer",
		Instance: "office-1",
		Port:     631,
		Addrs:    []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("fe80::1")},
		Text:     map[string]string{"model": "LX-9", "color": "yes", "empty": ""},
	}
}

func TestEncodeLayout(t *testing.T) {
	m := &Message{Type: TypeAnnounce, TTL: 0x0102, Service: "s", Instance: "i", Port: 0x0304,
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, Text: map[string]string{"b": "2", "a": "1"}}
	got, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		'b', 'c', 1, 1, // magic, version, type
		1, 2, // TTL
		3, 4, // port
		1, 's', // service
		1, 'i', // instance
		1, 4, 10, 0, 0, 1, // one IPv4 address
		2,                 // two pairs, sorted
		1, 'a', 0, 1, '1', // a=1
		1, 'b', 0, 1, '2', // b=2
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x; want % x", got, want)
	}
	if m.Size() != len(want) {
		t.Errorf("Size() = %d; want %d", m.Size(), len(want))
	}
}

func TestRoundTrip(t *testing.T) {
	big := &Message{Type: TypeAnswer, TTL: 1, Service: strings.Repeat("s", MaxNameLen),
		Instance: strings.Repeat("é", MaxNameLen/2), Port: 65535, Text: map[string]string{}}
	for i := range MaxAddrs {
		big.Addrs = append(big.Addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(i + 1)}))
	}
	for i := range MaxPairs {
		big.Text[string(rune('A'+i))] = strings.Repeat("v", 10)
	}
	for _, m := range []*Message{
		announce(),
		{Type: TypeQuery},
		{Type: TypeQuery, Service: "printer"},
		{Type: TypeQuery, Service: "printer", Instance: "office-1"},
		{Type: TypeGoodbye, Service: "printer", Instance: "Living Room ✓"},
		{Type: TypeAnswer, TTL: 65535, Service: "_x._udp", Instance: "a", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
		big,
	} {
		t.Run(m.Type.String()+"/"+m.Instance, func(t *testing.T) {
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != m.Size() || len(b) > MaxMessageSize {
				t.Fatalf("encoded %d bytes; Size() = %d, max %d", len(b), m.Size(), MaxMessageSize)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			want := *m
			if len(want.Text) == 0 {
				want.Text = nil // an empty map decodes as nil
			}
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("got %+v; want %+v", *got, want)
			}
		})
	}
}

// TestAppendBinaryAllocs: the announcer encodes one message per interface
// per interval into a reused buffer.
func TestAppendBinaryAllocs(t *testing.T) {
	m := announce()
	m.Instance = strings.Repeat("é", MaxNameLen/2) + "x"
	buf := make([]byte, 0, MaxMessageSize)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = m.AppendBinary(buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendBinary allocated %v times per run; want 0", allocs)
	}
	if cap(buf) != MaxMessageSize {
		t.Errorf("buffer grew to %d", cap(buf))
	}
}

// TestParseAllocs: the receive path validates a message without
// allocating, however long its names.
func TestParseAllocs(t *testing.T) {
	long := announce()
	long.Service = strings.Repeat("s", MaxNameLen)
	long.Instance = strings.Repeat("é", MaxNameLen/2) + "x"
	for _, m := range []*Message{announce(), long} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var v view
		allocs := testing.AllocsPerRun(100, func() {
			if err := v.parse(b); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("parse of %d-byte names allocated %v times per run; want 0", len(m.Instance), allocs)
		}
	}
}

func TestEncodeInvalid(t *testing.T) {
	long := strings.Repeat("x", MaxNameLen+1)
	tests := []struct {
		name  string
		edit  func(m *Message)
		err   error
		field string
	}{
		{"type zero", func(m *Message) { m.Type = 0 }, ErrInvalid, "type"},
		{"type 5", func(m *Message) { m.Type = 5 }, ErrInvalid, "type"},
		{"announce ttl 0", func(m *Message) { m.TTL = 0 }, ErrInvalid, "ttl"},
		{"no service", func(m *Message) { m.Service = "" }, ErrInvalid, "service"},
		{"service space", func(m *Message) { m.Service = "my printer" }, ErrInvalid, "service"},
		{"service long", func(m *Message) { m.Service = long }, ErrInvalid, "service"},
		{"no instance", func(m *Message) { m.Instance = "" }, ErrInvalid, "instance"},
		{"instance long", func(m *Message) { m.Instance = long }, ErrInvalid, "instance"},
		{"instance newline", func(m *Message) { m.Instance = "a\nb" }, ErrInvalid, "instance"},
		{"instance bad utf8", func(m *Message) { m.Instance = "a\xffb" }, ErrInvalid, "instance"},
		{"zoned addr", func(m *Message) { m.Addrs = []netip.Addr{netip.MustParseAddr("fe80::1%eth0")} }, ErrInvalid, "addrs"},
		{"mapped addr", func(m *Message) { m.Addrs = []netip.Addr{netip.MustParseAddr("::ffff:1.2.3.4")} }, ErrInvalid, "addrs"},
		{"unspecified", func(m *Message) { m.Addrs = []netip.Addr{netip.IPv4Unspecified()} }, ErrInvalid, "addrs"},
		{"multicast", func(m *Message) { m.Addrs = []netip.Addr{netip.MustParseAddr("239.1.1.1")} }, ErrInvalid, "addrs"},
		{"zero addr", func(m *Message) { m.Addrs = []netip.Addr{{}} }, ErrInvalid, "addrs"},
		{"duplicate addr", func(m *Message) { m.Addrs = append(m.Addrs, m.Addrs[0]) }, ErrInvalid, "addrs"},
		{"too many addrs", func(m *Message) {
			m.Addrs = nil
			for i := range MaxAddrs + 1 {
				m.Addrs = append(m.Addrs, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}))
			}
		}, ErrInvalid, "addrs"},
		{"empty key", func(m *Message) { m.Text[""] = "x" }, ErrInvalid, "text"},
		{"key with =", func(m *Message) { m.Text["a=b"] = "x" }, ErrInvalid, "text"},
		{"key with space", func(m *Message) { m.Text["a b"] = "x" }, ErrInvalid, "text"},
		{"key long", func(m *Message) { m.Text[long] = "x" }, ErrInvalid, "text"},
		{"too many pairs", func(m *Message) {
			for i := range MaxPairs {
				m.Text[string(rune('A'+i))] = ""
			}
		}, ErrInvalid, "text"},
		{"too large", func(m *Message) { m.Text["big"] = strings.Repeat("x", MaxMessageSize) }, ErrTooLarge, ""},
		{"query with port", func(m *Message) { *m = Message{Type: TypeQuery, Port: 1} }, ErrInvalid, "port"},
		{"query with ttl", func(m *Message) { *m = Message{Type: TypeQuery, TTL: 1} }, ErrInvalid, "ttl"},
		{"query with addrs", func(m *Message) {
			*m = Message{Type: TypeQuery, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}
		}, ErrInvalid, "addrs"},
		{"query with text", func(m *Message) { *m = Message{Type: TypeQuery, Text: map[string]string{"a": ""}} }, ErrInvalid, "text"},
		{"goodbye without instance", func(m *Message) { *m = Message{Type: TypeGoodbye, Service: "s"} }, ErrInvalid, "instance"},
		{"goodbye with ttl", func(m *Message) { *m = Message{Type: TypeGoodbye, Service: "s", Instance: "i", TTL: 3} }, ErrInvalid, "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := announce()
			tt.edit(m)
			buf := []byte("keep")
			got, err := m.AppendBinary(buf)
			if !errors.Is(err, tt.err) {
				t.Fatalf("AppendBinary error %v; want %v", err, tt.err)
			}
			if string(got) != "keep" {
				t.Errorf("AppendBinary changed the buffer to %q on error", got)
			}
			var me *MessageError
			if !errors.As(err, &me) || me.Field != tt.field || me.Offset != -1 {
				t.Errorf("error %#v; want field %q at offset -1", err, tt.field)
			}
			if err2 := m.Validate(); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Validate() = %v; want %v", err2, err)
			}
		})
	}
}

// encoded is the canonical encoding of announce() with one edit applied to
// its bytes.
func encoded(t *testing.T, edit func(b []byte) []byte) []byte {
	t.Helper()
	b, err := announce().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return edit(b)
}

func TestDecodeErrors(t *testing.T) {
	// Offsets in announce(): header 0-7, service len at 8 ("printer", 7
	// bytes), instance len at 16 ("office-1", 8 bytes), address count at 25,
	// first address family at 26, second at 31, pair count at 48, first key
	// length at 49 ("color").
	const addrCount, addr1, addr2, pairCount, key1 = 25, 26, 31, 48, 49
	set := func(off int, v ...byte) func([]byte) []byte {
		return func(b []byte) []byte { copy(b[off:], v); return b }
	}
	tests := []struct {
		name   string
		b      []byte
		err    error
		field  string
		offset int
	}{
		{"empty", nil, ErrMagic, "magic", 0},
		{"one byte", []byte("b"), ErrMagic, "magic", 0},
		{"dns", []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, ErrMagic, "magic", 0},
		{"magic only", []byte("bc"), ErrMalformed, "version", 2},
		{"version 2", encoded(t, set(2, 2)), ErrVersion, "version", 2},
		{"version 0", encoded(t, set(2, 0)), ErrVersion, "version", 2},
		{"short", []byte{'b', 'c', 1, 1, 0, 1, 0, 1, 1, 'a', 1}, ErrMalformed, "", 11},
		{"too large", append(encoded(t, func(b []byte) []byte { return b }), make([]byte, MaxMessageSize)...), ErrTooLarge, "", MaxMessageSize},
		{"type 0", encoded(t, set(3, 0)), ErrMalformed, "type", 3},
		{"type 9", encoded(t, set(3, 9)), ErrMalformed, "type", 3},
		{"announce ttl 0", encoded(t, set(4, 0, 0)), ErrMalformed, "ttl", 4},
		{"service length past end", encoded(t, func(b []byte) []byte { return b[:12] }), ErrMalformed, "service", 8},
		{"service bad byte", encoded(t, set(9, '/')), ErrMalformed, "service", 8},
		{"service empty", []byte{'b', 'c', 1, 1, 0, 1, 0, 1, 0, 1, 'i', 0, 0}, ErrMalformed, "service", 8},
		{"instance length past end", encoded(t, set(16, 200)), ErrMalformed, "instance", 16},
		{"instance control", encoded(t, set(17, 0x7f)), ErrMalformed, "instance", 16},
		{"instance bad utf8", encoded(t, set(17, 0xc3)), ErrMalformed, "instance", 16},
		{"ends before addrs", encoded(t, func(b []byte) []byte { return b[:addrCount] }), ErrMalformed, "addrs", addrCount},
		{"too many addrs", encoded(t, set(addrCount, MaxAddrs+1)), ErrMalformed, "addrs", addrCount},
		{"address family 5", encoded(t, set(addr1, 5)), ErrMalformed, "addrs", addr1},
		{"address cut", encoded(t, func(b []byte) []byte { return b[:addr1+3] }), ErrMalformed, "addrs", addr1},
		{"ipv6 cut", encoded(t, func(b []byte) []byte { return b[:addr2+9] }), ErrMalformed, "addrs", addr2},
		{"address unspecified", encoded(t, set(addr1+1, 0, 0, 0, 0)), ErrMalformed, "addrs", addr1},
		{"address multicast", encoded(t, set(addr1+1, 224, 0, 0, 1)), ErrMalformed, "addrs", addr1},
		{"address broadcast", encoded(t, set(addr1+1, 255, 255, 255, 255)), ErrMalformed, "addrs", addr1},
		{"address mapped", encoded(t, set(addr2+1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4)), ErrMalformed, "addrs", addr2},
		{"address twice", encoded(t, set(addr2, 4, 192, 0, 2, 7)), ErrMalformed, "addrs", addr2},
		{"ends before text", encoded(t, func(b []byte) []byte { return b[:pairCount] }), ErrMalformed, "text", pairCount},
		{"too many pairs", encoded(t, set(pairCount, MaxPairs+1)), ErrMalformed, "text", pairCount},
		{"fewer pairs than counted", encoded(t, set(pairCount, 4)), ErrMalformed, "text", -1},
		{"more pairs than counted", encoded(t, set(pairCount, 2)), ErrMalformed, "", -1},
		{"key empty", encoded(t, func(b []byte) []byte {
			return append(b[:pairCount], 1, 0, 0, 0)
		}), ErrMalformed, "text", key1},
		{"key with =", encoded(t, set(key1+1, '=')), ErrMalformed, "text", key1},
		{"keys unsorted", encoded(t, set(key1+1, 'z')), ErrMalformed, "text", -1},
		{"value past end", encoded(t, func(b []byte) []byte { return b[:len(b)-1] }), ErrMalformed, "text", -1},
		{"value length cut", encoded(t, func(b []byte) []byte { return b[:key1+1+5+1] }), ErrMalformed, "text", key1 + 6},
		{"trailing byte", encoded(t, func(b []byte) []byte { return append(b, 0) }), ErrMalformed, "", -1},
		{"query with port", []byte{'b', 'c', 1, 2, 0, 0, 0, 1, 0, 0, 0, 0}, ErrMalformed, "port", 6},
		{"query with addr", []byte{'b', 'c', 1, 2, 0, 0, 0, 0, 0, 0, 1, 4, 10, 0, 0, 1, 0}, ErrMalformed, "addrs", 10},
		{"query with pair", []byte{'b', 'c', 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'a', 0, 0}, ErrMalformed, "text", 11},
		{"goodbye with ttl", []byte{'b', 'c', 1, 4, 0, 1, 0, 0, 1, 's', 1, 'i', 0, 0}, ErrMalformed, "ttl", 4},
		{"goodbye without instance", []byte{'b', 'c', 1, 4, 0, 0, 0, 0, 1, 's', 0, 0, 0}, ErrMalformed, "instance", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.b)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Decode(% x) = %+v, %v; want %v", tt.b, m, err, tt.err)
			}
			var me *MessageError
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not a *MessageError", err)
			}
			if tt.field != "" && me.Field != tt.field {
				t.Errorf("field %q; want %q (%v)", me.Field, tt.field, err)
			}
			if tt.offset >= 0 && me.Offset != tt.offset {
				t.Errorf("offset %d; want %d (%v)", me.Offset, tt.offset, err)
			}
			if me.Reason == "" || !strings.HasPrefix(err.Error(), "discovery: ") {
				t.Errorf("unhelpful message %q", err)
			}
			keep := Message{Service: "unchanged"}
			if keep.UnmarshalBinary(tt.b) == nil || keep.Service != "unchanged" {
				t.Errorf("UnmarshalBinary accepted or changed the message: %+v", keep)
			}
		})
	}
}

func TestMessageErrorText(t *testing.T) {
	_, err := Decode(encoded(t, func(b []byte) []byte { b[16] = 200; return b }))
	want := "discovery: malformed message: instance at offset 16: length 200, only"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v; want it to start %q", err, want)
	}
	err = (&Message{Type: TypeAnnounce, TTL: 1, Service: "a b", Instance: "i"}).Validate()
	want = `discovery: invalid message: service: "a b": byte 0x20 at 1 is not a letter, digit, '.', '-' or '_'`
	if err == nil || err.Error() != want {
		t.Errorf("got %v; want %s", err, want)
	}
}

// FuzzDecode: any bytes either fail with one of the package's errors or
// are a canonical message, which encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, m := range []*Message{announce(), {Type: TypeQuery, Service: "printer"}, {Type: TypeGoodbye, Service: "s", Instance: "i"}} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var me *MessageError
			if !errors.As(err, &me) || !(errors.Is(err, ErrMagic) || errors.Is(err, ErrVersion) ||
				errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed)) {
				t.Fatalf("Decode error %#v is not a *MessageError of a decode class", err)
			}
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded\n% x\nfrom\n% x", out, b)
		}
		again, err := Decode(out)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("second decode %+v, %v; want %+v", again, err, m)
		}
	})
}

// FuzzEncode builds messages field by field: every message that
// validates decodes back to itself, and every one that does not is refused
// with ErrInvalid or ErrTooLarge.
func FuzzEncode(f *testing.F) {
	f.Add(uint8(1), uint16(15), "printer", "office-1", uint16(631), []byte{192, 0, 2, 7}, "model=LX-9\ncolor=yes")
	f.Add(uint8(2), uint16(0), "", "", uint16(0), []byte{}, "")
	f.Add(uint8(4), uint16(0), "s", "i", uint16(0), []byte{}, "")
	f.Add(uint8(3), uint16(1), "s", "i", uint16(1), []byte{0xfe, 0x80, 15: 1, 16: 10, 0, 0, 1}, "a=\nb=c=d")
	f.Fuzz(func(t *testing.T, typ uint8, ttl uint16, service, instance string, port uint16, addrs []byte, text string) {
		m := &Message{Type: Type(typ), TTL: ttl, Service: service, Instance: instance, Port: port}
		// Addresses: the bytes cut into 4-byte IPv4 addresses, or 16-byte
		// IPv6 when the first byte is 0xfe or 0x20.
		for len(addrs) >= 4 {
			n := 4
			if (addrs[0] == 0xfe || addrs[0] == 0x20) && len(addrs) >= 16 {
				n = 16
			}
			a, _ := netip.AddrFromSlice(addrs[:n])
			m.Addrs = append(m.Addrs, a)
			addrs = addrs[n:]
		}
		if text != "" {
			m.Text = map[string]string{}
			for line := range strings.SplitSeq(text, "\n") {
				k, v, _ := strings.Cut(line, "=")
				m.Text[k] = v
			}
		}
		b, err := m.MarshalBinary()
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("encode error %v is neither ErrInvalid nor ErrTooLarge", err)
			}
			return
		}
		if len(b) > MaxMessageSize || len(b) != m.Size() {
			t.Fatalf("encoded %d bytes, Size %d", len(b), m.Size())
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode of %+v: %v", m, err)
		}
		if len(m.Text) == 0 {
			m.Text = nil
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("got %+v; want %+v", got, m)
		}
		if binary.BigEndian.Uint16(b[4:]) != ttl {
			t.Fatalf("TTL bytes % x; want %d", b[4:6], ttl)
		}
	})
}
