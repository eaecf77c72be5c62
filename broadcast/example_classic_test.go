package broadcast_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/bcastdev/bcast/broadcast"
)

// The UDP broadcast sender of the classic manual's user notes
// (socket_set_option SO_BROADCAST, then socket_sendto 255.255.255.255:4096)
// done right on a host with several interfaces: a limited broadcast leaves
// by one interface only, the one the routing table picks, unless the
// sender names it. broadcast.Sender sets SO_BROADCAST and picks the
// interface per datagram (IP_PKTINFO).
//
// On a LAN the call is
//
//	s, _ := broadcast.NewSender(broadcast.SenderConfig{Iface: "eth0"})
//	s.Send([]byte("hello"), netip.MustParseAddrPort("255.255.255.255:4096"))
//
// or SendAllLimited for every interface at once. This example keeps its
// traffic on this machine: loopback's own broadcast address,
// 127.255.255.255, reaches the local listener and nothing else.
func Example_broadcastSender() {
	rx, err := broadcast.Listen(broadcast.ReceiverConfig{Addr: netip.MustParseAddrPort("0.0.0.0:0")})
	if err != nil {
		log.Fatal(err)
	}
	defer rx.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), rx.LocalAddr().Port()) // port 4096 in the note

	s, err := broadcast.NewSender(broadcast.SenderConfig{Iface: "lo"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Send([]byte("hello, everyone"), to); err != nil {
		log.Fatal(broadcast.Explain(err))
	}

	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	pkts := make([]broadcast.Packet, 1)
	if _, err := rx.Receive(context.Background(), pkts); err != nil {
		log.Fatal(err)
	}
	p := pkts[0]
	fmt.Printf("%q: %s to %v on %s\n", p.Data, p.Kind, p.Dst, p.IfName)
	// Output: "hello, everyone": broadcast to 127.255.255.255 on lo
}
