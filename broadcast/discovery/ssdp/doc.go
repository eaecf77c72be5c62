// Package ssdp is SSDP, the discovery protocol of UPnP (UPnP Device
// Architecture 1.1, §1), per interface: a codec, and a Searcher and an
// Advertiser engine that never touch a socket.
//
// # Messages
//
// SSDP messages are HTTP/1.1 over UDP: M-SEARCH and NOTIFY requests for
// "*" and 200 OK responses, one per datagram. Parse reads them with
// net/http's ReadRequest and ReadResponse; Message.Append writes them with
// the header lines in the order and spelling of the UDA (HOST, MAN, MX,
// ST, NT, NTS, USN, LOCATION, CACHE-CONTROL: max-age=N, SERVER, EXT,
// BOOTID.UPNP.ORG, CONFIGID.UPNP.ORG), each ended by CRLF, and refuses a
// value holding CR or LF.
//
// # Engines
//
// A Searcher and an Advertiser are state machines driven by a clock and
// by packets, in the manner of the mdns package's engines. The link
// layer:
//
//   - tells them about interfaces (UpdateInterface, RemoveInterface);
//   - hands them each datagram with its arrival interface, source and
//     destination (HandlePacket);
//   - calls Poll at NextDeadline and sends every Output out of its
//     interface, from that interface's own address;
//   - reads the Searcher's Events.
//
// Everything takes the time as an argument, so tests run them with a fake
// clock and no sleeps.
package ssdp
