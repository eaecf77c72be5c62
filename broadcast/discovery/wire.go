package discovery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Limits of wire version 1. They keep every message inside MaxMessageSize
// and every table built from messages small.
const (
	// Version is the wire version this package writes and the only one it
	// reads.
	Version = 1

	// MaxMessageSize is the largest message, in bytes. 1200 fits the IPv6
	// minimum MTU (1280) less the IPv6 and UDP headers (48) with room to
	// spare, so a message is never fragmented on any link.
	MaxMessageSize = 1200

	// MaxNameLen is the longest service name or instance id, in bytes.
	MaxNameLen = 63

	// MaxAddrs is the most addresses one message carries.
	MaxAddrs = 16

	// MaxPairs is the most key/value pairs one message carries.
	MaxPairs = 32

	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = 63

	headerLen = 8 // magic, version, type, TTL, port
	minLen    = headerLen + 4
)

// The two magic bytes every message starts with: "bc".
const (
	magic0 = 'b'
	magic1 = 'c'
)

// Type is the kind of a message.
type Type uint8

const (
	// TypeAnnounce is sent unsolicited, periodically, out of every
	// interface: "this instance exists, with these addresses, for TTL".
	TypeAnnounce Type = 1
	// TypeQuery asks every instance of a service (or of every service, when
	// Service is empty; or one instance, when Instance is set) to answer.
	TypeQuery Type = 2
	// TypeAnswer is an Announce sent in reply to a Query, to the querier
	// alone.
	TypeAnswer Type = 3
	// TypeGoodbye says that an instance is going away now.
	TypeGoodbye Type = 4
)

