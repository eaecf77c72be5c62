package broadcast_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"strings"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"golang.org/x/sys/unix"
)

// A receiver on the wildcard address hears a broadcast and knows it for one.
// 127.255.255.255 is the loopback interface's own subnet broadcast, so the
// example stays on this host.
func ExampleListen() {
	r, err := broadcast.Listen(broadcast.ReceiverConfig{}) // 0.0.0.0, ephemeral port
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	s, err := broadcast.NewSender(broadcast.SenderConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), r.LocalAddr().Port())
	if err := s.Send([]byte("hello"), to); err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	packets := make([]broadcast.Packet, 32)
	n, err := r.Receive(ctx, packets)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range packets[:n] {
		fmt.Printf("%s to %v on %s, own=%v: %s\n", p.Kind, p.Dst, p.IfName, p.Own, p.Data)
	}
	// Output: broadcast to 127.255.255.255 on lo, own=true: hello
}

// A receive loop that answers every query, from the address the asker can
// reach, and ignores this host's own broadcasts.
func ExampleReceiver_Reply() {
	r, err := broadcast.Listen(broadcast.ReceiverConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	asker, err := broadcast.NewSender(broadcast.SenderConfig{Local: netip.MustParseAddrPort("127.0.0.9:0")})
	if err != nil {
		log.Fatal(err)
	}
	defer asker.Close()
	if err := asker.Send([]byte("who is there?"), netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), r.LocalAddr().Port())); err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	packets := make([]broadcast.Packet, 32)
	n, err := r.Receive(ctx, packets)
	if err != nil {
		log.Fatal(err)
	}
	for i := range packets[:n] {
		if err := r.Reply(&packets[i], []byte("here")); err != nil {
			log.Fatal(err)
		}
	}

	asker.Socket().SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	m, from, err := asker.Socket().RecvFrom(buf, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from %v\n", buf[:m], from.AddrPort.Addr())
	// Output: here from 127.0.0.1
}

// Announce on every LAN this host is on, whatever the routing table says,
// and report per interface. (Not run as a test: it sends on real links.)
func ExampleSender_SendAllLimited() {
	s, err := broadcast.NewSender(broadcast.SenderConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	results, err := s.SendAllLimited([]byte("hello, LAN"), 9999)
	for _, r := range results {
		if r.Err != nil {
			fmt.Printf("%s: %v\n  %s\n", r.Iface.Name, r.Err, broadcast.Explain(r.Err))
			continue
		}
		fmt.Printf("%s: sent to %v from %v\n", r.Iface.Name, r.To, r.Src)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// List the interfaces broadcasts can leave by, and why the others cannot.
func ExampleInterfaces() {
	ifs, err := broadcast.Interfaces()
	if err != nil {
		log.Fatal(err)
	}
	for _, ifi := range ifs {
		if ok, why := ifi.CanBroadcast(); !ok {
			fmt.Printf("%s: cannot broadcast: %s\n", ifi.Name, why)
			continue
		}
		for _, a := range ifi.IPv4() {
			fmt.Printf("%s: %v broadcasts to %v\n", ifi.Name, a.Prefix, a.Broadcast)
		}
	}
}

func ExampleExplain() {
	err := fmt.Errorf("send: %w", unix.ENETUNREACH)
	if errors.Is(err, unix.ENETUNREACH) {
		first, _, _ := strings.Cut(broadcast.Explain(err), ".")
		fmt.Println(first + ".")
	}
	// Output: The kernel has no route for that destination.
}

// A stream of equal-size datagrams to one destination: connected, sent with
// GSO (up to 64 datagrams per system call), received with GRO (one buffer
// per run, split back into datagrams). Either end falls back by itself
// where the kernel or the interface does not offer the offload.
func ExampleSender_SendMany() {
	r, err := broadcast.Listen(broadcast.ReceiverConfig{GRO: true, Addr: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	s, err := broadcast.NewSender(broadcast.SenderConfig{GSO: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Connect(r.LocalAddr()); err != nil { // one destination: the kernel keeps its route
		log.Fatal(err)
	}

	payloads := make([][]byte, 10)
	for i := range payloads {
		payloads[i] = fmt.Appendf(nil, "datagram %d", i) // 10 bytes each
	}
	n, err := s.SendMany(payloads, r.LocalAddr())
	fmt.Println(n, err, s.Path())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := make([]broadcast.Packet, 16)
	for got := 0; got < n; {
		k, err := r.Receive(ctx, out)
		if err != nil {
			log.Fatal(err)
		}
		for _, p := range out[:k] {
			if got == 0 || got == n-1 {
				fmt.Printf("%s (%d bytes)\n", p.Data, p.Size)
			}
			got++
		}
	}
	fmt.Println("coalesced:", r.Coalesced())
	// Output:
	// 10 <nil> gso
	// datagram 0 (10 bytes)
	// datagram 9 (10 bytes)
	// coalesced: 10
}
