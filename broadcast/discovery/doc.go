// Package discovery finds the instances of a service on the local network:
// a small, honest relative of DNS-SD over multicast DNS, without DNS.
//
// An Announcer says "instance office-1 of service printer is here, on port
// 631, at these addresses, with these key/value pairs" out of every
// interface, periodically, and answers queries. A Browser asks once when it
// starts, listens, and keeps a table of the instances it hears, keyed by
// service and instance id (not by address: an instance keeps its identity
// when its addresses change, and two instances may share an address). It
// reports each instance found, changed or lost on a channel.
//
//	a, err := discovery.Announce(discovery.AnnouncerConfig{
//		Service: "printer", Instance: "office-1", Port: 631,
//		Text: map[string]string{"model": "LX-9"},
//	})
//	...
//	defer a.Close() // says goodbye
//
//	b, err := discovery.Browse(discovery.BrowserConfig{Service: "printer"})
//	...
//	for ev := range b.Events() {
//		fmt.Println(ev.Kind, ev.Peer.Instance, ev.Peer.Addrs, ev.Peer.Port)
//	}
//
// # Protocols
//
// BrowserConfig.Protocol and AnnouncerConfig.Protocol choose the wire
// protocol: Own (the default), described below; MDNS, multicast DNS
// with DNS-SD (RFC 6762, RFC 6763) as avahi, Bonjour and dns-sd speak it,
// run by package mdns; or SSDP, as UPnP routers and media devices speak
// it, run by package ssdp. Whichever it is, a Browser reports the same
// Events and Peers, so one program can browse them all:
//
//	b, err := discovery.Browse(discovery.BrowserConfig{Protocol: discovery.MDNS, Service: "_http._tcp"})
//	...
//	for ev := range b.Events() {
//		fmt.Println(ev.Kind, ev.Peer.Instance, ev.Peer.Host, ev.Peer.Port, ev.Peer.Addrs, ev.Peer.Interfaces)
//	}
//
// With MDNS a Service is a DNS-SD service type ("_http._tcp"; empty
// browses every type announced), an instance name is what people read
// ("Office Printer") and is renamed ("Office Printer (2)") when another
// host holds it, Peer.Host is the host name the instance's SRV record
// names, and Text keys without a value read as empty. Of Link only
// Interfaces and Network apply, and an empty Network means IPv4 and IPv6
// both; an mDNS Browser or Announcer may be opened from a thread that
// entered a network namespace. Per-interface detail (each interface's
// own addresses, registration and rename events, one-shot host lookups)
// is in package mdns itself.
//
// With SSDP (UPnP discovery, UDA 1.1 §1, run by package ssdp) a Browser
// searches and an Announcer advertises a UPnP root device. A Browser's
// Service is the search target (ST: upnp:rootdevice, uuid:UUID, a device
// or service type; empty searches ssdp:all), and one Link.Destinations
// entry makes the search a unicast M-SEARCH to that device. package ssdp
// keeps an entry per USN, interface and family; a Peer gathers a USN's
// entries:
//
//	Peer field   SSDP
//	Service      ST of the response, or NT of the NOTIFY
//	Instance     USN ("uuid:...::urn:...:device:Basic:1")
//	Port         LOCATION's port (80 or 443 when it names none)
//	Addrs        LOCATION's host on each interface and family, when it
//	             is an IP address; IPv6 link-local with our zone
//	Host         LOCATION's host when it is a name, not an address
//	Text         "location", "server", "bootid", "configid" (the last
//	             two when the device sends them), of the first interface
//	             (lowest index, IPv4 before IPv6)
//	Interfaces   every interface it was heard on
//	Src          where its latest response or NOTIFY came from
//	Expires      when the last entry's max-age runs out
//	Self         its UUID is announced by an Announcer of this process
//
// A change of LOCATION, BOOTID or CONFIGID is an Updated event;
// ssdp:byebye or the end of max-age on every interface is Lost. An
// Announcer's Service is the root device's type
// ("urn:schemas-upnp-org:device:Basic:1"), Instance its UUID, Port and
// Path its LOCATION (http://ADDR:Port/Path, ADDR being the address of
// each interface it speaks on), TTL its max-age; Host, Text and Interval
// are refused. It advertises upnp:rootdevice, its UUID and its type, and
// answers M-SEARCH for them; embedded devices, services and a
// description server are package ssdp's (ssdp.Announce). An SSDP
// Browser's Query searches again; an Announcer's Update fails. Stats
// fold package ssdp's counters into the common ones (Refused also counts
// searches from ports below 1024 and to a broadcast address). As with
// MDNS, an SSDP Browser or Announcer may be opened from a thread that
// entered a network namespace.
//
// # Transports
//
// Messages travel as UDP datagrams to port DefaultPort (62278) unless
// Link.Port says otherwise, in one of two ways (Link.Transport):
//
//   - Broadcast: IPv4 only, to the limited broadcast address
//     255.255.255.255, sent out of each interface that can broadcast. Every
//     host on the link receives it; no router forwards it; no switch needs
//     to know about groups. Auto picks it for udp4.
//   - Multicast: to a group, DefaultGroup4 (239.255.62.78) or DefaultGroup6
//     (ff02::8000:6278), sent out of each multicast interface with TTL (hop
//     limit) 1, and joined on each of them. Auto picks it for udp6, since
//     IPv6 has no broadcast.
//
// Link.Destinations replaces both with a fixed list of addresses: unicast
// peers across a router, or 127.255.255.255 to reach every program of this
// host over loopback, which has no BROADCAST or MULTICAST flag.
//
// Port 62278 lies in the IANA dynamic range (49152-65535), which IANA never
// assigns, so no registered service owns it, and above Linux's default
// ephemeral range (32768-60999), so the kernel never hands it to an
// outgoing socket. 239.255.62.78 lies in the IPv4 organization-local scope
// (239.255.0.0/16, RFC 2365); ff02::8000:6278 is a link-local scope group
// with a group ID in the range RFC 3307 leaves to dynamic allocation.
// Neither is registered; both stay on the link with TTL 1.
//
// Every socket binds the discovery port with SO_REUSEPORT, so several
// programs on one host can announce and browse at once: each receives its
// own copy of every broadcast and multicast message.
//
// # Announcing
//
// An Announcer sends an Announce when it starts, again after a second
// (one lost datagram should not hide an instance for a whole interval),
// then every Interval (5 s by default) shortened by up to a fifth at
// random, so that hosts started together do not stay in step. Each
// Announce carries the TTL (3 intervals by default): a Browser that hears
// nothing for that long considers the instance lost.
//
// Each Announce carries the addresses of the interface it leaves by, and
// only those: a host on two networks tells each network the address it
// can be reached at there. Likewise a Query is answered with the addresses
// of the interface the query arrived on.
//
// # Answers
//
// A query's source address is whatever its sender wrote, so an answer is
// never larger, nor sent further, than the rules below allow; otherwise
// anyone could aim an Announcer's answers, up to 75 times the size of a
// 12-byte query, at a host of their choosing. The Announcer answers a
// query for its instance:
//
//   - only from a neighbour: a source inside one of the prefixes of the
//     interface the query arrived on (not the subnet's own or broadcast
//     address), or an IPv6 link-local source, which carries that
//     interface as its zone. A source from elsewhere is forged or came
//     across a router; the query is counted in Stats.OffLink, and not
//     answered, whether it came by broadcast, multicast or unicast;
//   - by unicast to the querier when the answer is at most AnswerFactor
//     (2) times the size of the query: a forged source gets at most twice
//     the bytes the forger sent;
//   - otherwise to the link: the broadcast address or group, out of the
//     arrival interface, from the discovery port, where the querier (and
//     every Browser on the link) hears it (Stats.GroupAnswers). At most
//     one such answer goes out per interface and family a second, as in
//     mDNS (RFC 6762 §6): a query that comes sooner is answered when the
//     second is up, and all the queries of that second share one answer
//     (Stats.Coalesced). An IPv4 query to a udp6 Announcer is answered
//     by IPv4 broadcast; on a Destinations link, the answer goes to the
//     destinations routed through the arrival interface, and when there
//     are none the query is refused (Stats.Oversize).
//
// This host (a source that is one of its addresses; Linux drops such
// datagrams when they come from outside) and the addresses in
// Link.Destinations, which the user chose, get unicast answers of any size
// from anywhere. Unicast answers are also limited to 20 a second with
// bursts of 20 per Announcer (Stats.Limited). Stats.Refused is the sum of
// OffLink, Limited and Oversize.
//
// In bytes out per byte in: a forged on-link source receives at most
// AnswerFactor bytes of unicast answer per byte of query, and, like every
// host of the link, at most one answer (at most MaxMessageSize bytes) per
// second per interface and family through the group; an off-link source
// receives nothing.
//
// Close sends a Goodbye out of every interface, so Browsers drop the
// instance at once instead of after its TTL.
//
// An Announcer hears its own announcements (the kernel loops broadcasts and
// multicasts back to the host); one of its service and instance id from
// any other socket is counted in Stats.Conflicts, since instance ids must
// be unique for a Browser's table to mean anything.
//
// # Browsing
//
// A Browser sends a Query when it starts and again a second later, and
// whenever Query is called; queries leave from a socket of their own on an
// ephemeral port, so that answers (unicast, and so given to one socket
// only) reach the querier and not another program bound to the discovery
// port. It hears Announce, Answer and Goodbye messages on the discovery
// port, answers sent to the group among them. Every 5 s it lists the interfaces again: on one that came up it
// joins the group (Multicast) and queries at once.
//
// An instance is kept per local interface it was heard on, each with the
// addresses announced there and its own expiry. When one link goes quiet,
// the instance loses that link's addresses (Updated); when the last one
// does, or a Goodbye comes, it is Lost. Expiry waits on one timer set to
// the earliest deadline: nothing polls.
//
// IPv6 link-local addresses are given the zone of the interface they were
// heard on (fe80::1%eth0), and are dropped when the message came across a
// router (from a source outside the interface's prefixes), where they mean
// nothing. An instance that announces no address is reached at the source
// address of its messages.
//
// Events are coalesced, not queued: a reader that falls behind is told,
// per instance, the difference between what it knew and what is now.
// Peers returns the whole table at any time.
//
// Everything a Browser keeps is bounded by MaxPeers (DefaultMaxPeers,
// 1024, unless BrowserConfig says otherwise), however many instances
// peers make up and however slowly Events is read: it counts the peers
// present and those lost whose Lost event has not been read yet. A peer
// that comes and goes before the reader hears of it leaves nothing behind.
// Announcements and answers of new peers beyond the bound are dropped and
// counted in Stats.Full; known peers are still refreshed and updated. An
// Announcer keeps no state per querier: the answer rate and the time of
// the last answer to the group, per interface, are all it remembers.
//
// Datagrams that are not discovery messages, are of another wire
// version, too large, or malformed are counted in Stats and dropped; they
// never stop a Browser or an Announcer.
//
// # Wire format
//
// Version 1. All integers are big-endian; a message is at most
// MaxMessageSize (1200) bytes, which fits the IPv6 minimum MTU with the IP
// and UDP headers, so it is never fragmented.
//
//	offset  size  field
//	0       2     magic "bc" (0x62 0x63)
//	2       1     version: 1
//	3       1     type: 1 Announce, 2 Query, 3 Answer, 4 Goodbye
//	4       2     TTL in seconds: >= 1 for Announce and Answer, 0 otherwise
//	6       2     service port: 0 for Query and Goodbye
//	8       1+S   service name: length S (0-63), then S bytes of [A-Za-z0-9._-];
//	              empty only in a Query (every service)
//	.       1+I   instance id: length I (0-63), then I bytes of UTF-8 without
//	              control characters; empty only in a Query (every instance)
//	.       1+..  addresses: count A (0-16), then A times a family byte (4 or 6)
//	              and 4 or 16 address bytes; distinct unicast addresses, no
//	              IPv4-mapped IPv6; none in Query and Goodbye
//	.       1+..  key/value pairs: count P (0-32), then P times: key length K
//	              (1-63), K bytes of printable ASCII other than '=', value
//	              length V (2 bytes), V bytes; keys distinct and in byte
//	              order; none in Query and Goodbye
//
// Nothing may follow the last pair. Every field has one encoding, so
// decoding and re-encoding gives the same bytes. Decode rejects anything
// else with a *MessageError naming the field and offset; it wraps ErrMagic
// (not ours), ErrVersion (another version), ErrTooLarge or ErrMalformed.
// A new version changes the version byte; receivers of this version count
// and skip it.
//
// # Security
//
// There is none in the protocol, as in mDNS: anyone on the link can
// announce any instance, or say goodbye for it. Treat what a Browser finds
// as a hint of where to connect, and authenticate the service itself.
//
// # Network namespaces
//
// Interfaces are listed, and sockets opened, in the network namespace of
// the thread that asks. An Announcer or Browser re-lists interfaces from
// its own goroutines, which may run on any thread: start it in a process
// that lives in the namespace (ip netns exec), not from a thread that
// entered one with setns.
package discovery
