package broadcast

import (
	"fmt"
	"net/netip"

	"github.com/bcastdev/bcast/dgram"
)

// Connect fixes the socket's peer to to with connect(2), the fast path for
// a stream of datagrams to one destination. The kernel looks the route up
// once, here, instead of once per sendmsg, and datagrams to to go without
// an address (Send, SendVia, SendBatch and SendMany notice the
// destination). It pays most for small datagrams sent one or a batch at a
// time; a GSO send already shares one lookup among its segments.
//
// Connecting changes the socket, not only its sends:
//   - it receives only datagrams from to: replies from anyone else to
//     LocalAddr are dropped by the kernel;
//   - its source address becomes the one the kernel chose for to, and a
//     send elsewhere leaves from it unless cfg.Src or the fan-outs' per
//     interface source (IP_PKTINFO) names another;
//   - an ICMP port unreachable from to makes a later send fail with
//     ECONNREFUSED, which an unconnected socket never hears of.
//
// So connect a Sender that talks to one destination, not one that fans
// out (SendAllLimited, SendAllDirected) or that expects replies from
// several hosts. With Iface or Src set every datagram carries IP_PKTINFO,
// and the kernel then looks the route up per datagram anyway: Connect only
// saves the address. Iface with BindDevice (and no Src) is the exception:
// the socket is bound to the interface, so datagrams to the peer go
// without IP_PKTINFO and keep the route.
//
// Connect(netip.AddrPort{}) dissolves the association; Peer returns the
// current one.
func (s *Sender) Connect(to netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !to.IsValid() {
		if err := s.sock.Connect(dgram.Addr{}); err != nil {
			return err
		}
		s.peer = netip.AddrPort{}
		return nil
	}
	if !s.v6 && !to.Addr().Unmap().Is4() {
		return fmt.Errorf("broadcast: cannot connect udp4 to IPv6 address %v", to)
	}
	if err := s.sock.Connect(dgram.AddrFrom(to)); err != nil {
		return err // the kernel keeps the old association, if any
	}
	s.peer = to
	return nil
}

// Peer is the destination the socket is connected to, or the zero
// AddrPort.
func (s *Sender) Peer() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer
}

// dest is the address a datagram to to carries: none when the socket is
// connected to to, which is what lets the kernel use the route it keeps.
func (s *Sender) dest(to netip.AddrPort) dgram.Addr {
	if s.peer.IsValid() && to == s.peer {
		return dgram.Addr{}
	}
	return dgram.AddrFrom(to)
}
