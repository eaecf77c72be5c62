package ssdp

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/lanlink"
	"golang.org/x/sys/unix"
)

type xmlRoot struct {
	XMLName  xml.Name  `xml:"urn:schemas-upnp-org:device-1-0 root"`
	ConfigID int64     `xml:"configId,attr"`
	Spec     xmlSpec   `xml:"specVersion"`
	Device   xmlDevice `xml:"device"`
}

type xmlSpec struct {
	Major int `xml:"major"`
	Minor int `xml:"minor"`
}

type xmlDevice struct {
	DeviceType   string      `xml:"deviceType"`
	FriendlyName string      `xml:"friendlyName"`
	Manufacturer string      `xml:"manufacturer"`
	ModelName    string      `xml:"modelName"`
	UDN          string      `xml:"UDN"`
	Devices      []xmlDevice `xml:"deviceList>device,omitempty"`
}

func toXML(d *Device) xmlDevice {
	name := d.FriendlyName
	if name == "" {
		// "urn:schemas-upnp-org:device:Basic:1" is a "Basic".
		parts := strings.Split(d.Type, ":")
		name = parts[len(parts)-2]
	}
	x := xmlDevice{DeviceType: d.Type, FriendlyName: name, Manufacturer: "bcast", ModelName: "bcast", UDN: d.udn()}
	for i := range d.Devices {
		x.Devices = append(x.Devices, toXML(&d.Devices[i]))
	}
	return x
}

// Description returns a minimal UPnP device description document (UDA
// 1.1 §2.3) for root: specVersion 1.1, and for the root and each embedded
// device its deviceType, friendlyName, manufacturer and modelName
// ("bcast"), and UDN. It lists no services: a service entry needs SCPD,
// control and event URLs, which only the device's own server can give.
func Description(root Device, configID int64) ([]byte, error) {
	if err := root.check(); err != nil {
		return nil, err
	}
	doc := xmlRoot{ConfigID: configID, Spec: xmlSpec{1, 1}, Device: toXML(&root)}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// DescriptionHandler serves Description(root, configID) at path, to GET
// and HEAD, and 404 elsewhere.
func DescriptionHandler(root Device, configID int64, path string) (http.Handler, error) {
	doc, err := Description(root, configID)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		if r.Method == http.MethodGet {
			w.Write(doc)
		}
	}), nil
}

// describer is the Announcer's description server: one TCP listener on
// every address, which hangs up on a connection that did not come to an
// address of an interface the Announcer speaks on, so that a host that
// announces on its LAN only does not describe itself to another network.
type describer struct {
	srv *http.Server
	ln  net.Listener
}

func describe(root Device, configID int64, port uint16, path string, l *lanlink.Link) (*describer, error) {
	h, err := DescriptionHandler(root, configID, path)
	if err != nil {
		return nil, err
	}
	// "tcp" on the unspecified address takes IPv4 and IPv6 on one socket
	// when the host has IPv6, and IPv4 alone when it has not.
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, fmt.Errorf("ssdp: description server on TCP port %d: %w", port, err)
	}
	d := &describer{
		ln: &onLinkListener{Listener: ln, link: l},
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    8 << 10,
		},
	}
	go d.srv.Serve(d.ln)
	return d, nil
}

func (d *describer) close() error {
	err := d.srv.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

type onLinkListener struct {
	net.Listener
	link *lanlink.Link
}

func (o *onLinkListener) Accept() (net.Conn, error) {
	for {
		c, err := o.Listener.Accept()
		if err != nil {
			return nil, err
		}
		local, ok := c.LocalAddr().(*net.TCPAddr)
		if ok {
			a, _ := netip.AddrFromSlice(local.IP)
			if netipAddrs(o.link)[a.Unmap().WithZone("")] {
				return c, nil
			}
		}
		c.Close()
	}
}

// serverHeader is the SERVER header for this host: "Linux/RELEASE
// UPnP/1.1 bcast/1".
func serverHeader() string {
	var u unix.Utsname
	release := "0"
	if unix.Uname(&u) == nil {
		r := unix.ByteSliceToString(u.Release[:])
		// "6.1.0-18-amd64" -> "6.1.0": a product token's version has no
		// spaces, and the distribution suffix says nothing to a peer.
		if i := strings.IndexFunc(r, func(c rune) bool { return c != '.' && (c < '0' || c > '9') }); i > 0 {
			r = r[:i]
		}
		if r != "" {
			release = r
		}
	}
	return "Linux/" + release + " UPnP/1.1 bcast/1"
}
