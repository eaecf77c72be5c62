// Package ssdp is SSDP, the discovery protocol of UPnP (UPnP Device
// Architecture 1.1, §1), per interface: a control point finds routers
// (InternetGatewayDevice), media servers and renderers, printers, TVs; a
// device tells the LAN where its description is.
//
// Most SSDP code sends from one socket and never knows which interface a
// datagram came in by, so a host on two networks advertises a LOCATION
// that one of them cannot reach. Here every datagram carries its arrival
// interface, every message leaves by a named interface from that
// interface's own address, and LOCATION names that address.
//
//	a, err := ssdp.Announce(ssdp.AnnounceConfig{
//		AdvertiserConfig: ssdp.AdvertiserConfig{
//			Root: ssdp.Device{UUID: "uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b",
//				Type: "urn:schemas-upnp-org:device:Basic:1", FriendlyName: "lab box"},
//			Port: 8080, Path: "/description.xml",
//		},
//		Describe: true, // serve the description document ourselves
//	})
//	...
//	defer a.Close() // says ssdp:byebye
//
//	b, err := ssdp.Browse(ssdp.BrowseConfig{SearcherConfig: ssdp.SearcherConfig{
//		Target: "urn:schemas-upnp-org:device:InternetGatewayDevice:1"}})
//	...
//	for ev := range b.Events() {
//		fmt.Println(ev.Kind, ev.USN, ev.Location, ev.IfName)
//	}
//
// # Messages
//
// SSDP messages are HTTP/1.1 over UDP: M-SEARCH and NOTIFY requests for
// "*" and 200 OK responses, one per datagram. Parse reads them with
// net/http's ReadRequest and ReadResponse over a bufio.Reader on the
// datagram (no HTTP parser of its own); header values are trimmed, and a
// number that is missing or not a number is -1. Message.Append writes
// them with the header lines in the order and spelling of the UDA (HOST,
// MAN, MX, ST, NT, NTS, USN, LOCATION, CACHE-CONTROL: max-age=N, SERVER,
// EXT, BOOTID.UPNP.ORG, CONFIGID.UPNP.ORG, NEXTBOOTID.UPNP.ORG), each
// ended by CRLF, HOST as "239.255.255.250:1900" or "[FF02::C]:1900", and
// refuses a value holding CR or LF: nothing a peer sent can add a header.
//
// # Engines
//
// A Searcher and an Advertiser are state machines without sockets or
// goroutines, driven by a clock and by packets. The link layer:
//
//   - tells them about interfaces (UpdateInterface, RemoveInterface);
//   - hands them each datagram with its arrival interface, source and
//     destination (HandlePacket);
//   - calls Poll at NextDeadline and sends every Output out of its
//     interface, from that interface's own address, to its destination;
//   - reads the Searcher's Events.
//
// Every method takes the time as an argument, so tests run them with a
// fake clock and no sleeps. Browse and Announce are that link layer on
// real sockets (package lanlink); another program may drive the engines
// from its own.
//
// # Searching
//
// A search sends Sends (3) M-SEARCHes SendGap (1 s) apart out of every
// interface, to 239.255.255.250:1900 and [ff02::c]:1900 for each family
// the interface has an address of, with MX (2 s by default, 1 to 5) and ST
// Target: ssdp:all, upnp:rootdevice, uuid:UUID, or a device or service
// type. A type matches the same type in a later version, as devices
// answer (UDA 1.1 §1.3.2). An interface that comes up later is searched
// at once; Rescan repeats the search.
//
// Responses come by unicast to the Searcher's own port, and are believed
// only for MX + 1 s after an M-SEARCH out of the interface they arrive on
// (Stats.Unsolicited otherwise). NOTIFYs come to the SSDP port:
// ssdp:alive adds or refreshes, ssdp:byebye removes, ssdp:update moves an
// entry to NEXTBOOTID. Both are believed only from a neighbour: a source
// inside one of the arrival interface's prefixes, or IPv6 link-local
// (Stats.OffLink; AcceptOffLink turns this off).
//
// The table is keyed by interface, IP family and USN: a device seen on
// two LANs, or over IPv4 and IPv6, is an entry for each, with the
// LOCATION it gave there. An entry
// expires max-age after it was last heard (1800 s when a device gives no
// max-age, at most a day whatever it claims). Found, Changed (LOCATION,
// BOOTID.UPNP.ORG or CONFIGID.UPNP.ORG differ; Event.Reason says which)
// and Lost (byebye, expiry, or the interface gone) events name the
// interface. MaxEntries (1024) bounds the table; advertisements of new
// USNs beyond it are counted in Stats.Full and dropped.
//
// A Unicast search asks one host:port (UDA 1.1 §1.3.2: HOST names it, no
// MX); it leaves by the interface on that host's link, or where the
// kernel routes it, and only that host's answers count.
//
// # Advertising
//
// An Advertiser announces a root device with its embedded devices and
// services: for the root upnp:rootdevice, uuid:UUID and its type; for
// each embedded device its uuid and type; for each device each service
// type (UDA 1.1 §1.1.2). On an interface that comes up or changes address
// it sends that set of ssdp:alive NOTIFYs within 100 ms, again a second
// later (one lost datagram should not hide the device for half an hour),
// then every 40% to 50% of max-age (1800 s by default), so that every
// advertisement is renewed before half its lifetime is gone. Each NOTIFY
// leaves by one interface, and its LOCATION is http://ADDR:Port/Path with
// that interface's address (for IPv6 its global or unique-local address,
// else its link-local one). SetBootID sends ssdp:update with NEXTBOOTID,
// then announces with the new BOOTID (UDA 1.1 §1.2.4); Close sends
// ssdp:byebye for every target on every interface.
//
// # Answers
//
// An M-SEARCH's source address is whatever its sender wrote, and one
// small search for ssdp:all draws a response per target, so an
// Advertiser that answered everything would be anyone's amplifier. It
// answers an M-SEARCH only when:
//
//   - it came to the SSDP group or to an address of this host, never to a
//     broadcast address (one forged search to the subnet's broadcast
//     address in a victim's name would make every device answer the
//     victim; Stats.BadDst);
//   - MAN is "ssdp:discover", and a multicast one has an MX of at least 1
//     (UDA 1.1 §1.3.2; Stats.BadMAN, BadMX);
//   - its source port is 1024 or above: no control point searches from a
//     privileged port, and echo or chargen servers listen on them
//     (Stats.BadPort);
//   - its source is a neighbour on the arrival interface, as above
//     (Stats.OffLink): a search forged with an off-link source, or sent
//     through a router, draws nothing;
//   - the source and all sources together are within their rate:
//     ResponseBurst (three full answers to ssdp:all) at once and
//     ResponseRate (one full answer) a second per source, TotalRate (16
//     full answers a second) in all. A search that would go over is not
//     answered at all (Stats.RateLimited).
//
// A search draws one response per matching target, never more: the same
// search again while its answers wait adds none (Stats.Duplicate). Each
// response waits its own random delay within MX (capped at MaxMX, 5 s,
// less 100 ms for the way), or none for a unicast search, and goes by
// unicast to the searcher, from the address of the interface the search
// came in by, with that address in LOCATION.
//
// A neighbour's own address, spoofed by another neighbour, cannot be told
// from the neighbour itself: the per-source rate is what bounds what it
// receives.
//
// # Links
//
// Browse and Announce open lanlink Links: one socket per family on port
// 1900 with SO_REUSEADDR and SO_REUSEPORT (sharing the port with
// miniupnpd, minissdpd, gssdp or another bcast on the host), the groups
// joined on every multicast interface by index, multicast TTL 2 (UDA 1.1
// §1.1.2; LinkConfig.MulticastTTL), interfaces followed over netlink. A
// Browser searches from a second Link on an ephemeral port, since a
// unicast answer to the shared port 1900 would reach only one of the
// programs there.
//
// A Browser's events are queued for Events in order; a reader that falls
// 4×MaxEntries events behind loses the newest, counted in
// Stats.EventsDropped.
//
// # Description
//
// A UPnP control point fetches the document at LOCATION. Description
// builds a minimal one (specVersion 1.1, deviceType, friendlyName,
// manufacturer, modelName, UDN, embedded devices); DescriptionHandler
// serves it; AnnounceConfig.Describe makes the Announcer serve it on
// Port at Path, answering only connections made to an address of an
// interface it announces on.
//
// # UPnP Device Architecture 1.1 compliance
//
//	§1.1.2 multicast 239.255.255.250 and ff02::c, TTL 2      done (ff05::c is matched on receipt, not joined)
//	§1.1.3 UUIDs, USN forms                                   done
//	§1.2.2 ssdp:alive set, random delay < 100 ms, repeats     done
//	§1.2.3 ssdp:byebye                                        done
//	§1.2.4 ssdp:update, NEXTBOOTID                            done (sent by SetBootID, followed by the Searcher)
//	§1.2.2 SEARCHPORT.UPNP.ORG                                parsed; not sent (the Advertiser always uses 1900)
//	§1.3.2 multicast M-SEARCH, MX 1..5, MAN                   done
//	§1.3.2 unicast M-SEARCH                                   done, both ways
//	§1.3.3 responses: CACHE-CONTROL, EXT, LOCATION, SERVER,
//	       ST, USN, BOOTID, CONFIGID; delay within MX         done (no DATE header: it is optional)
//	§1.3.3 version matching in ST                             done
//	§2.3   description document                               minimal: devices, no service list
//
// # Network namespaces
//
// Sockets are opened, and interfaces listed, in the network namespace of
// the thread that calls Browse or Announce; the Links keep working there
// from any goroutine afterwards.
package ssdp
