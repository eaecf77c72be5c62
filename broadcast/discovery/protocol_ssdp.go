package discovery

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/ssdp"
)

// selfSSDP is the service under which SSDP Announcers of this process list
// their device's UUID for isSelf: a ':' is in no Own service name and no
// DNS-SD type, so it cannot collide with them.
const selfSSDP = "ssdp:"

// ssdpLink turns a Link into SSDP's: interfaces, family, and for a
// Browser one destination as a unicast search. SSDP has its own port and
// groups, so a Link that sets them is a mistake worth naming.
func (l Link) ssdpLink(browse bool) (lc ssdp.LinkConfig, network string, unicast netip.AddrPort, err error) {
	switch {
	case l.Transport != Auto:
		return lc, "", unicast, fmt.Errorf("discovery: Link.Transport %v does not apply to SSDP, which multicasts to 239.255.255.250 and ff02::c", l.Transport)
	case l.Port != 0 && l.Port != ssdp.Port:
		return lc, "", unicast, fmt.Errorf("discovery: Link.Port %d does not apply to SSDP, which uses port 1900", l.Port)
	case l.Group.IsValid():
		return lc, "", unicast, fmt.Errorf("discovery: Link.Group %v does not apply to SSDP, which uses 239.255.255.250 and ff02::c", l.Group)
	case !browse && len(l.Destinations) > 0:
		return lc, "", unicast, errors.New("discovery: Link.Destinations do not apply to an SSDP Announcer, which answers searches by unicast and advertises to the group")
	case len(l.Destinations) > 1:
		return lc, "", unicast, fmt.Errorf("discovery: Link.Destinations: an SSDP Browser searches one device by unicast, not %d", len(l.Destinations))
	}
	switch l.Network {
	case "":
		network = "udp"
	case "udp4", "udp6":
		network = l.Network
	default:
		return lc, "", unicast, fmt.Errorf("discovery: network %q: want udp4, udp6, or empty for both with SSDP", l.Network)
	}
	if len(l.Destinations) == 1 {
		unicast = l.Destinations[0]
	}
	return ssdp.LinkConfig{Interfaces: slices.Clone(l.Interfaces)}, network, unicast, nil
}

// ssdpWhere is where an SSDP entry was heard: a device may answer on two
// interfaces and over both families, with a LOCATION for each.
type ssdpWhere struct {
	ifindex int
	v6      bool
}

func whereOf(e *ssdp.Entry) ssdpWhere {
	return ssdpWhere{e.IfIndex, e.Src.Addr().Unmap().Is6()}
}

func compareWhere(a, b ssdpWhere) int {
	if c := cmp.Compare(a.ifindex, b.ifindex); c != 0 {
		return c
	}
	if a.v6 == b.v6 {
		return 0
	}
	if b.v6 {
		return -1
	}
	return 1
}

// ssdpBrowse is a Browser's state when it speaks SSDP: an ssdp.Browser
// whose entries (one per interface, family and USN) are gathered into
// Peers, one per USN.
type ssdpBrowse struct {
	b      *ssdp.Browser
	out    chan<- Event
	done   chan struct{}
	exited chan struct{}

	mu                                    sync.Mutex
	places[string, ssdpWhere, ssdp.Entry] // by USN, then interface and family
}

