package netns

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// A NIC is one end of a veth pair inside a Host; the other end is a port of
// the LAN's bridge.
type NIC struct {
	host  *Host
	lan   *LAN
	name  string
	peer  string
	addr4 netip.Addr
	addr6 netip.Addr
	index int

	removed bool // guarded by lab.mu
}

// Attach connects h to lan through a new veth pair: ifname inside the host,
// its peer a port of the LAN bridge. v4 gets the LAN's IPv4 prefix length
// and the broadcast address the kernel derives from it; v6 is added with
// nodad. Either address may be the zero Addr to leave that family
// unconfigured. Attach returns once the link has carrier, the addresses
// (and the IPv6 link-local address) can be bound, and the bridge port is
// forwarding, or fails the test after ReadyTimeout naming what did not
// come up.
func (h *Host) Attach(lan *LAN, ifname string, v4, v6 netip.Addr) *NIC {
	h.lab.t.Helper()
	n, err := h.attach(lan, ifname, v4, v6)
	if err != nil {
		h.lab.t.Fatal(err)
	}
	return n
}

func (h *Host) attach(lan *LAN, ifname string, v4, v6 netip.Addr) (*NIC, error) {
	l := h.lab
	l.t.Helper()
	what := fmt.Sprintf("netns: attach %s to %s as %s", h, lan, ifname)
	if lan.lab != l {
		return nil, fmt.Errorf("%s: the LAN belongs to lab %s", what, lan.lab.prefix)
	}
	if err := checkIfName(ifname); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkAddr(v4, lan.v4, true); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkAddr(v6, lan.v6, false); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	n := &NIC{host: h, lan: lan, name: ifname, addr4: v4, addr6: v6}

	l.mu.Lock()
	err := func() error {
		if h.ns.gone() || lan.ns.gone() {
			return errDeleted
		}
		for _, o := range h.nics {
			if o.name == ifname && !o.removed {
				return fmt.Errorf("%s already has %s", h, ifname)
			}
		}
		for _, a := range []netip.Addr{v4, v6} {
			if o := lan.addrs[a]; a.IsValid() && o != nil {
				return fmt.Errorf("address %v is already used by %s", a, o)
			}
		}
		// A readable port name when it fits, a numbered one otherwise.
		n.peer = h.name + "-" + ifname
		if len(n.peer) > ifNameMax || lan.ports[n.peer] {
			l.peers++
			n.peer = "p" + strconv.Itoa(l.peers)
		}
		lan.ports[n.peer] = true
		for _, a := range []netip.Addr{v4, v6} {
			if a.IsValid() {
				lan.addrs[a] = n
			}
		}
		return nil
	}()
	l.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}

	// The pair is created from inside the LAN with its host end placed
	// straight into the host, so neither end ever exists in the root
	// namespace.
	err = l.ip(lan.ns.name,
		[]string{"link", "add", n.peer, "type", "veth", "peer", "name", ifname, "netns", h.ns.name},
		[]string{"link", "set", n.peer, "master", BridgeName},
		[]string{"link", "set", n.peer, "up"},
	)
	if err != nil {
		return nil, err
	}
	// No undo step of its own: the pair lives only in this Lab's
	// namespaces and the kernel destroys it with them.
	l.mu.Lock()
	h.nics = append(h.nics, n)
	l.mu.Unlock()

	var cmds [][]string
	if v4.IsValid() {
		cmds = append(cmds, []string{"addr", "add", netip.PrefixFrom(v4, lan.v4.Bits()).String(), "brd", "+", "dev", ifname})
	}
	if v6.IsValid() {
		cmds = append(cmds, []string{"addr", "add", netip.PrefixFrom(v6, lan.v6.Bits()).String(), "dev", ifname, "nodad"})
	}
	cmds = append(cmds, []string{"link", "set", ifname, "up"})
	if err := l.ip(h.ns.name, cmds...); err != nil {
		return nil, err
	}
	idx, err := n.waitReady()
	if err != nil {
		return nil, err
	}
	n.index = idx
	return n, nil
}

// checkAddr accepts the zero Addr, or an address of the right family inside
// subnet that is neither the subnet's own address nor (IPv4) its broadcast.
func checkAddr(a netip.Addr, subnet netip.Prefix, v4 bool) error {
	if !a.IsValid() {
		return nil
	}
	family := "IPv6"
	if v4 {
		family = "IPv4"
	}
	if a.Is4() != v4 || a.Is4In6() || a.Zone() != "" {
		return fmt.Errorf("%v is not a plain %s address", a, family)
	}
	if !subnet.IsValid() {
		return fmt.Errorf("%v given, but the LAN has no %s subnet", a, family)
	}
	if !subnet.Contains(a) {
		return fmt.Errorf("%v is outside the LAN's subnet %v", a, subnet)
	}
	if subnet.Bits() < a.BitLen()-1 && a == subnet.Addr() {
		return fmt.Errorf("%v is the subnet address of %v", a, subnet)
	}
	if v4 && subnet.Bits() <= 30 && a == broadcast4(subnet) {
		return fmt.Errorf("%v is the broadcast address of %v", a, subnet)
	}
	return nil
}

// Name returns the interface name inside the host.
func (n *NIC) Name() string { return n.name }

// Index returns the interface index inside the host.
func (n *NIC) Index() int { return n.index }

// Addr4 returns the NIC's IPv4 address (zero if none).
func (n *NIC) Addr4() netip.Addr { return n.addr4 }

