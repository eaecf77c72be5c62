package mdns

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// Port is the mDNS port (RFC 6762 §3).
const Port = 5353

// The mDNS groups (RFC 6762 §3). The IPv6 one has link-local scope: a link
// layer sends to it out of one interface, named by index.
var (
	IPv4Group = netip.AddrPortFrom(netip.AddrFrom4([4]byte{224, 0, 0, 251}), Port)
	IPv6Group = netip.AddrPortFrom(netip.MustParseAddr("ff02::fb"), Port)
)

// TypeNSEC is the NSEC record type (RFC 4034), which dnsmessage does not
// name; mDNS uses it for negative answers (RFC 6762 §6.1).
const TypeNSEC dnsmessage.Type = 47

// topBit is the cache-flush bit of a record's class and the unicast-response
// (QU) bit of a question's class (RFC 6762 §10.2, §5.4, §18.12, §18.13).
const topBit = 1 << 15

// A Question is one entry of a message's question section.
type Question struct {
	// Name is the name in dnsmessage's text form: labels joined by dots,
	// ending with a dot. A label never contains a dot (see ErrDotInLabel).
	Name  string
	Type  dnsmessage.Type
	Class dnsmessage.Class // without the QU bit
	// QU is the unicast-response bit (RFC 6762 §5.4).
	QU bool
}

// A Record is a resource record. Which data fields mean something depends
// on Type: Target for PTR; Priority, Weight, Port and Target for SRV; Text
// for TXT; Addr for A and AAAA; Types for an NSEC that this package
// builds (its next domain name is Name, RFC 6762 §6.1); Raw for every other
// type, and for NSEC as received (kept opaque: this package never needs to
// read one).
type Record struct {
	Name       string
	Type       dnsmessage.Type
	Class      dnsmessage.Class // without the cache-flush bit
	CacheFlush bool
	TTL        uint32

	Target   string
	Priority uint16
	Weight   uint16
	Port     uint16
	Text     []string
	Addr     netip.Addr
	Types    []dnsmessage.Type
	Raw      []byte
}

// A Message is a DNS message as mDNS uses it.
type Message struct {
	ID            uint16
	Response      bool
	Authoritative bool
	Truncated     bool
	OpCode        dnsmessage.OpCode
	RCode         dnsmessage.RCode

	Questions   []Question
	Answers     []Record
	Authorities []Record
	Additionals []Record

	// Skipped counts questions and records of a parsed message that
	// dnsmessage would not decode (a label with a dot in it, a malformed
	// body) and that were stepped over; the rest of the message is kept.
	Skipped int
}

// ErrDotInLabel is returned for a name whose label would contain a dot.
// RFC 6763 §4.3 allows dots in instance names, but dnsmessage (which
// builds and parses every message here) splits names at dots and refuses
// to decode a label that holds one, so such a name cannot be sent, and a
// received record with one is skipped (Message.Skipped).
var ErrDotInLabel = errors.New("mdns: a label contains a dot, which the DNS codec cannot carry")

// ParseMessage parses b with dnsmessage's Parser, section by section.
// Questions and records dnsmessage cannot decode are skipped and counted
// in Skipped when the parser can step over them; a message that is cut
// short or malformed beyond that is an error.
func ParseMessage(b []byte) (*Message, error) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		return nil, err
	}
	m := &Message{
		ID: h.ID, Response: h.Response, Authoritative: h.Authoritative,
		Truncated: h.Truncated, OpCode: h.OpCode, RCode: h.RCode,
	}
	for {
		q, err := p.Question()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			if p.SkipQuestion() != nil {
				return nil, err
			}
			m.Skipped++
			continue
		}
		m.Questions = append(m.Questions, Question{
			Name: q.Name.String(), Type: q.Type,
			Class: q.Class &^ topBit, QU: q.Class&topBit != 0,
		})
	}
	if m.Answers, err = parseSection(&p, m, p.AnswerHeader, p.SkipAnswer); err != nil {
		return nil, err
	}
	if m.Authorities, err = parseSection(&p, m, p.AuthorityHeader, p.SkipAuthority); err != nil {
		return nil, err
	}
	if m.Additionals, err = parseSection(&p, m, p.AdditionalHeader, p.SkipAdditional); err != nil {
		return nil, err
	}
	return m, nil
}

func parseSection(p *dnsmessage.Parser, m *Message, header func() (dnsmessage.ResourceHeader, error), skip func() error) ([]Record, error) {
	var out []Record
	for {
		h, err := header()
		if err == dnsmessage.ErrSectionDone {
			return out, nil
		}
		if err == nil {
			var r Record
			r, err = parseBody(p, h)
			if err == nil {
				out = append(out, r)
				continue
			}
		}
		// After a header that failed, skip starts at the same record;
		// after a body that failed, at its data (dnsmessage keeps the
		// header's length for it). Either way the parser moves on.
		if skip() != nil {
			return nil, err
		}
		m.Skipped++
	}
}

