package multicast_test

import (
	"encoding/binary"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/multicast"
)

func ExampleParseGroup() {
	for _, s := range []string{
		"239.1.2.3",
		"ff02::fb%eth0",
		"10.0.0.1,232.1.1.1",
		"ff02::fb",
		"10.0.0.1",
	} {
		g, err := multicast.ParseGroup(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: IPv6 %v, source-specific %v\n", g, g.Is6(), g.IsSSM())
	}
	// Output:
	// 239.1.2.3: IPv6 false, source-specific false
	// ff02::fb%eth0: IPv6 true, source-specific false
	// 10.0.0.1,232.1.1.1: IPv6 false, source-specific true
	// multicast: group "ff02::fb": ff02::fb is a link-local scope group and needs its interface as a zone, e.g. ff02::fb%eth0
	// multicast: group "10.0.0.1": 10.0.0.1 is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)
}

// A receiver: bind the group's port on the wildcard address, join on every
// usable interface, say which were left out, and read.
func ExampleJoin() {
	s, err := dgram.ListenPacket("udp4", "0.0.0.0:5000")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	g, err := multicast.ParseGroup("239.1.2.3")
	if err != nil {
		log.Fatal(err)
	}
	joined, skipped, err := multicast.Join(s, g)
	for _, m := range joined {
		fmt.Println("joined", m)
	}
	for _, sk := range skipped {
		fmt.Println("skipped", sk)
	}
	if err != nil {
		// Some interfaces may have been joined all the same.
		log.Print(err)
	}
	buf := make([]byte, 65535)
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := s.RecvFrom(buf, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes from %v\n", n, from)
}

// A sender: pick the interface and how far the datagrams may go.
func ExampleSetInterface() {
	s, err := dgram.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := multicast.SetInterface(s, "eth0"); err != nil {
		log.Fatal(err)
	}
	if err := multicast.SetTTL(s, 4); err != nil {
		log.Fatal(err)
	}
	to, _ := dgram.ParseAddr("239.1.2.3:5000")
	if _, err := s.SendTo([]byte("hello, group"), 0, to); err != nil {
		log.Fatal(err)
	}
}

// A socket that joins nothing still receives every group another socket on
// the host joined, unless multicast-all is off. Join turns it off; a
// socket that only sends, or that filters by itself, can do it by hand.
func ExampleSetMulticastAll() {
	s, err := dgram.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	before, _ := multicast.MulticastAll(s, false)
	if err := multicast.SetMulticastAll(s, false); err != nil {
		log.Fatal(err)
	}
	after, _ := multicast.MulticastAll(s, false)
	fmt.Println("multicast-all", before, "->", after)
	// Output: multicast-all true -> false
}

func ExampleParseIGMP() {
	// The kernel prints each group as the 32-bit number it holds in
	// memory, so 239.1.2.3 is 030201EF on a little-endian machine.
	hex := func(a, b, c, d byte) string {
		return fmt.Sprintf("%08X", binary.NativeEndian.Uint32([]byte{a, b, c, d}))
	}
	igmp := "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n" +
		"2\teth0      :     2      V3\n" +
		"\t\t\t\t" + hex(239, 1, 2, 3) + "     2 0:00000000\t\t0\n" +
		"\t\t\t\t" + hex(224, 0, 0, 1) + "     1 0:00000000\t\t0\n"
	ms, err := multicast.ParseIGMP(strings.NewReader(igmp))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range ms {
		fmt.Println(m)
	}
	// Output:
	// 239.1.2.3 on eth0 (users 2)
	// 224.0.0.1 on eth0 (users 1)
}

func ExampleParseIGMP6() {
	const igmp6 = "2    eth0            ff0200000000000000000000000000fb     1 00000004 0\n" +
		"2    eth0            ff3e0000000000000000000080000001     1 00000004 0\n"
	ms, err := multicast.ParseIGMP6(strings.NewReader(igmp6))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range ms {
		fmt.Println(m.Group, m.IfIndex, m.Users)
	}
	// Output:
	// ff02::fb%eth0 2 1
	// ff3e::8000:1 2 1
}

func ExampleHostMemberships() {
	ms, err := multicast.HostMemberships()
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range ms {
		fmt.Printf("%-8s %-28s %d\n", m.IfName, m.Group.WithZone(""), m.Users)
	}
}
