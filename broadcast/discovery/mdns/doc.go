// Package mdns is multicast DNS (RFC 6762) and DNS-based service discovery
// (RFC 6763) in three layers: a codec on golang.org/x/net/dns/dnsmessage;
// two engines, a Querier and a Responder, that a link layer drives with
// packets and a clock; and a runtime that drives them on real sockets
// (package lanlink): Browser, Server, LookupHost, ResolveInstance and
// ServiceTypes. The engines open no socket, start no goroutine and read
// no clock: tests run them with a fake clock and no sleeps.
//
// # On the LAN
//
// A Server publishes a host name and services; a Browser browses
// service types, resolves instances and follows host names:
//
//	s, err := mdns.NewServer(mdns.ServerConfig{ResponderConfig: mdns.ResponderConfig{Host: "alpha"}})
//	id, err := s.Register(mdns.Service{Instance: "My Web", Type: "_http._tcp", Port: 8080})
//	... s.Events() says Registered per interface, Renamed after a conflict; s.Name(id)
//	s.Close() // goodbyes sent before it returns
//
//	b, err := mdns.NewBrowser(mdns.BrowserConfig{})
//	b.Browse("_http._tcp", "")
//	for ev := range b.Events() { ... ev.Kind, ev.Instance, ev.Host, ev.Port, ev.Addrs, ev.Text, ev.IfName }
//
// Both bind UDP port 5353 with SO_REUSEPORT beside any other responder of
// the host (avahi-daemon), follow interfaces and addresses over netlink
// (an address added is announced, one removed said goodbye to), and run
// their engine in one goroutine: datagrams in, one timer on
// NextDeadline, calls from other goroutines passed in as functions. At
// most 256 datagrams wait for the engine; more are dropped and counted
// (LinkStats.Overrun). A Browser's events are coalesced per instance and
// interface while unread, never queued without bound; a Server keeps 64
// events and counts the rest, and Name always gives the current name.
//
// A Browser asks by multicast from port 5353, so every socket on the
// port hears the answers. LookupHost and ResolveInstance ask once from a
// port of their own: responders answer such a query by unicast (RFC 6762
// §5.1, §6.7), which on a shared port 5353 would reach one socket only,
// perhaps another program's. They return when the first answer and
// 200 ms more have come, or fail with ErrNoAnswer when the context ends.
//
// LinkConfig.Interfaces limits the interfaces (a name that does not
// exist is an error listing those that do); Network "udp4" or "udp6"
// keeps to one family, which then is also the only family of addresses
// a Server publishes.
//
// # Names and TXT records
//
// Names are in dnsmessage's text form: labels joined by dots, ending with
// a dot, nothing escaped: "My Printer._ipp._tcp.local.". InstanceName,
// HostName and ServiceName build them after checking each label;
// SplitInstanceName takes one apart. FormatInstanceName and
// ParseInstanceName convert to and from the presentation form of RFC 6763
// §4.3, where a dot or a backslash inside the instance label is escaped
// (`My\.Printer._ipp._tcp.local.`), as dns-sd and avahi-browse print it.
//
// dnsmessage splits names at dots and refuses to decode a label holding
// one, so an instance label with a dot (legal in RFC 6763) can be neither
// registered here (ErrDotInLabel) nor received: such records are skipped
// and counted (Message.Skipped, QuerierStats.SkippedRecords).
//
// A TXT record is a list of TXTItem: a key alone (a boolean attribute),
// "key=" (an empty value) or "key=value" with any bytes as the value
// (RFC 6763 §6). EncodeTXT and DecodeTXT convert to and from the strings
// of the record, DecodeTXT with the rules a client must follow (§6.4).
//
// # Driving an engine
//
// A link layer owns one UDP socket per family bound to port 5353 (with
// SO_REUSEADDR and SO_REUSEPORT, so that it coexists with avahi-daemon),
// joins 224.0.0.251 and ff02::fb on each multicast interface by index,
// and learns the arrival interface, destination address and IP TTL of
// every datagram from IP_PKTINFO/IPV6_PKTINFO and IP_RECVTTL/
// IPV6_RECVHOPLIMIT. It feeds an engine three kinds of input, each with
// the current time, and after each one calls Poll:
//
//	e.UpdateInterface(now, ifc)   // an interface appeared or changed (netlink)
//	e.RemoveInterface(now, index) // it went away
//	e.HandlePacket(now, pkt)      // a datagram: payload, ifindex, source, destination, TTL
//
//	for _, o := range e.Poll(now) {
//		// send o.Payload from port 5353 out of interface o.IfIndex to
//		// o.Dst, with TTL (hop limit) 255 and a source address of that
//		// interface
//	}
//	timer.Reset(time.Until(e.NextDeadline())) // zero Time: nothing planned
//
// and when the timer fires, calls Poll again. One timer per engine is all
// the engine needs: NextDeadline is the earliest of every rule's
// deadlines. Events (and Stats) are read after Poll. A Querier and a
// Responder on one host share the sockets: give each every datagram.
//
// An Output's destination is IPv4Group or IPv6Group, sent out of the
// named interface only, or a unicast address and port: a reply to one
// querier, which also leaves by the interface the query came in on. An
// engine sends a family on an interface only when the interface has an
// address of that family.
//
// # Interfaces
//
// An Interface is an index, a name, flags, an MTU and the addresses with
// their prefixes. Engines use interfaces that are up and can multicast.
// The arrival interface is the key of everything: a Querier caches what it
// hears per interface and reports it per interface, with IPv6 link-local
// addresses zoned to that interface (fe80::1%eth0); a Responder answers a
// query that came in on eth1 with eth1's addresses only, announces and
// probes per interface, and answers by multicast out of the arrival
// interface only (RFC 6762 §6.2, §15).
//
// Only on-link sources are believed (RFC 6762 §11): a datagram whose
// source is not in one of the arrival interface's subnets, nor an IPv6
// link-local address, is counted and dropped. A response whose IP TTL is
// known and not 255 is dropped too (queries are not checked: a legacy
// resolver's come with its default TTL).
//
// # Querier
//
// Browse subscribes to a service type (or a subtype), BrowseTypes to the
// service types on the link, Resolve to one instance, LookupHost to a
// host's addresses; Stop ends a subscription. Each instance browsed is
// resolved (SRV, TXT, then the target's A and AAAA, using the records
// that came as additional records before asking anything) and reported
// as Found once it has an SRV record, an address and a TXT record (or
// after a second without TXT), then Changed when any of that changes, and
// Lost when it goes (its PTR or SRV expired or said goodbye, or its last
// address went). Events are per interface, keyed by name.
//
// Questions are asked 20-120 ms after they are wanted (so that calls made
// together share a packet), then after 1 s, 2 s, 4 s and so on up to one
// hour for browsing; a question about one instance or host stops once
// answered. A one-shot Resolve or LookupHost asks its first question with
// the QU bit. Each query lists the known answers with more than half
// their TTL left; when they do not fit, they follow in further packets,
// all but the last with TC. A question another host just asked, with
// known answers we would have given too, counts as ours (duplicate
// question suppression).
//
// The cache keeps each record until its TTL runs out, asking again at 80,
// 85, 90 and 95% of the TTL (plus up to 2%) while the answer is still
// wanted. A goodbye (TTL 0) ends a record one second later; a record with
// the cache-flush bit ends, one second later, the others of its set heard
// more than a second before it. QuerierConfig.MaxRecords bounds the cache
// and MaxInstances what is tracked for events; what does not fit is
// counted in QuerierStats.
//
// Unicast responses are believed only within two seconds of a query that
// asked for them (a QU question, or any query when the link layer sends
// from a port other than 5353: QuerierConfig.EphemeralPort).
//
// # Responder
//
// A Responder publishes a host name (ResponderConfig.Host + ".local.",
// with an A or AAAA record for each address of each interface) and the
// services given to Register: for each, a PTR from the service type to
// the instance, one per subtype, the PTR from _services._dns-sd._udp,
// an SRV record pointing at the host name and a TXT record. Unique
// records (addresses, SRV, TXT) carry the cache-flush bit, except in
// probes, goodbyes and legacy replies.
//
// Each name is probed for on each interface: three probes 250 ms apart,
// the first after a random 0-250 ms, each asking for the name with type
// ANY and proposing the records in the authority section. Probes do not
// set the QU bit (RFC 6762 §8.1 says they should): a defender's unicast
// reply would reach only one of the sockets sharing port 5353 on this
// host, perhaps avahi-daemon's, and the conflict would go unseen. Any answer for
// the name from another host during probing is a conflict: the name is
// changed ("Web" to "Web (2)", "(3)" and so on; host "alpha" to
// "alpha-2") and probed for again, and a Renamed event says so. Two hosts
// probing at once are told apart by comparing their proposed records
// (RFC 6762 §8.2); the one that loses waits a second and probes again.
// After 15 conflicts within 10 s, each new round of probes waits 5 s. A
// conflict with a name already announced sends it back to probing (§9).
// Records that this responder publishes on any of its interfaces are
// never a conflict, so a host with two interfaces on one link, or hearing
// its own packets, does not fight itself.
//
// 250 ms after the third probe the name is registered (a Registered
// event) and announced: AnnounceCount times (3 by default), one second
// apart, then two, four... SetText and address changes announce again;
// an address removed gets a goodbye first. Unregister and Close say
// goodbye (TTL 0); a rename says goodbye for the old SRV and TXT if they
// were announced, even when a conflict had sent the name back to probing
// first (they are still in caches), but never for the shared PTR naming
// the contested instance, nor for a record equal to one the winner
// published, which the goodbye would remove from every cache.
//
// Queries are answered from records registered on the arrival interface:
// at once when every answer is a unique record and the query has one
// question, after 20-120 ms when shared records or several questions are
// involved, after 400-500 ms when the query has TC (to hear the rest of
// its known answers, which may then cancel the answer). A record goes out
// on a link at most once a second, or every 250 ms to defend a name
// against a probe; an answer waits for the next second rather than be
// dropped. Answers planned for the same link share one packet: two queries
// a few milliseconds apart get one response. Known answers with at least
// half our TTL suppress an answer; an answer another responder gives
// first, with a TTL at least ours, is not repeated. PTR answers carry the
// instance's SRV, TXT and addresses as additional records; SRV answers the
// addresses; address answers those of the other family, and NSEC when a
// family is missing. A question for one of our unique names with a type
// we do not have gets NSEC.
//
// A query from a port other than 5353 (a plain resolver such as dig) gets
// a legacy unicast reply: to its address and port, with its ID and
// questions, TTLs of at most 10 s, no cache-flush bits. A QU question is
// answered by unicast, unless the record was not multicast on that link
// within a quarter of its TTL; a query sent to our unicast address is
// answered by unicast. Unicast replies go only to on-link sources and are
// limited per source address (ResponderConfig.UnicastRate, UnicastBurst,
// in a table of MaxUnicastSources), so that a forged query gets a victim
// nothing: the limit and the refusals are in ResponderStats.
//
// Multicast responses carry ID 0, the AA bit, no question and at least one
// answer: avahi drops any other.
//
// # Compliance
//
// The repository's README keeps the table of what is implemented of
// RFC 6762 and RFC 6763, section by section, and which test proves each
// part against avahi and dig.
package mdns