// Addr6 returns the NIC's IPv6 address (zero if none).
func (n *NIC) Addr6() netip.Addr { return n.addr6 }

// Host returns the host the NIC belongs to.
func (n *NIC) Host() *Host { return n.host }

// LAN returns the LAN the NIC is attached to.
func (n *NIC) LAN() *LAN { return n.lan }

// Peer returns the name of the NIC's bridge port inside the LAN namespace,
// e.g. for `tc -n LAN.NS() qdisc add dev PEER root netem loss 10%`.
func (n *NIC) Peer() string { return n.peer }

func (n *NIC) String() string {
	return n.name + " of " + n.host.String() + " on " + n.lan.String()
}

// SetDown sets the host side of the link down. The bridge side then loses
// carrier, so nothing reaches the host through this NIC. Addresses stay.
func (n *NIC) SetDown() {
	l := n.host.lab
	l.t.Helper()
	if err := l.ip(n.host.ns.name, []string{"link", "set", n.name, "down"}); err != nil {
		l.t.Fatal(err)
	}
}

// SetUp sets the link up again and waits, as Attach does, until it is usable.
func (n *NIC) SetUp() {
	l := n.host.lab
	l.t.Helper()
	if err := l.ip(n.host.ns.name, []string{"link", "set", n.name, "up"}); err != nil {
		l.t.Fatal(err)
	}
	if _, err := n.waitReady(); err != nil {
		l.t.Fatal(err)
	}
}

// Remove deletes the NIC's veth pair, both ends, as when an adapter is
// unplugged; Attach with the same name makes a new one, with a new index.
func (n *NIC) Remove() {
	l := n.host.lab
	l.t.Helper()
	if err := l.ip(n.host.ns.name, []string{"link", "delete", n.name}); err != nil {
		l.t.Fatal(err)
	}
	n.markRemoved()
}

// markRemoved frees the NIC's port name and addresses on its LAN.
func (n *NIC) markRemoved() {
	l := n.host.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	n.removed = true
	delete(n.lan.ports, n.peer)
	for _, a := range []netip.Addr{n.addr4, n.addr6} {
		if n.lan.addrs[a] == n {
			delete(n.lan.addrs, a)
		}
	}
}

// waitReady polls, with a growing pause, until both probes succeed or
// ReadyTimeout has passed, and returns the interface index.
func (n *NIC) waitReady() (int, error) {
	n.host.lab.t.Helper()
	deadline := time.Now().Add(ReadyTimeout)
	pause := time.Millisecond
	for {
		idx, err := n.probeHost()
		if err == nil {
			err = n.probePort()
		}
		if err == nil {
			return idx, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("netns: %s did not come up within %v: %w", n, ReadyTimeout, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// probeHost checks from inside the host that the link is up with carrier
// and that each address can be bound, which the kernel refuses while an
// IPv6 address is still tentative.
func (n *NIC) probeHost() (int, error) {
	idx := 0
	err := n.host.Do(func() error {
		ifi, err := net.InterfaceByName(n.name)
		if err != nil {
			return err
		}
		if ifi.Flags&net.FlagUp == 0 {
			return fmt.Errorf("%s is down", n.name)
		}
		if ifi.Flags&net.FlagRunning == 0 {
			return fmt.Errorf("%s has no carrier yet (flags %v)", n.name, ifi.Flags)
		}
		var try []netip.Addr
		if n.addr4.IsValid() {
			try = append(try, n.addr4)
		}
		if n.addr6.IsValid() {
			try = append(try, n.addr6)
			ll, err := linkLocal(ifi)
			if err != nil {
				return err
			}
			try = append(try, ll)
		}
		for _, a := range try {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
			if err != nil {
				return fmt.Errorf("address %v on %s is not usable yet: %w", a, n.name, err)
			}
			c.Close()
		}
		idx = ifi.Index
		return nil
	})
	return idx, err
}

func linkLocal(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
				// A numeric zone: Go resolves zone names through a
				// process-wide cache that may hold another namespace's
				// index for the same name.
				return ip.WithZone(strconv.Itoa(ifi.Index)), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no IPv6 link-local address yet", ifi.Name)
}

// probePort checks that the bridge port is up and forwarding. With STP off
// the kernel makes a port forward as soon as it has carrier; this confirms
// it rather than trusting it.
func (n *NIC) probePort() error {
	l := n.host.lab
	l.t.Helper()
	out, err := l.ipOutput(n.lan.ns.name, []string{"-json", "-details", "link", "show", "dev", n.peer})
	if err != nil {
		return err
	}
	var links []struct {
		OperState string `json:"operstate"`
		Master    string `json:"master"`
		LinkInfo  struct {
			SlaveData struct {
				State string `json:"state"`
			} `json:"info_slave_data"`
		} `json:"linkinfo"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return fmt.Errorf("bridge port %s: ip -json output: %w", n.peer, err)
	}
	if len(links) != 1 {
		return fmt.Errorf("bridge port %s: ip listed %d links, want 1", n.peer, len(links))
	}
	p := links[0]
	switch {
	case p.Master != BridgeName:
		return fmt.Errorf("bridge port %s has master %q, want %s", n.peer, p.Master, BridgeName)
	case p.OperState != "UP":
		return fmt.Errorf("bridge port %s is %s, want UP", n.peer, p.OperState)
	case p.LinkInfo.SlaveData.State != "forwarding":
		return fmt.Errorf("bridge port %s is in state %q, want forwarding", n.peer, p.LinkInfo.SlaveData.State)
	}
	return nil
}
