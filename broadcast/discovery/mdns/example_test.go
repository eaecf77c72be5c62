package mdns_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/mdns"
)

// A responder and a querier on one simulated link, driven the way a link
// layer drives them: each input followed by Poll, a timer on the earliest
// NextDeadline, every datagram handed to both.
func Example() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ifc := func(addr string) mdns.Interface {
		return mdns.Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagMulticast,
			Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}}
	}

	r, err := mdns.NewResponder(mdns.ResponderConfig{Host: "alpha"})
	if err != nil {
		panic(err)
	}
	r.UpdateInterface(now, ifc("192.0.2.1/24"))
	r.Register(now, mdns.Service{Instance: "My Web", Type: "_http._tcp", Port: 8080,
		Text: []mdns.TXTItem{{Key: "path", Value: []byte("/"), HasValue: true}}})

	q := mdns.NewQuerier(mdns.QuerierConfig{})
	q.UpdateInterface(now, ifc("192.0.2.2/24"))
	q.Browse(now, "_http._tcp", "", 0)

	srcOf := map[any]string{r: "192.0.2.1:5353", q: "192.0.2.2:5353"}
	type engine interface {
		Poll(time.Time) []mdns.Output
		NextDeadline() time.Time
		HandlePacket(time.Time, mdns.Packet)
	}
	engines := []engine{r, q}
	for end := now.Add(5 * time.Second); now.Before(end); {
		for _, e := range engines {
			for _, o := range e.Poll(now) {
				p := mdns.Packet{Payload: o.Payload, IfIndex: 2, Src: netip.MustParseAddrPort(srcOf[e]), Dst: o.Dst.Addr(), TTL: 255}
				r.HandlePacket(now, p)
				q.HandlePacket(now, p)
			}
		}
		for _, ev := range q.Events() {
			fmt.Println(ev.Kind, mdns.FormatInstanceName(ev.Instance, ev.Service), ev.Host, ev.Port, ev.Addrs, ev.Text)
		}
		next := end
		for _, e := range engines {
			if d := e.NextDeadline(); !d.IsZero() && d.Before(next) {
				next = d
			}
		}
		now = next
	}
	// Output:
	// found My Web._http._tcp.local. alpha.local. 8080 [192.0.2.1] [path=/]
}
