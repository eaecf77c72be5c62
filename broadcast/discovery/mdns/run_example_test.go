package mdns_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/mdns"
)

// These examples talk on the LAN, so they are compiled but not run by go
// test; run_test.go runs the same calls inside network namespaces.

// Browse the web servers on the LAN, as avahi-browse -r _http._tcp does:
// each instance resolved, per interface, until interrupted.
func ExampleNewBrowser() {
	b, err := mdns.NewBrowser(mdns.BrowserConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Browse("_http._tcp", ""); err != nil {
		log.Fatal(err)
	}
	for ev := range b.Events() {
		fmt.Println(ev.Kind, mdns.FormatInstanceName(ev.Instance, ev.Service), "on", ev.IfName,
			"at", ev.Host, ev.Port, ev.Addrs, ev.Text)
	}
}

// Publish a web server, print its final name after any conflict, and say
// goodbye on Close.
func ExampleNewServer() {
	s, err := mdns.NewServer(mdns.ServerConfig{ResponderConfig: mdns.ResponderConfig{Host: "alpha"}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	id, err := s.Register(mdns.Service{Instance: "My Web", Type: "_http._tcp", Port: 8080,
		Text: []mdns.TXTItem{{Key: "path", Value: []byte("/"), HasValue: true}}})
	if err != nil {
		log.Fatal(err)
	}
	for ev := range s.Events() {
		switch {
		case ev.Kind == mdns.Renamed:
			fmt.Printf("%q is taken: now %q\n", ev.OldName, ev.Name)
		case ev.Kind == mdns.Registered && ev.Service == id:
			name, _ := s.Name(id)
			fmt.Printf("published as %q on interface %d\n", name, ev.IfIndex)
		}
	}
}

// Resolve a host name once, as avahi-resolve -n does.
func ExampleLookupHost() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	evs, err := mdns.LookupHost(ctx, mdns.BrowserConfig{}, "printer.local")
	if err != nil {
		log.Fatal(err) // errors.Is(err, mdns.ErrNoAnswer) when nobody answered
	}
	for _, ev := range evs {
		fmt.Println(ev.Name, ev.IfName, ev.Addrs)
	}
}

// List the service types on the LAN for two seconds.
func ExampleServiceTypes() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	types, err := mdns.ServiceTypes(ctx, mdns.BrowserConfig{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(types)
}
