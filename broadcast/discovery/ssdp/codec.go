package ssdp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Port is SSDP's UDP port.
const Port = 1900

// The SSDP groups: IPv4 239.255.255.250 and IPv6 link-local ff02::c, both
// on port 1900 (UDA 1.1 §1.1.2).
var (
	IPv4Group = netip.AddrPortFrom(netip.AddrFrom4([4]byte{239, 255, 255, 250}), Port)
	IPv6Group = netip.AddrPortFrom(netip.MustParseAddr("ff02::c"), Port)
)

// The notification subtypes of NOTIFY's NTS header.
const (
	Alive  = "ssdp:alive"
	ByeBye = "ssdp:byebye"
	Update = "ssdp:update"
)

// The search targets that are not a UUID or a URN.
const (
	All        = "ssdp:all"
	RootDevice = "upnp:rootdevice"
)

// MaxMessageSize is the largest datagram the engines parse. UDA 1.1 asks
// for messages that fit one unfragmented datagram; real ones are a few
// hundred bytes.
const MaxMessageSize = 8192

// Kind says which of the three SSDP messages a Message is.
type Kind int

const (
	// Search is an M-SEARCH request: a control point asks who is there.
	Search Kind = iota + 1
	// Notify is a NOTIFY request: a device says it is alive, is
	// leaving (byebye) or is about to reboot (update).
	Notify
	// Response is the HTTP/1.1 200 OK a device sends to a searcher.
	Response
)

func (k Kind) String() string {
	switch k {
	case Search:
		return "M-SEARCH"
	case Notify:
		return "NOTIFY"
	case Response:
		return "response"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// A Message is one SSDP datagram: an M-SEARCH, a NOTIFY or a 200 OK
// response. Parse fills it from a datagram; Append writes it, with the
// header lines each kind carries in UDA 1.1 (§1.2, §1.3), in upper case as
// the UDA writes them, each ended by CRLF.
//
// A numeric field that is absent (or, after Parse, not a valid number) is
// -1; a string field that is absent is empty.
type Message struct {
	Kind Kind

	// Host is the HOST header: "239.255.255.250:1900", "[FF02::C]:1900",
	// or the unicast host:port an M-SEARCH was sent to.
	Host string
	// Man is the MAN header of an M-SEARCH without its quotes:
	// "ssdp:discover". Append writes it for every M-SEARCH.
	Man string
	// MX is an M-SEARCH's MX: the most seconds a device may wait before
	// it answers. A unicast M-SEARCH has none.
	MX int
	// ST is the search target of an M-SEARCH and of a response.
	ST string
	// NT and NTS are a NOTIFY's notification type (the target it
	// advertises) and subtype (Alive, ByeBye, Update).
	NT, NTS string
	// USN is the unique service name: "uuid:UUID::TARGET", or
	// "uuid:UUID" for the uuid target.
	USN string
	// Location is the URL of the device's description (alive, update,
	// response).
	Location string
	// Server (NOTIFY, response) and UserAgent (M-SEARCH) name the
	// software: "OS/version UPnP/1.1 product/version".
	Server, UserAgent string
	// MaxAge is the max-age directive of CACHE-CONTROL, in seconds: how
	// long the advertisement is valid (alive, response).
	MaxAge int
	// BootID, ConfigID, NextBootID and SearchPort are the UDA 1.1
	// headers BOOTID.UPNP.ORG, CONFIGID.UPNP.ORG, NEXTBOOTID.UPNP.ORG
	// and SEARCHPORT.UPNP.ORG.
	BootID, ConfigID, NextBootID int64
	SearchPort                   int
	// Ext marks a response's EXT header (empty, required by UDA 1.1).
	Ext bool
	// StatusCode is a response's HTTP status (200 for an answer).
	StatusCode int
	// Header holds every header of a parsed message, as net/http read
	// them (canonical keys: "Cache-Control", "Bootid.upnp.org"). Append
	// ignores it.
	Header http.Header
}

// Errors Parse wraps.
var (
	ErrTooLarge  = errors.New("ssdp: datagram too large")
	ErrMalformed = errors.New("ssdp: malformed message")
	ErrNotSSDP   = errors.New("ssdp: not an SSDP message")
)

// Parse reads one SSDP message from a datagram with net/http's
// ReadRequest or ReadResponse. It accepts M-SEARCH and NOTIFY requests
// for "*" and HTTP responses; a body, if any, is ignored. Header values are
// trimmed; unknown headers are kept in Header.
func Parse(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrTooLarge, len(b), MaxMessageSize)
	}
	br := bufio.NewReaderSize(bytes.NewReader(b), 512)
	m := &Message{MX: -1, MaxAge: -1, BootID: -1, ConfigID: -1, NextBootID: -1, SearchPort: -1}
	if bytes.HasPrefix(b, []byte("HTTP/")) {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 1 {
			return nil, fmt.Errorf("%w: %s", ErrNotSSDP, resp.Proto)
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 {
			return nil, fmt.Errorf("%w: status %d", ErrMalformed, resp.StatusCode)
		}
		m.Kind, m.StatusCode, m.Header = Response, resp.StatusCode, resp.Header
	} else {
		req, err := http.ReadRequest(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		req.Body.Close()
		switch {
		case req.Method == "M-SEARCH":
			m.Kind = Search
		case req.Method == "NOTIFY":
			m.Kind = Notify
		default:
			return nil, fmt.Errorf("%w: method %q", ErrNotSSDP, req.Method)
		}
		if req.RequestURI != "*" || req.ProtoMajor != 1 {
			return nil, fmt.Errorf("%w: %s %s %s", ErrNotSSDP, req.Method, req.RequestURI, req.Proto)
		}
		m.Header = req.Header
		// net/http moves HOST out of the header map.
		m.Host = req.Host
	}
	h := m.Header
	get := func(key string) string { return strings.TrimSpace(h.Get(key)) }
	if m.Kind == Response {
		m.Host = get("Host")
	}
	m.Man = strings.Trim(get("Man"), `"`)
	m.MX = number(get("Mx"), 1<<31-1)
	m.ST, m.NT, m.NTS, m.USN = get("St"), get("Nt"), get("Nts"), get("Usn")
	m.Location, m.Server, m.UserAgent = get("Location"), get("Server"), get("User-Agent")
	m.MaxAge = maxAge(h.Values("Cache-Control"))
	m.BootID = int64(number(get("Bootid.upnp.org"), 1<<31-1))
	m.ConfigID = int64(number(get("Configid.upnp.org"), 1<<31-1))
	m.NextBootID = int64(number(get("Nextbootid.upnp.org"), 1<<31-1))
	m.SearchPort = number(get("Searchport.upnp.org"), 65535)
	_, m.Ext = h["Ext"]
	return m, nil
}

// number parses a decimal in [0, limit]; anything else is -1.
func number(s string, limit int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > limit {
		return -1
	}
	return n
}

// maxAge finds the max-age directive among CACHE-CONTROL values
// ("max-age=1800", "no-cache, max-age = 1800"); -1 if there is none.
func maxAge(values []string) int {
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			k, val, ok := strings.Cut(d, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "max-age") {
				return number(strings.Trim(strings.TrimSpace(val), `"`), 1<<31-1)
			}
		}
	}
	return -1
}

