// Package mdns is multicast DNS (RFC 6762) and DNS-based service discovery
// (RFC 6763) without sockets: a codec on golang.org/x/net/dns/dnsmessage,
// and engines that a link layer drives with packets and a clock.
package mdns