func browseSSDP(cfg BrowserConfig, maxPeers int) (*Browser, error) {
	lc, network, unicast, err := cfg.Link.ssdpLink(true)
	if err != nil {
		return nil, err
	}
	target := cmp.Or(cfg.Service, ssdp.All)
	if err := ssdp.CheckTarget(target); err != nil {
		return nil, fmt.Errorf("discovery: service %q is no SSDP search target: %w", cfg.Service, err)
	}
	sb, err := ssdp.Browse(ssdp.BrowseConfig{
		// A peer is an entry per interface and family: room for two of
		// each before the Searcher turns new USNs away.
		SearcherConfig: ssdp.SearcherConfig{Target: target, Network: network, Unicast: unicast, MaxEntries: 4 * maxPeers},
		LinkConfig:     lc,
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	events := make(chan Event)
	s := newSSDPBrowse(maxPeers)
	s.b, s.out = sb, events
	go s.run()
	return &Browser{sd: s, events: events}, nil
}

func newSSDPBrowse(maxPeers int) *ssdpBrowse {
	return &ssdpBrowse{
		done: make(chan struct{}), exited: make(chan struct{}),
		places: newPlaces[string, ssdpWhere](maxPeers, ssdpPeer),
	}
}

// run turns SSDP events into Events until Close.
func (s *ssdpBrowse) run() {
	defer close(s.exited)
	defer close(s.out)
	for {
		var ev ssdp.Event
		select {
		case e, ok := <-s.b.Events():
			if !ok {
				return
			}
			ev = e
		case <-s.done:
			return
		}
		out, ok := s.apply(ev)
		if !ok {
			continue
		}
		select {
		case s.out <- out:
		case <-s.done:
			return
		}
	}
}

// apply records an SSDP event and returns the Event it makes, if any.
func (s *ssdpBrowse) apply(ev ssdp.Event) (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.places.apply(ev.USN, whereOf(&ev.Entry), ev.Entry, ev.Kind == ssdp.Lost)
}

// ssdpPeer gathers the entries of one USN into a Peer (the package
// documentation, "Protocols", gives the mapping): LOCATION, SERVER,
// BOOTID and CONFIGID of the first interface (lowest index, IPv4 first),
// the address of every LOCATION, every interface.
func ssdpPeer(es map[ssdpWhere]ssdp.Entry) Peer {
	ws := slices.SortedFunc(maps.Keys(es), compareWhere)
	first := es[ws[0]]
	p := Peer{Protocol: SSDP, Service: first.Target, Instance: first.USN}
	var host string
	host, p.Port = locationHost(first.Location)
	if _, err := netip.ParseAddr(host); err != nil {
		p.Host = host // a name, rare in LOCATION; an address goes to Addrs
	}
	p.Text = map[string]string{"location": first.Location}
	if first.Server != "" {
		p.Text["server"] = first.Server
	}
	if first.BootID >= 0 {
		p.Text["bootid"] = strconv.FormatInt(first.BootID, 10)
	}
	if first.ConfigID >= 0 {
		p.Text["configid"] = strconv.FormatInt(first.ConfigID, 10)
	}
	for _, w := range ws {
		e := es[w]
		if a, ok := locationAddr(e.Location, e.IfName); ok {
			p.Addrs = append(p.Addrs, a)
		}
		p.Interfaces = append(p.Interfaces, e.IfName)
		if e.Expires.After(p.Expires) {
			p.Expires = e.Expires
		}
		// The entry heard last is the one whose lifetime started last.
		if h := e.Expires.Add(-e.MaxAge); !p.Src.IsValid() || h.After(p.Seen) {
			p.Seen, p.Src = h, e.Src
		}
	}
	slices.SortFunc(p.Addrs, netip.Addr.Compare)
	p.Addrs = slices.Compact(p.Addrs)
	slices.Sort(p.Interfaces)
	p.Interfaces = slices.Compact(p.Interfaces)
	uuid, _, _ := strings.Cut(first.USN, "::")
	p.Self = isSelf([]byte(selfSSDP), []byte(strings.ToLower(uuid)))
	return p
}

// locationHost returns the host and port of a LOCATION URL: the port
// given, or the scheme's (80 for http, 443 for https), or 0 (none, or
// out of range).
func locationHost(location string) (string, uint16) {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return "", 0
	}
	if u.Port() != "" {
		port, err := strconv.ParseUint(u.Port(), 10, 16)
		if err != nil {
			return u.Hostname(), 0 // a port out of range: the address still says where
		}
		return u.Hostname(), uint16(port)
	}
	var port uint16
	switch strings.ToLower(u.Scheme) {
	case "http":
		port = 80
	case "https":
		port = 443
	}
	return u.Hostname(), port
}

// locationAddr is the address in a LOCATION URL's host, if it is one. An
// IPv6 link-local address is given the zone of the interface it was heard
// on: a zone the device wrote names one of its own interfaces, not ours.
func locationAddr(location, ifname string) (netip.Addr, bool) {
	host, _ := locationHost(location)
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap().WithZone("")
	if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
		a = a.WithZone(ifname)
	}
	return a, true
}

func (s *ssdpBrowse) snapshot() []Peer {
	entries := s.b.Entries() // fresher Expires than the events'
	s.mu.Lock()
	defer s.mu.Unlock()
	byUSN := make(map[string]map[ssdpWhere]ssdp.Entry, len(s.peers))
	for _, e := range entries {
		if s.peers[e.USN] == nil {
			continue // a peer refused at MaxPeers, or whose event is not read yet
		}
		if byUSN[e.USN] == nil {
			byUSN[e.USN] = make(map[ssdpWhere]ssdp.Entry)
		}
		byUSN[e.USN][whereOf(&e)] = e
	}
	out := make([]Peer, 0, len(byUSN))
	for _, es := range byUSN {
		out = append(out, ssdpPeer(es))
	}
	slices.SortFunc(out, func(a, b Peer) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.Instance, b.Instance)
	})
	return out
}