func parseBody(p *dnsmessage.Parser, h dnsmessage.ResourceHeader) (Record, error) {
	r := Record{
		Name: h.Name.String(), Type: h.Type,
		Class: h.Class &^ topBit, CacheFlush: h.Class&topBit != 0, TTL: h.TTL,
	}
	switch h.Type {
	case dnsmessage.TypePTR:
		b, err := p.PTRResource()
		if err != nil {
			return r, err
		}
		r.Target = b.PTR.String()
	case dnsmessage.TypeSRV:
		b, err := p.SRVResource()
		if err != nil {
			return r, err
		}
		r.Priority, r.Weight, r.Port, r.Target = b.Priority, b.Weight, b.Port, b.Target.String()
	case dnsmessage.TypeTXT:
		b, err := p.TXTResource()
		if err != nil {
			return r, err
		}
		r.Text = b.TXT
	case dnsmessage.TypeA:
		b, err := p.AResource()
		if err != nil {
			return r, err
		}
		r.Addr = netip.AddrFrom4(b.A)
	case dnsmessage.TypeAAAA:
		b, err := p.AAAAResource()
		if err != nil {
			return r, err
		}
		r.Addr = netip.AddrFrom16(b.AAAA)
	default:
		b, err := p.UnknownResource()
		if err != nil {
			return r, err
		}
		r.Raw = b.Data
	}
	return r, nil
}

// AppendPack appends m in wire form to buf, built with dnsmessage's
// Builder with name compression on.
func (m *Message) AppendPack(buf []byte) ([]byte, error) {
	b := dnsmessage.NewBuilder(buf, dnsmessage.Header{
		ID: m.ID, Response: m.Response, Authoritative: m.Authoritative,
		Truncated: m.Truncated, OpCode: m.OpCode, RCode: m.RCode,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	for _, q := range m.Questions {
		n, err := newName(q.Name)
		if err != nil {
			return nil, err
		}
		c := q.Class
		if q.QU {
			c |= topBit
		}
		if err := b.Question(dnsmessage.Question{Name: n, Type: q.Type, Class: c}); err != nil {
			return nil, fmt.Errorf("question %s: %w", q.Name, err)
		}
	}
	sections := []struct {
		start func() error
		recs  []Record
	}{{b.StartAnswers, m.Answers}, {b.StartAuthorities, m.Authorities}, {b.StartAdditionals, m.Additionals}}
	for _, s := range sections {
		if err := s.start(); err != nil {
			return nil, err
		}
		for i := range s.recs {
			if err := appendRecord(&b, &s.recs[i]); err != nil {
				return nil, fmt.Errorf("record %s %v: %w", s.recs[i].Name, s.recs[i].Type, err)
			}
		}
	}
	return b.Finish()
}

func newName(s string) (dnsmessage.Name, error) {
	if !strings.HasSuffix(s, ".") {
		return dnsmessage.Name{}, fmt.Errorf("mdns: name %q does not end with a dot", s)
	}
	return dnsmessage.NewName(s)
}

func appendRecord(b *dnsmessage.Builder, r *Record) error {
	n, err := newName(r.Name)
	if err != nil {
		return err
	}
	c := r.Class
	if r.CacheFlush {
		c |= topBit
	}
	h := dnsmessage.ResourceHeader{Name: n, Class: c, TTL: r.TTL}
	switch r.Type {
	case dnsmessage.TypePTR:
		t, err := newName(r.Target)
		if err != nil {
			return err
		}
		return b.PTRResource(h, dnsmessage.PTRResource{PTR: t})
	case dnsmessage.TypeSRV:
		t, err := newName(r.Target)
		if err != nil {
			return err
		}
		return b.SRVResource(h, dnsmessage.SRVResource{Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: t})
	case dnsmessage.TypeTXT:
		txt := r.Text
		if len(txt) == 0 {
			// A TXT record holds at least one string; an empty one is a
			// single zero byte (RFC 6763 §6.1).
			txt = []string{""}
		}
		return b.TXTResource(h, dnsmessage.TXTResource{TXT: txt})
	case dnsmessage.TypeA:
		if !r.Addr.Is4() {
			return fmt.Errorf("mdns: A record with address %v", r.Addr)
		}
		return b.AResource(h, dnsmessage.AResource{A: r.Addr.As4()})
	case dnsmessage.TypeAAAA:
		if !r.Addr.Is6() {
			return fmt.Errorf("mdns: AAAA record with address %v", r.Addr)
		}
		return b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: r.Addr.As16()})
	case TypeNSEC:
		data := r.Raw
		if r.Types != nil {
			data, err = nsecData(r.Name, r.Types)
			if err != nil {
				return err
			}
		}
		return b.UnknownResource(h, dnsmessage.UnknownResource{Type: TypeNSEC, Data: data})
	default:
		return b.UnknownResource(h, dnsmessage.UnknownResource{Type: r.Type, Data: r.Raw})
	}
}