func (t Type) String() string {
	switch t {
	case TypeAnnounce:
		return "announce"
	case TypeQuery:
		return "query"
	case TypeAnswer:
		return "answer"
	case TypeGoodbye:
		return "goodbye"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Errors that MessageError wraps, for errors.Is.
var (
	// ErrMagic: the datagram does not start with the discovery magic; it is
	// someone else's traffic on the port.
	ErrMagic = errors.New("discovery: not a discovery message")
	// ErrVersion: a discovery message of a wire version this package does
	// not read.
	ErrVersion = errors.New("discovery: unsupported wire version")
	// ErrTooLarge: longer than MaxMessageSize (or truncated on receive
	// because it was).
	ErrTooLarge = errors.New("discovery: message too large")
	// ErrMalformed: a received message breaks the format (a length that runs
	// past the end, a bad field value, bytes left over).
	ErrMalformed = errors.New("discovery: malformed message")
	// ErrInvalid: a Message that cannot be encoded.
	ErrInvalid = errors.New("discovery: invalid message")
)

// MessageError says what is wrong with a message being decoded or encoded,
// and where. It unwraps to ErrMagic, ErrVersion, ErrTooLarge, ErrMalformed
// or ErrInvalid.
type MessageError struct {
	Err    error  // the class of problem, one of the Err variables
	Field  string // the field at fault: "magic", "version", "type", "ttl", "port", "service", "instance", "addrs", "text", or "" for the whole message
	Offset int    // byte offset of the field when decoding; -1 when encoding
	Reason string // what is wrong, for people
}

func (e *MessageError) Error() string {
	s := e.Err.Error()
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Offset >= 0 {
		s += " at offset " + strconv.Itoa(e.Offset)
	}
	return s + ": " + e.Reason
}

func (e *MessageError) Unwrap() error { return e.Err }

// Message is one discovery message. The zero Text and Addrs are empty.
//
// A Message is canonical: Decode accepts exactly the bytes AppendBinary
// writes, so decoding and re-encoding gives the same bytes.
type Message struct {
	Type Type

	// TTL is how long, in seconds, a receiver may keep the record without
	// hearing from the instance again. At least 1 for Announce and Answer;
	// 0 for Query and Goodbye.
	TTL uint16

	// Service is the service name: 1 to MaxNameLen bytes of ASCII letters,
	// digits, '.', '-' and '_'. A Query may leave it empty to ask for every
	// service.
	Service string

	// Instance identifies one announcer of the service, stable across its
	// restarts and unique among the instances of the service: 1 to
	// MaxNameLen bytes of UTF-8 without control characters. A Query may set
	// it to ask a single instance.
	Instance string

	// Port is the port the service listens on (0 if it has none). 0 for
	// Query and Goodbye.
	Port uint16

	// Addrs are the addresses of the instance valid on the link the message
	// was sent on: at most MaxAddrs distinct unicast addresses, without zones
	// and without IPv4-mapped IPv6 forms. Empty for Query and Goodbye.
	Addrs []netip.Addr

	// Text holds key/value pairs, as a DNS-SD TXT record does: at most
	// MaxPairs keys of 1 to MaxKeyLen printable ASCII bytes other than '=',
	// and values of any bytes. They travel sorted by key. Empty for Query
	// and Goodbye.
	Text map[string]string
}

// Decode parses one datagram. It rejects anything that is not exactly a
// canonical version-1 message with a *MessageError.
func Decode(b []byte) (*Message, error) {
	var v view
	if err := v.parse(b); err != nil {
		return nil, err
	}
	m := new(Message)
	v.message(m)
	return m, nil
}

// UnmarshalBinary is Decode into m, for encoding.BinaryUnmarshaler.
// On error m is unchanged.
func (m *Message) UnmarshalBinary(b []byte) error {
	var v view
	if err := v.parse(b); err != nil {
		return err
	}
	v.message(m)
	return nil
}

// MarshalBinary returns the encoding of m.
func (m *Message) MarshalBinary() ([]byte, error) {
	n, err := m.check()
	if err != nil {
		return nil, err
	}
	return m.append(make([]byte, 0, n)), nil
}

// AppendBinary appends the encoding of m to b (encoding.BinaryAppender).
// It allocates nothing when b has room for the message. On error b is
// returned unchanged.
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	if _, err := m.check(); err != nil {
		return b, err
	}
	return m.append(b), nil
}

// Validate reports whether m can be encoded, and why not.
func (m *Message) Validate() error {
	_, err := m.check()
	return err
}

// Size is the encoded length of m, valid or not.
func (m *Message) Size() int {
	n := minLen + len(m.Service) + len(m.Instance)
	for _, a := range m.Addrs {
		n += 1 + a.BitLen()/8
	}
	for k, v := range m.Text {
		n += 1 + len(k) + 2 + len(v)
	}
	return n
}

func invalid(field, format string, args ...any) error {
	return &MessageError{Err: ErrInvalid, Field: field, Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

// check validates m and returns its encoded size.
func (m *Message) check() (int, error) {
	if m.Type < TypeAnnounce || m.Type > TypeGoodbye {
		return 0, invalid("type", "unknown type %d", m.Type)
	}
	if r := checkTTL(m.Type, m.TTL); r != "" {
		return 0, invalid("ttl", "%s", r)
	}
	if m.Port != 0 && !carriesRecord(m.Type) {
		return 0, invalid("port", "a %v carries no port (got %d)", m.Type, m.Port)
	}
	if r := checkService(m.Service, m.Type != TypeQuery); r != "" {
		return 0, invalid("service", "%q: %s", m.Service, r)
	}
	if r := checkInstance(m.Instance, m.Type != TypeQuery); r != "" {
		return 0, invalid("instance", "%q: %s", m.Instance, r)
	}
	if len(m.Addrs) > 0 && !carriesRecord(m.Type) {
		return 0, invalid("addrs", "a %v carries no addresses (got %d)", m.Type, len(m.Addrs))
	}
	if len(m.Addrs) > MaxAddrs {
		return 0, invalid("addrs", "%d addresses, more than %d", len(m.Addrs), MaxAddrs)
	}
	for i, a := range m.Addrs {
		if a.Zone() != "" {
			return 0, invalid("addrs", "%v has a zone, which means nothing to the receiver", a)
		}
		if r := checkAddr(a); r != "" {
			return 0, invalid("addrs", "%v: %s", a, r)
		}
		for _, p := range m.Addrs[:i] {
			if p == a {
				return 0, invalid("addrs", "%v twice", a)
			}
		}
	}
	if len(m.Text) > 0 && !carriesRecord(m.Type) {
		return 0, invalid("text", "a %v carries no key/value pairs (got %d)", m.Type, len(m.Text))
	}
	if len(m.Text) > MaxPairs {
		return 0, invalid("text", "%d pairs, more than %d", len(m.Text), MaxPairs)
	}
	for k, v := range m.Text {
		if r := checkKey(k); r != "" {
			return 0, invalid("text", "key %q: %s", k, r)
		}
		if len(v) > 0xffff {
			return 0, invalid("text", "value of %q is %d bytes", k, len(v))
		}
	}
	n := m.Size()
	if n > MaxMessageSize {
		return 0, &MessageError{Err: ErrTooLarge, Offset: -1,
			Reason: fmt.Sprintf("%d bytes encoded, more than %d", n, MaxMessageSize)}
	}
	return n, nil
}

// append writes m, which check has accepted, after b. The keys go out
// sorted without sorting a copy: each round picks the smallest key above
// the last one written. That is quadratic in the number of keys, which is
// at most MaxPairs, and allocates nothing.
func (m *Message) append(b []byte) []byte {
	b = append(b, magic0, magic1, Version, byte(m.Type))
	b = binary.BigEndian.AppendUint16(b, m.TTL)
	b = binary.BigEndian.AppendUint16(b, m.Port)
	b = append(b, byte(len(m.Service)))
	b = append(b, m.Service...)
	b = append(b, byte(len(m.Instance)))
	b = append(b, m.Instance...)
	b = append(b, byte(len(m.Addrs)))
	for _, a := range m.Addrs {
		if a.Is4() {
			b = append(b, 4)
			a4 := a.As4()
			b = append(b, a4[:]...)
		} else {
			b = append(b, 6)
			a16 := a.As16()
			b = append(b, a16[:]...)
		}
	}
	b = append(b, byte(len(m.Text)))
	last, first := "", true
	for range len(m.Text) {
		next, found := "", false
		for k := range m.Text {
			if (first || k > last) && (!found || k < next) {
				next, found = k, true
			}
		}
		v := m.Text[next]
		b = append(b, byte(len(next)))
		b = append(b, next...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
		last, first = next, false
	}
	return b
}

// view is a parsed message whose fields still point into the datagram:
// parse validates everything without allocating, so the receive path can
// look a record up, and compare it with what it knows, before paying for a
// Message.
type view struct {
	typ       Type
	ttl, port uint16
	service   []byte
	instance  []byte
	naddr     int
	addrs     []byte // naddr entries of family byte and address
	npair     int
	text      []byte // npair entries of key length, key, value length, value
	record    []byte // port through the end: what an Update compares
}

func malformed(field string, off int, format string, args ...any) error {
	return &MessageError{Err: ErrMalformed, Field: field, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

func (v *view) parse(b []byte) error {
	if len(b) > MaxMessageSize {
		return &MessageError{Err: ErrTooLarge, Offset: MaxMessageSize,
			Reason: fmt.Sprintf("%d bytes, more than %d", len(b), MaxMessageSize)}
	}
	if len(b) < 2 || b[0] != magic0 || b[1] != magic1 {
		return &MessageError{Err: ErrMagic, Field: "magic", Offset: 0, Reason: fmt.Sprintf("starts % x", b[:min(len(b), 2)])}
	}
	if len(b) < 3 {
		return malformed("version", 2, "message ends after the magic")
	}
	if b[2] != Version {
		return &MessageError{Err: ErrVersion, Field: "version", Offset: 2, Reason: fmt.Sprintf("version %d, this package reads %d", b[2], Version)}
	}
	if len(b) < minLen {
		return malformed("", len(b), "%d bytes, shorter than the %d of the smallest message", len(b), minLen)
	}
	v.typ = Type(b[3])
	if v.typ < TypeAnnounce || v.typ > TypeGoodbye {
		return malformed("type", 3, "unknown type %d", b[3])
	}
	v.ttl = binary.BigEndian.Uint16(b[4:])
	if r := checkTTL(v.typ, v.ttl); r != "" {
		return malformed("ttl", 4, "%s", r)
	}
	v.port = binary.BigEndian.Uint16(b[6:])
	if v.port != 0 && !carriesRecord(v.typ) {
		return malformed("port", 6, "a %v carries no port (got %d)", v.typ, v.port)
	}
	v.record = b[6:]

	off := headerLen
	var err error
	if v.service, off, err = field8(b, off, "service"); err != nil {
		return err
	}
	if r := checkService(v.service, v.typ != TypeQuery); r != "" {
		return malformed("service", off-len(v.service)-1, "%q: %s", v.service, r)
	}
	if v.instance, off, err = field8(b, off, "instance"); err != nil {
		return err
	}
	if r := checkInstance(v.instance, v.typ != TypeQuery); r != "" {
		return malformed("instance", off-len(v.instance)-1, "%q: %s", v.instance, r)
	}

	if off >= len(b) {
		return malformed("addrs", off, "message ends before the address count")
	}
	v.naddr = int(b[off])
	if v.naddr > 0 && !carriesRecord(v.typ) {
		return malformed("addrs", off, "a %v carries no addresses (got %d)", v.typ, v.naddr)
	}
	if v.naddr > MaxAddrs {
		return malformed("addrs", off, "%d addresses, more than %d", v.naddr, MaxAddrs)
	}
	off++
	start := off
	for i := range v.naddr {
		if off >= len(b) {
			return malformed("addrs", off, "message ends in address %d of %d", i+1, v.naddr)
		}
		var a netip.Addr
		switch b[off] {
		case 4:
			if len(b)-off-1 < 4 {
				return malformed("addrs", off, "IPv4 address %d runs past the end", i+1)
			}
			a = netip.AddrFrom4([4]byte(b[off+1 : off+5]))
		case 6:
			if len(b)-off-1 < 16 {
				return malformed("addrs", off, "IPv6 address %d runs past the end", i+1)
			}
			a = netip.AddrFrom16([16]byte(b[off+1 : off+17]))
			if a.Is4In6() {
				return malformed("addrs", off, "%v is IPv4-mapped; IPv4 travels as family 4", a)
			}
		default:
			return malformed("addrs", off, "address %d has family %d, not 4 or 6", i+1, b[off])
		}
		if r := checkAddr(a); r != "" {
			return malformed("addrs", off, "%v: %s", a, r)
		}
		if dup := findAddr(b[start:off], a); dup {
			return malformed("addrs", off, "%v twice", a)
		}
		off += 1 + a.BitLen()/8
	}
	v.addrs = b[start:off]

	if off >= len(b) {
		return malformed("text", off, "message ends before the pair count")
	}
	v.npair = int(b[off])
	if v.npair > 0 && !carriesRecord(v.typ) {
		return malformed("text", off, "a %v carries no key/value pairs (got %d)", v.typ, v.npair)
	}
	if v.npair > MaxPairs {
		return malformed("text", off, "%d pairs, more than %d", v.npair, MaxPairs)
	}
	off++
	start = off
	var prev []byte
	for i := range v.npair {
		var key []byte
		if key, off, err = field8(b, off, "text"); err != nil {
			return err
		}
		if r := checkKey(key); r != "" {
			return malformed("text", off-len(key)-1, "key %q: %s", key, r)
		}
		if i > 0 && string(key) <= string(prev) {
			return malformed("text", off-len(key)-1, "key %q after %q: keys must be distinct and sorted", key, prev)
		}
		prev = key
		if len(b)-off < 2 {
			return malformed("text", off, "message ends in the length of the value of %q", key)
		}
		n := int(binary.BigEndian.Uint16(b[off:]))
		if len(b)-off-2 < n {
			return malformed("text", off, "value of %q is %d bytes, only %d left", key, n, len(b)-off-2)
		}
		off += 2 + n
	}
	v.text = b[start:off]
	if off != len(b) {
		return malformed("", off, "%d bytes after the last field", len(b)-off)
	}
	return nil
}

// field8 reads a field of one length byte and that many bytes.
func field8(b []byte, off int, name string) ([]byte, int, error) {
	if off >= len(b) {
		return nil, off, malformed(name, off, "message ends before the length")
	}
	n := int(b[off])
	if len(b)-off-1 < n {
		return nil, off, malformed(name, off, "length %d, only %d bytes left", n, len(b)-off-1)
	}
	return b[off+1 : off+1+n], off + 1 + n, nil
}

// findAddr reports whether a is among the encoded addresses in b.
func findAddr(b []byte, a netip.Addr) bool {
	for len(b) > 0 {
		n := 5
		if b[0] == 6 {
			n = 17
		}
		if a.Is4() {
			if a4 := a.As4(); b[0] == 4 && string(b[1:n]) == string(a4[:]) {
				return true
			}
		} else if a16 := a.As16(); b[0] == 6 && string(b[1:n]) == string(a16[:]) {
			return true
		}
		b = b[n:]
	}
	return false
}

// message fills m from a parsed view; it allocates the strings, the
// address slice and the map.
func (v *view) message(m *Message) {
	*m = Message{
		Type:     v.typ,
		TTL:      v.ttl,
		Port:     v.port,
		Service:  string(v.service),
		Instance: string(v.instance),
		Addrs:    v.appendAddrs(nil),
	}
	if v.npair > 0 {
		m.Text = make(map[string]string, v.npair)
		v.eachPair(func(k, val []byte) { m.Text[string(k)] = string(val) })
	}
}

func (v *view) appendAddrs(dst []netip.Addr) []netip.Addr {
	for b := v.addrs; len(b) > 0; {
		if b[0] == 4 {
			dst = append(dst, netip.AddrFrom4([4]byte(b[1:5])))
			b = b[5:]
		} else {
			dst = append(dst, netip.AddrFrom16([16]byte(b[1:17])))
			b = b[17:]
		}
	}
	return dst
}

func (v *view) eachPair(fn func(k, val []byte)) {
	for b := v.text; len(b) > 0; {
		k := b[1 : 1+b[0]]
		b = b[1+len(k):]
		n := int(binary.BigEndian.Uint16(b))
		fn(k, b[2:2+n])
		b = b[2+n:]
	}
}

// carriesRecord reports whether messages of type t carry a port, addresses
// and pairs.
func carriesRecord(t Type) bool { return t == TypeAnnounce || t == TypeAnswer }

func checkTTL(t Type, ttl uint16) string {
	if carriesRecord(t) && ttl == 0 {
		return "an " + t.String() + " needs a TTL of at least 1 second"
	}
	if !carriesRecord(t) && ttl != 0 {
		return "a " + t.String() + " has TTL 0, not " + strconv.Itoa(int(ttl))
	}
	return ""
}

func checkService[S ~string | ~[]byte](s S, required bool) string {
	if len(s) == 0 {
		if required {
			return "empty"
		}
		return ""
	}
	if len(s) > MaxNameLen {
		return "longer than " + strconv.Itoa(MaxNameLen) + " bytes"
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Sprintf("byte %#02x at %d is not a letter, digit, '.', '-' or '_'", c, i)
		}
	}
	return ""
}

func checkInstance[S ~string | ~[]byte](s S, required bool) string {
	if len(s) == 0 {
		if required {
			return "empty"
		}
		return ""
	}
	if len(s) > MaxNameLen {
		return "longer than " + strconv.Itoa(MaxNameLen) + " bytes"
	}
	// Each rune is decoded from a copy of at most 4 bytes: converting s
	// to a string in this generic function allocates past 32 bytes.
	for i := 0; i < len(s); {
		var buf [utf8.UTFMax]byte
		r, n := utf8.DecodeRune(buf[:copy(buf[:], s[i:])])
		if r == utf8.RuneError && n <= 1 {
			return "not valid UTF-8 at byte " + strconv.Itoa(i)
		}
		if unicode.IsControl(r) {
			return fmt.Sprintf("control character %U at byte %d", r, i)
		}
		i += n
	}
	return ""
}

func checkKey[S ~string | ~[]byte](k S) string {
	if len(k) == 0 {
		return "empty"
	}
	if len(k) > MaxKeyLen {
		return "longer than " + strconv.Itoa(MaxKeyLen) + " bytes"
	}
	for i := range len(k) {
		if c := k[i]; c <= ' ' || c > '~' || c == '=' {
			return fmt.Sprintf("byte %#02x at %d is not printable ASCII other than '='", c, i)
		}
	}
	return ""
}

func checkAddr(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "not an address"
	case a.Is4In6():
		return "IPv4-mapped; give the IPv4 address"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the limited broadcast address"
	}
	return ""
}
