package discovery

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/mdns"
)

// Protocol says which wire protocol a Browser or an Announcer speaks.
type Protocol uint8

const (
	// Own is bcast's own protocol (the package documentation's wire
	// format), the default.
	Own Protocol = iota
	// MDNS is multicast DNS with DNS-based service discovery (RFC 6762,
	// RFC 6763), as avahi, Bonjour and dns-sd speak it, run by package
	// mdns. Services are DNS-SD types ("_http._tcp").
	MDNS
	// SSDP is UPnP's discovery protocol (UPnP Device Architecture 1.1
	// §1), as routers, media servers, gssdp and miniupnpd speak it, run by
	// package ssdp. Services are search targets and device types
	// ("urn:schemas-upnp-org:device:Basic:1"), instances USNs.
	SSDP
)

func (p Protocol) String() string {
	switch p {
	case Own:
		return "bcast"
	case MDNS:
		return "mdns"
	case SSDP:
		return "ssdp"
	}
	return "protocol(" + strconv.Itoa(int(p)) + ")"
}

func (p Protocol) check() error {
	if p > SSDP {
		return fmt.Errorf("discovery: unknown protocol %d", p)
	}
	return nil
}

// mdnsLink turns a Link into the mDNS runtime's: interfaces and family
// only. mDNS has its own port and groups, so a Link that sets them is a
// mistake worth naming.
func (l Link) mdnsLink() (mdns.LinkConfig, error) {
	switch {
	case l.Transport != Auto:
		return mdns.LinkConfig{}, fmt.Errorf("discovery: Link.Transport %v does not apply to mDNS, which multicasts to 224.0.0.251 and ff02::fb", l.Transport)
	case l.Port != 0 && l.Port != mdns.Port:
		return mdns.LinkConfig{}, fmt.Errorf("discovery: Link.Port %d does not apply to mDNS, which uses port 5353", l.Port)
	case l.Group.IsValid():
		return mdns.LinkConfig{}, fmt.Errorf("discovery: Link.Group %v does not apply to mDNS, which uses 224.0.0.251 and ff02::fb", l.Group)
	case len(l.Destinations) > 0:
		return mdns.LinkConfig{}, errors.New("discovery: Link.Destinations do not apply to mDNS, which multicasts on the link")
	}
	switch l.Network {
	case "", "udp4", "udp6":
	default:
		return mdns.LinkConfig{}, fmt.Errorf("discovery: network %q: want udp4, udp6, or empty for both with mDNS", l.Network)
	}
	return mdns.LinkConfig{Interfaces: slices.Clone(l.Interfaces), Network: l.Network}, nil
}

// mdnsBrowse is a Browser's state when it speaks mDNS: an mdns.Browser
// whose per-interface events are gathered into Peers, one per instance.
type mdnsBrowse struct {
	b       *mdns.Browser
	all     bool       // every service type: BrowseTypes, then each type
	typesID mdns.SubID // the BrowseTypes subscription, when all
	out     chan<- Event
	done    chan struct{}
	exited  chan struct{}

	mu                           sync.Mutex
	places[key, int, mdns.Event]                 // by instance, then interface
	browsed                      map[string]bool // types browsed, lower case
}

func browseMDNS(cfg BrowserConfig, maxPeers int) (*Browser, error) {
	lc, err := cfg.Link.mdnsLink()
	if err != nil {
		return nil, err
	}
	if cfg.Service != "" {
		if _, err := mdns.ParseServiceType(cfg.Service); err != nil {
			return nil, fmt.Errorf("discovery: service %q is no DNS-SD service type (such as _http._tcp): %w", cfg.Service, err)
		}
	}
	mb, err := mdns.NewBrowser(mdns.BrowserConfig{LinkConfig: lc, QuerierConfig: mdns.QuerierConfig{MaxInstances: maxPeers}})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	events := make(chan Event)
	m := &mdnsBrowse{
		b: mb, all: cfg.Service == "", out: events,
		done: make(chan struct{}), exited: make(chan struct{}),
		places: newPlaces[key, int](maxPeers, mdnsPeer), browsed: make(map[string]bool),
	}
	if m.all {
		m.typesID, err = mb.BrowseTypes()
	} else {
		_, err = mb.Browse(cfg.Service, "")
	}
	if err != nil {
		mb.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	go m.run()
	return &Browser{md: m, events: events}, nil
}

// run turns mDNS events into Events until Close.
func (m *mdnsBrowse) run() {
	defer close(m.exited)
	defer close(m.out)
	for {
		var ev mdns.Event
		select {
		case e, ok := <-m.b.Events():
			if !ok {
				return
			}
			ev = e
		case <-m.done:
			return
		}
		if m.all && ev.Sub == m.typesID {
			if ev.Kind != mdns.Lost && !m.browsed[strings.ToLower(ev.Service)] {
				m.browsed[strings.ToLower(ev.Service)] = true
				m.b.Browse(ev.Service, "") // a type that does not parse is skipped
			}
			continue
		}
		out, ok := m.apply(ev)
		if !ok {
			continue
		}
		select {
		case m.out <- out:
		case <-m.done:
			return
		}
	}
}

// apply records an mDNS event and returns the Event it makes, if any.
func (m *mdnsBrowse) apply(ev mdns.Event) (Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.places.apply(key{strings.ToLower(ev.Service), ev.Instance}, ev.IfIndex, ev, ev.Kind == mdns.Lost)
}

// mdnsPeer gathers what each interface heard of one instance into a Peer:
// the SRV and TXT of the lowest interface index, every address, every
// interface.
func mdnsPeer(ifs map[int]mdns.Event) Peer {
	idx := slices.Sorted(maps.Keys(ifs))
	first := ifs[idx[0]]
	p := Peer{
		Protocol: MDNS,
		Service:  first.Service,
		Instance: first.Instance,
		Host:     first.Host,
		Port:     first.Port,
		Seen:     time.Now(),
	}
	if len(first.Text) > 0 {
		p.Text = make(map[string]string, len(first.Text))
		for _, it := range first.Text {
			p.Text[it.Key] = string(it.Value)
		}
	}
	for _, i := range idx {
		p.Addrs = append(p.Addrs, ifs[i].Addrs...)
		p.Interfaces = append(p.Interfaces, ifs[i].IfName)
	}
	slices.SortFunc(p.Addrs, netip.Addr.Compare)
	p.Addrs = slices.Compact(p.Addrs)
	slices.Sort(p.Interfaces)
	p.Self = isSelf([]byte(p.Service), []byte(p.Instance))
	return p
}

func samePeer(a, b *Peer) bool {
	return a.Port == b.Port && a.Host == b.Host && slices.Equal(a.Addrs, b.Addrs) &&
		slices.Equal(a.Interfaces, b.Interfaces) && maps.Equal(a.Text, b.Text)
}

func (m *mdnsBrowse) snapshot() []Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Peer, 0, len(m.peers))
	for _, ifs := range m.peers {
		out = append(out, mdnsPeer(ifs))
	}
	slices.SortFunc(out, func(a, b Peer) int {
		if c := strings.Compare(strings.ToLower(a.Service), strings.ToLower(b.Service)); c != 0 {
			return c
		}
		return strings.Compare(a.Instance, b.Instance)
	})
	return out
}