// Append appends the message in wire form to b. Only the fields that
// belong to the Kind (and, for a NOTIFY, to its NTS) are written; an empty
// string or a negative number leaves its header out. A field holding a
// control character (CR, LF: a header injection) is an error.
func (m *Message) Append(b []byte) ([]byte, error) {
	for _, f := range []struct{ name, v string }{
		{"HOST", m.Host}, {"MAN", m.Man}, {"ST", m.ST}, {"NT", m.NT}, {"NTS", m.NTS},
		{"USN", m.USN}, {"LOCATION", m.Location}, {"SERVER", m.Server}, {"USER-AGENT", m.UserAgent},
	} {
		if i := strings.IndexFunc(f.v, isCtl); i >= 0 {
			return b, fmt.Errorf("ssdp: %s %q has a control character at %d", f.name, f.v, i)
		}
	}
	line := func(name, v string) {
		if v != "" {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	num := func(name string, n int64) {
		if n >= 0 {
			line(name, strconv.FormatInt(n, 10))
		}
	}
	cache := func() {
		if m.MaxAge >= 0 {
			line("CACHE-CONTROL", "max-age="+strconv.Itoa(m.MaxAge))
		}
	}
	switch m.Kind {
	case Search:
		b = append(b, "M-SEARCH * HTTP/1.1\r\n"...)
		line("HOST", m.Host)
		line("MAN", `"ssdp:discover"`)
		num("MX", int64(m.MX))
		line("ST", m.ST)
		line("USER-AGENT", m.UserAgent)
	case Notify:
		b = append(b, "NOTIFY * HTTP/1.1\r\n"...)
		line("HOST", m.Host)
		if m.NTS == Alive {
			cache()
		}
		if m.NTS != ByeBye {
			line("LOCATION", m.Location)
		}
		line("NT", m.NT)
		line("NTS", m.NTS)
		if m.NTS == Alive {
			line("SERVER", m.Server)
		}
		line("USN", m.USN)
		num("BOOTID.UPNP.ORG", m.BootID)
		num("CONFIGID.UPNP.ORG", m.ConfigID)
		if m.NTS == Update {
			num("NEXTBOOTID.UPNP.ORG", m.NextBootID)
		}
		num("SEARCHPORT.UPNP.ORG", int64(m.SearchPort))
	case Response:
		code := m.StatusCode
		if code == 0 {
			code = 200
		}
		b = fmt.Appendf(b, "HTTP/1.1 %d %s\r\n", code, http.StatusText(code))
		cache()
		b = append(b, "EXT:\r\n"...)
		line("LOCATION", m.Location)
		line("SERVER", m.Server)
		line("ST", m.ST)
		line("USN", m.USN)
		num("BOOTID.UPNP.ORG", m.BootID)
		num("CONFIGID.UPNP.ORG", m.ConfigID)
		num("SEARCHPORT.UPNP.ORG", int64(m.SearchPort))
	default:
		return b, fmt.Errorf("ssdp: cannot write a message of kind %v", m.Kind)
	}
	return append(b, "\r\n"...), nil
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }

// HostHeader is the HOST header of a message sent to dst: the UDA writes
// the IPv6 groups in upper case ("[FF02::C]:1900").
func HostHeader(dst netip.AddrPort) string {
	a := dst.Addr().WithZone("")
	if a.Is6() && !a.Is4In6() {
		return "[" + strings.ToUpper(a.String()) + "]:" + strconv.Itoa(int(dst.Port()))
	}
	return netip.AddrPortFrom(a.Unmap(), dst.Port()).String()
}
