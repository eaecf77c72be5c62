package discovery_test

import (
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery"
)

// onLoopback keeps the examples on this host: loopback can neither
// broadcast nor multicast, but 127.255.255.255 reaches every socket bound
// to the port on lo. On a LAN, leave Link zero.
func onLoopback(port uint16) discovery.Link {
	return discovery.Link{
		Port:         port,
		Interfaces:   []string{"lo"},
		Destinations: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), port)},
	}
}

// wait returns the next event, or gives up after five seconds.
func wait(b *discovery.Browser) discovery.Event {
	select {
	case ev := <-b.Events():
		return ev
	case <-time.After(5 * time.Second):
		log.Fatal("no event")
	}
	return discovery.Event{}
}

// Announce a printer, see a Browser find it, change what it says about
// itself, and say goodbye.
func ExampleAnnounce() {
	link := onLoopback(62281)
	b, err := discovery.Browse(discovery.BrowserConfig{Service: "printer", Link: link})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	a, err := discovery.Announce(discovery.AnnouncerConfig{
		Service:  "printer",
		Instance: "office-1",
		Port:     631,
		Text:     map[string]string{"model": "LX-9", "color": "yes"},
		Link:     link,
	})
	if err != nil {
		log.Fatal(err)
	}
	ev := wait(b)
	fmt.Println(ev.Kind, ev.Peer.Instance, ev.Peer.Port, ev.Peer.Text)

	a.Update(map[string]string{"model": "LX-9", "color": "yes", "paper": "low"})
	ev = wait(b)
	fmt.Println(ev.Kind, ev.Peer.Instance, ev.Peer.Text)

	a.Close()
	ev = wait(b)
	fmt.Println(ev.Kind, ev.Peer.Instance, "goodbye:", ev.Goodbye)
	// Output:
	// found office-1 631 map[color:yes model:LX-9]
	// updated office-1 map[color:yes model:LX-9 paper:low]
	// lost office-1 goodbye: true
}

// Browse every service: a Browser started after the Announcers finds them
// at once by asking, then lists what it knows.
func ExampleBrowse() {
	link := onLoopback(62282)
	for _, s := range []struct {
		service, instance string
		port              uint16
	}{{"printer", "office-1", 631}, {"scanner", "hall", 6566}} {
		a, err := discovery.Announce(discovery.AnnouncerConfig{
			Service: s.service, Instance: s.instance, Port: s.port, Link: link,
		})
		if err != nil {
			log.Fatal(err)
		}
		defer a.Close()
	}

	b, err := discovery.Browse(discovery.BrowserConfig{Link: link}) // every service
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	wait(b)
	wait(b)
	for _, p := range b.Peers() {
		fmt.Printf("%s/%s port %d on %v\n", p.Service, p.Instance, p.Port, p.Interfaces)
	}
	// Output:
	// printer/office-1 port 631 on [lo]
	// scanner/hall port 6566 on [lo]
}