// wireName returns name in uncompressed wire form, made by dnsmessage: a
// message with that one question, less the header and the type and class.
func wireName(name string) ([]byte, error) {
	n, err := newName(name)
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	msg, err := b.Finish()
	if err != nil {
		return nil, err
	}
	return msg[12 : len(msg)-4], nil
}

// nsecData is the rdata of the restricted NSEC of RFC 6762 §6.1: the
// record's own name as next domain name, then one bitmap block, window 0,
// for types below 256.
func nsecData(name string, types []dnsmessage.Type) ([]byte, error) {
	data, err := wireName(name)
	if err != nil {
		return nil, err
	}
	var bits [32]byte
	n := 0
	for _, t := range types {
		if t == 0 || t > 255 {
			return nil, fmt.Errorf("mdns: NSEC for type %v, outside window 0", t)
		}
		bits[t/8] |= 0x80 >> (t % 8)
		n = max(n, int(t/8)+1)
	}
	if n == 0 {
		return nil, errors.New("mdns: NSEC with no types")
	}
	data = append(data, 0, byte(n))
	return append(data, bits[:n]...), nil
}

// rdata returns r's data in canonical uncompressed wire form, as the
// simultaneous-probe tie-break compares it (RFC 6762 §8.2). It is cut out
// of a one-record message built without compression.
func (r *Record) rdata() ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{Response: true})
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rr := *r
	if rr.Type == TypeNSEC && rr.Types != nil {
		d, err := nsecData(r.Name, r.Types)
		if err != nil {
			return nil, err
		}
		rr.Raw, rr.Types = d, nil
	}
	rr.Name = "x."
	if err := appendRecord(&b, &rr); err != nil {
		return nil, err
	}
	msg, err := b.Finish()
	if err != nil {
		return nil, err
	}
	// header 12, name "x." 3, type, class, TTL, length 10
	return msg[12+3+10:], nil
}

// maxWireLen bounds the bytes r takes in a message: its size without
// compression, which can only shrink it.
func (r *Record) maxWireLen() int {
	n := len(r.Name) + 1 + 10
	switch r.Type {
	case dnsmessage.TypePTR:
		n += len(r.Target) + 1
	case dnsmessage.TypeSRV:
		n += 6 + len(r.Target) + 1
	case dnsmessage.TypeTXT:
		n++
		for _, s := range r.Text {
			n += 1 + len(s)
		}
	case dnsmessage.TypeA:
		n += 4
	case dnsmessage.TypeAAAA:
		n += 16
	case TypeNSEC:
		n += len(r.Name) + 1 + 2 + 32 + len(r.Raw)
	default:
		n += len(r.Raw)
	}
	return n
}

func (q *Question) maxWireLen() int { return len(q.Name) + 1 + 4 }

// sameRData reports whether a and b carry the same data; names in data
// compare without ASCII case, as DNS names do (RFC 6762 §16).
func sameRData(a, b *Record) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case dnsmessage.TypePTR:
		return equalFold(a.Target, b.Target)
	case dnsmessage.TypeSRV:
		return a.Priority == b.Priority && a.Weight == b.Weight && a.Port == b.Port && equalFold(a.Target, b.Target)
	case dnsmessage.TypeTXT:
		return slices.Equal(txtOrEmpty(a.Text), txtOrEmpty(b.Text))
	case dnsmessage.TypeA, dnsmessage.TypeAAAA:
		return a.Addr == b.Addr
	case TypeNSEC:
		if a.Types != nil || b.Types != nil {
			return slices.Equal(a.Types, b.Types)
		}
		return string(a.Raw) == string(b.Raw)
	default:
		return string(a.Raw) == string(b.Raw)
	}
}

func txtOrEmpty(t []string) []string {
	if len(t) == 0 {
		return []string{""}
	}
	return t
}

// rdataKey is a string that is equal for two records of one type exactly
// when sameRData says so, to key maps.
func (r *Record) rdataKey() string {
	switch r.Type {
	case dnsmessage.TypePTR:
		return lowerASCII(r.Target)
	case dnsmessage.TypeSRV:
		return fmt.Sprintf("%d %d %d %s", r.Priority, r.Weight, r.Port, lowerASCII(r.Target))
	case dnsmessage.TypeTXT:
		var sb strings.Builder
		for _, s := range txtOrEmpty(r.Text) {
			sb.WriteByte(byte(len(s)))
			sb.WriteString(s)
		}
		return sb.String()
	case dnsmessage.TypeA, dnsmessage.TypeAAAA:
		b, _ := r.Addr.MarshalBinary()
		return string(b)
	case TypeNSEC:
		if r.Types != nil {
			return fmt.Sprint(r.Types)
		}
		return string(r.Raw)
	default:
		return string(r.Raw)
	}
}

// key identifies a record by name, type, class and data, ignoring case in
// names, TTL and the cache-flush bit.
func (r *Record) key() string {
	return lowerASCII(r.Name) + "\x00" + fmt.Sprint(uint16(r.Type), " ", uint16(r.Class)) + "\x00" + r.rdataKey()
}