func (s *ssdpBrowse) stats() Stats {
	st := s.b.Stats()
	s.mu.Lock()
	refused := s.refused
	s.mu.Unlock()
	return Stats{
		Received: st.Packets, Malformed: st.Malformed + st.BadStatus, TooLarge: st.Truncated,
		Ignored: st.Ignored + st.NoInterface + st.OffLink + st.Unsolicited + st.NotMatching,
		Sent:    st.SearchesSent, SendErrors: st.SendErrors,
		Full: refused + st.Full + st.EventsDropped,
	}
}

func (s *ssdpBrowse) close() error {
	err := s.b.Close()
	close(s.done)
	<-s.exited
	return err
}

// ssdpAnnounce is an Announcer's state when it speaks SSDP.
type ssdpAnnounce struct {
	a   *ssdp.Announcer
	udn string // lower case, for isSelf
}

var errSSDPText = errors.New("discovery: Text does not apply to SSDP: a UPnP device describes itself in the document at its LOCATION")

func announceSSDP(cfg AnnouncerConfig) (*Announcer, error) {
	lc, network, _, err := cfg.Link.ssdpLink(false)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Host != "":
		return nil, fmt.Errorf("discovery: Host %q applies to mDNS only", cfg.Host)
	case cfg.Interval != 0:
		return nil, errors.New("discovery: Interval does not apply to SSDP, which announces again before half of max-age has passed (UDA 1.1 §1.2.2); TTL sets max-age")
	case len(cfg.Text) > 0:
		return nil, errSSDPText
	case cfg.Port == 0:
		return nil, errors.New("discovery: SSDP needs Port, the port of the HTTP server at LOCATION (http://ADDR:Port/Path)")
	case cfg.TTL < 0:
		return nil, fmt.Errorf("discovery: negative TTL %v", cfg.TTL)
	}
	if _, _, err := parseDeviceType(cfg.Service); err != nil {
		return nil, err
	}
	instance := cfg.Instance
	if instance == "" {
		instance = newUUID()
	} else if !strings.HasPrefix(strings.ToLower(instance), "uuid:") {
		instance = "uuid:" + instance
	}
	// max-age travels in whole seconds; round up as Own does with TTL.
	maxAge := (cfg.TTL + time.Second - 1) / time.Second * time.Second
	sa, err := ssdp.Announce(ssdp.AnnounceConfig{
		AdvertiserConfig: ssdp.AdvertiserConfig{
			Root: ssdp.Device{UUID: instance, Type: cfg.Service},
			Port: cfg.Port, Path: cfg.Path, MaxAge: maxAge, Network: network,
		},
		LinkConfig: lc,
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	udn := strings.ToLower(instance)
	addSelf(key{selfSSDP, udn})
	return &Announcer{sd: &ssdpAnnounce{a: sa, udn: udn}, service: cfg.Service, instance: instance}, nil
}

// parseDeviceType checks that a service is a UPnP device type, the one
// thing an SSDP Announcer's root device can be.
func parseDeviceType(s string) (string, int, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 5 || !strings.EqualFold(parts[0], "urn") || parts[2] != "device" {
		return "", 0, fmt.Errorf("discovery: service %q is no UPnP device type (such as urn:schemas-upnp-org:device:Basic:1)", s)
	}
	v, err := strconv.Atoi(parts[4])
	if err != nil || v < 1 {
		return "", 0, fmt.Errorf("discovery: service %q: the device type's version %q is no positive number", s, parts[4])
	}
	return strings.Join(parts[:4], ":"), v, nil
}

// newUUID is a random (version 4) UUID as a UDN.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *ssdpAnnounce) stats() Stats {
	st := s.a.Stats()
	refused := st.OffLink + st.RateLimited + st.BadPort + st.BadDst
	return Stats{
		Received: st.Packets, Malformed: st.Malformed, TooLarge: st.Truncated,
		Ignored: st.Ignored + st.NoInterface + st.NoMatch + st.BadMAN + st.BadMX,
		Sent:    st.Notifies + st.Responses, SendErrors: st.SendErrors,
		Queries:  st.Searches + st.Duplicate + st.RateLimited,
		Answered: st.Responses,
		Refused:  refused, OffLink: st.OffLink, Limited: st.RateLimited,
	}
}

func (s *ssdpAnnounce) close() error {
	err := s.a.Close()
	dropSelf(key{selfSSDP, s.udn})
	return err
}