func (m *mdnsBrowse) stats() Stats {
	st := m.b.Stats()
	m.mu.Lock()
	refused := m.refused
	m.mu.Unlock()
	return Stats{
		Received: st.Received, Malformed: st.Malformed, TooLarge: st.Truncated,
		Sent: st.Sent, SendErrors: st.SendErrors,
		Full:      refused + st.InstancesRefused + st.EventsDropped,
		LastError: st.LastError,
	}
}

func (m *mdnsBrowse) close() error {
	err := m.b.Close()
	close(m.done)
	<-m.exited
	return err
}

// mdnsAnnounce is an Announcer's state when it speaks mDNS.
type mdnsAnnounce struct {
	s  *mdns.Server
	id mdns.ServiceID
}

func announceMDNS(cfg AnnouncerConfig) (*Announcer, error) {
	lc, err := cfg.Link.mdnsLink()
	if err != nil {
		return nil, err
	}
	if cfg.Interval != 0 || cfg.TTL != 0 {
		return nil, errors.New("discovery: Interval and TTL do not apply to mDNS, which times its announcements itself (RFC 6762 §8.3)")
	}
	svc, err := mdns.ParseServiceType(cfg.Service)
	if err != nil {
		return nil, fmt.Errorf("discovery: service %q is no DNS-SD service type (such as _http._tcp): %w", cfg.Service, err)
	}
	instance := cfg.Instance
	if instance == "" {
		var id [8]byte
		rand.Read(id[:])
		instance = hex.EncodeToString(id[:])
	}
	keys := slices.Sorted(maps.Keys(cfg.Text))
	text := make([]mdns.TXTItem, 0, len(keys))
	for _, k := range keys {
		text = append(text, mdns.TXTItem{Key: k, Value: []byte(cfg.Text[k]), HasValue: true})
	}
	s, err := mdns.NewServer(mdns.ServerConfig{ResponderConfig: mdns.ResponderConfig{Host: cfg.Host}, LinkConfig: lc})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	id, err := s.Register(mdns.Service{Instance: instance, Type: svc, Port: cfg.Port, Text: text})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	addSelf(key{svc, instance})
	return &Announcer{md: &mdnsAnnounce{s: s, id: id}, service: svc, instance: instance}, nil
}

func (m *mdnsAnnounce) update(text map[string]string) error {
	keys := slices.Sorted(maps.Keys(text))
	items := make([]mdns.TXTItem, 0, len(keys))
	for _, k := range keys {
		items = append(items, mdns.TXTItem{Key: k, Value: []byte(text[k]), HasValue: true})
	}
	return m.s.SetText(m.id, items)
}

func (m *mdnsAnnounce) stats() Stats {
	st := m.s.Stats()
	return Stats{
		Received: st.Received, Malformed: st.Malformed, TooLarge: st.Truncated,
		Sent: st.Sent, SendErrors: st.SendErrors,
		Queries:  st.Queries,
		Answered: st.ResponsesSent + st.UnicastReplies + st.LegacyReplies,
		Refused:  st.OffLink + st.UnicastLimited, OffLink: st.OffLink, Limited: st.UnicastLimited,
		Conflicts: st.Conflicts,
		LastError: st.LastError,
	}
}
