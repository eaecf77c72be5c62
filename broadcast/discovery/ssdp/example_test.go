package ssdp_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/ssdp"
)

func ExampleParse() {
	m, err := ssdp.Parse([]byte("NOTIFY * HTTP/1.1\r\n" +
		"HOST: 239.255.255.250:1900\r\n" +
		"CACHE-CONTROL: max-age=1800\r\n" +
		"LOCATION: http://10.0.0.1:5000/rootDesc.xml\r\n" +
		"NT: upnp:rootdevice\r\n" +
		"NTS: ssdp:alive\r\n" +
		"USN: uuid:6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f::upnp:rootdevice\r\n" +
		"BOOTID.UPNP.ORG: 7\r\n\r\n"))
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Kind, m.NTS, m.NT, m.MaxAge, m.BootID, m.Location)
	// Output: NOTIFY ssdp:alive upnp:rootdevice 1800 7 http://10.0.0.1:5000/rootDesc.xml
}

// An Advertiser driven by hand: the first announcement on an interface,
// with LOCATION on that interface's address.
func ExampleAdvertiser() {
	a, err := ssdp.NewAdvertiser(ssdp.AdvertiserConfig{
		Root: ssdp.Device{UUID: "uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b", Type: "urn:schemas-upnp-org:device:Basic:1"},
		Port: 8080, Network: "udp4", BootID: 1,
	})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.UpdateInterface(now, ssdp.Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagMulticast,
		Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24")}})
	for _, o := range a.Poll(a.NextDeadline()) {
		m, _ := ssdp.Parse(o.Payload)
		fmt.Println(o.Dst, m.NT, m.Location)
	}
	// Output:
	// 239.255.255.250:1900 upnp:rootdevice http://192.168.1.10:8080/description.xml
	// 239.255.255.250:1900 uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b http://192.168.1.10:8080/description.xml
	// 239.255.255.250:1900 urn:schemas-upnp-org:device:Basic:1 http://192.168.1.10:8080/description.xml
}
