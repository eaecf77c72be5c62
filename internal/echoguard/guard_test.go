package echoguard

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func dg(src string, payload string) *Datagram {
	return &Datagram{Src: netip.MustParseAddrPort(src), Dest: ToUnicast, Payload: []byte(payload)}
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		d    Datagram
		want Reason
	}{
		{"unicast from a high port", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:40000"), Dest: ToUnicast}, Reply},
		{"no pktinfo", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:40000")}, Reply},
		{"0.0.0.0", nil, Datagram{Src: netip.MustParseAddrPort("0.0.0.0:40000"), Dest: ToBroadcast}, Unspecified},
		{"::", nil, Datagram{Src: netip.MustParseAddrPort("[::]:40000")}, Unspecified},
		{"::ffff:0.0.0.0 on a dual-stack socket", nil, Datagram{Src: netip.MustParseAddrPort("[::ffff:0.0.0.0]:40000")}, Unspecified},
		{"invalid", nil, Datagram{}, Unspecified},
		{"port 0", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:0")}, PortZero},
		{"limited broadcast source", nil, Datagram{Src: netip.MustParseAddrPort("255.255.255.255:40000")}, SourceBroadcast},
		{"mapped limited broadcast source", nil, Datagram{Src: netip.MustParseAddrPort("[::ffff:255.255.255.255]:40000")}, SourceBroadcast},
		{"directed broadcast source", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.255:40000"), SrcBroadcast: true}, SourceBroadcast},
		{"multicast source", nil, Datagram{Src: netip.MustParseAddrPort("239.1.2.3:40000")}, SourceMulticast},
		{"v6 multicast source", nil, Datagram{Src: netip.MustParseAddrPort("[ff02::1]:40000")}, SourceMulticast},
		{"own address from the wire", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.1:40000"), SrcLocal: true, Dest: ToUnicast}, SourceSelf},
		{"own address over loopback", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.1:40000"), SrcLocal: true, Loopback: true, Dest: ToUnicast}, Reply},
		{"own broadcast looped back", func(c *Config) { c.Broadcast = true }, Datagram{Src: netip.MustParseAddrPort("10.0.0.1:40000"), SrcLocal: true, Dest: ToBroadcast}, Reply},
		{"own port", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:7777")}, OwnPort},
		{"chargen", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:19")}, ServicePort},
		{"mdns", nil, Datagram{Src: netip.MustParseAddrPort("[fe80::1%eth0]:5353")}, ServicePort},
		{"service list emptied", func(c *Config) { c.ServicePorts = new(Ports) }, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:19")}, Reply},
		{"broadcast off", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:40000"), Dest: ToBroadcast}, DestBroadcast},
		{"broadcast on", func(c *Config) { c.Broadcast = true }, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:40000"), Dest: ToBroadcast}, Reply},
		{"multicast off", nil, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:40000"), Dest: ToMulticast}, DestMulticast},
		{"multicast on", func(c *Config) { c.Multicast = true }, Datagram{Src: netip.MustParseAddrPort("10.0.0.2:40000"), Dest: ToMulticast}, Reply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig(7777)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			g := New(cfg)
			if got := g.Check(t0, &tt.d); got != tt.want {
				t.Errorf("Check = %v; want %v", got, tt.want)
			}
			if c := g.Counts(); c[tt.want] != 1 {
				t.Errorf("Counts[%v] = %d; want 1", tt.want, c[tt.want])
			}
		})
	}
}

// Two echo servers A and B and one datagram forged from B to A: A answers,
// B answers, A sees its own reply come back and stops; whether the servers
// record their replies with Sent or with Echoed.
func TestTwoEchoServersStop(t *testing.T) {
	for _, echoed := range []bool{false, true} {
		t.Run(map[bool]string{false: "Sent", true: "Echoed"}[echoed], func(t *testing.T) {
			twoEchoServers(t, echoed)
		})
	}
}

func twoEchoServers(t *testing.T, echoed bool) {
	a, b := New(DefaultConfig(7777)), New(DefaultConfig(8888))
	addrA, addrB := netip.MustParseAddrPort("10.0.0.1:7777"), netip.MustParseAddrPort("10.0.0.2:8888")
	payload := []byte("forged")
	now := t0
	packets := 1 // the forged one, to A from "B"
	to, from := a, addrB
	peers := map[*Guard]netip.AddrPort{a: addrA, b: addrB}
	other := map[*Guard]*Guard{a: b, b: a}
	for range 100 {
		d := &Datagram{Src: from, Dest: ToUnicast, Payload: payload}
		if to.Check(now, d) != Reply {
			break
		}
		if echoed {
			to.Echoed(now)
		} else {
			to.Sent(now, from, payload)
		}
		packets++
		now = now.Add(100 * time.Microsecond)
		from, to = peers[to], other[to]
	}
	if packets > 4 {
		t.Errorf("%d datagrams in all; want at most 4", packets)
	}
	if c := a.Counts(); c[Loop] != 1 {
		t.Errorf("A counted %d loops; want 1 (%s)", c[Loop], c.String())
	}
	// B stays held down for a while, then is answered again.
	if r := a.Check(now.Add(time.Second), dg("10.0.0.2:8888", "later")); r != HeldDown {
		t.Errorf("one second after the loop: %v; want %v", r, HeldDown)
	}
	if r := a.Check(now.Add(HoldDown+time.Second), dg("10.0.0.2:8888", "later")); r != Reply {
		t.Errorf("after the hold-down: %v; want %v", r, Reply)
	}
}

func TestSamePayloadLaterIsNoLoop(t *testing.T) {
	g := New(DefaultConfig(7777))
	d := dg("10.0.0.2:40000", "hello")
	if r := g.Check(t0, d); r != Reply {
		t.Fatalf("first: %v", r)
	}
	g.Sent(t0, d.Src, d.Payload)
	if r := g.Check(t0.Add(LoopWindow+time.Millisecond), d); r != Reply {
		t.Errorf("same line typed again after %v: %v; want %v", LoopWindow, r, Reply)
	}
	// From another port of the same host it is another peer.
	g.Sent(t0.Add(2*time.Second), d.Src, d.Payload)
	if r := g.Check(t0.Add(2*time.Second), dg("10.0.0.2:40001", "hello")); r != Reply {
		t.Errorf("same bytes from another port: %v; want %v", r, Reply)
	}
}

// Echoed records only a datagram the last Check let through, once.
func TestEchoedOnlyAfterReply(t *testing.T) {
	cfg := DefaultConfig(7777)
	cfg.Rate, cfg.Burst = 1, 1
	g := New(cfg)
	peer := netip.MustParseAddrPort("10.0.0.2:8888")
	first, second := []byte("first"), []byte("second")
	if r := g.Check(t0, &Datagram{Src: peer, Payload: first}); r != Reply {
		t.Fatalf("first: %v", r)
	}
	if r := g.Check(t0, &Datagram{Src: peer, Payload: second}); r != RateLimited {
		t.Fatalf("second at once: %v; want %v", r, RateLimited)
	}
	// Not answered, so not recorded: it is no loop when it comes again.
	g.Echoed(t0)
	later := t0.Add(2 * time.Second) // the bucket is full again
	if r := g.Check(later, &Datagram{Src: peer, Payload: second}); r != Reply {
		t.Errorf("second again, not echoed: %v; want %v", r, Reply)
	}
	g.Echoed(later)
	if r := g.Check(later, &Datagram{Src: peer, Payload: second}); r != Loop {
		t.Errorf("second again, echoed: %v; want %v", r, Loop)
	}
	// A Check that ends in Loop leaves nothing for Echoed either.
	g.Echoed(later)
	if c := g.Counts(); c[Loop] != 1 || c[Reply] != 2 || c[RateLimited] != 1 {
		t.Errorf("counts %v; want 2 replied, 1 rate limited, 1 loop", c)
	}
}

// An attacker interleaving several loops with one peer is still caught.
func TestInterleavedLoops(t *testing.T) {
	g := New(DefaultConfig(7777))
	peer := netip.MustParseAddrPort("10.0.0.2:8888")
	for i := range 4 {
		p := []byte{byte(i)}
		if r := g.Check(t0, &Datagram{Src: peer, Payload: p}); r != Reply {
			t.Fatalf("loop %d start: %v", i, r)
		}
		g.Sent(t0, peer, p)
	}
	if r := g.Check(t0, &Datagram{Src: peer, Payload: []byte{0}}); r != Loop {
		t.Errorf("first loop's datagram back: %v; want %v", r, Loop)
	}
}

// A peer that changes its payload each time (chargen-like) gets Burst
// replies at once and Rate a second after that.
func TestPerSourceRate(t *testing.T) {
	cfg := DefaultConfig(7777)
	cfg.Rate, cfg.Burst = 100, 10
	g := New(cfg)
	replied := 0
	now := t0
	for i := range 2000 { // 2 s at 1000/s
		d := &Datagram{Src: netip.MustParseAddrPort("10.0.0.2:40000"), Payload: []byte{byte(i), byte(i >> 8)}}
		if g.Check(now, d) == Reply {
			replied++
			g.Sent(now, d.Src, d.Payload)
		}
		// Another source is not affected.
		if i == 1000 {
			if r := g.Check(now, dg("10.0.0.3:40000", "x")); r != Reply {
				t.Errorf("another source while the first is limited: %v", r)
			}
		}
		now = now.Add(time.Millisecond)
	}
	if want := 10 + 200; replied < want-2 || replied > want+1 {
		t.Errorf("replied %d in 2 s; want about %d", replied, want)
	}
	if c := g.Counts(); c[RateLimited] == 0 {
		t.Errorf("nothing counted as rate limited: %s", c.String())
	}
}

func TestLoopbackNotLimited(t *testing.T) {
	cfg := DefaultConfig(7777)
	cfg.Rate, cfg.Burst = 1, 1
	g := New(cfg)
	for i := range 1000 {
		d := &Datagram{Src: netip.MustParseAddrPort("127.0.0.1:40000"), Payload: []byte{byte(i), byte(i >> 8)}, Loopback: true}
		if r := g.Check(t0, d); r != Reply {
			t.Fatalf("datagram %d from loopback: %v", i, r)
		}
		g.Sent(t0, d.Src, d.Payload)
	}
	// A loop over loopback is still a loop: 999 was the last reply.
	if r := g.Check(t0, &Datagram{Src: netip.MustParseAddrPort("127.0.0.1:40000"), Payload: []byte{999 & 0xff, 999 >> 8}, Loopback: true}); r != Loop {
		t.Errorf("repeat of a reply over loopback: %v; want %v", r, Loop)
	}
}

func TestTableFullFailsClosed(t *testing.T) {
	cfg := DefaultConfig(7777)
	cfg.MaxSources = 16
	g := New(cfg)
	src := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000)
	}
	for i := range 16 {
		if r := g.Check(t0, &Datagram{Src: src(i), Payload: []byte("x")}); r != Reply {
			t.Fatalf("source %d: %v", i, r)
		}
	}
	if r := g.Check(t0, &Datagram{Src: src(100), Payload: []byte("x")}); r != TableFull {
		t.Errorf("17th source: %v; want %v", r, TableFull)
	}
	// Known sources are still served.
	if r := g.Check(t0, &Datagram{Src: src(3), Payload: []byte("y")}); r != Reply {
		t.Errorf("known source while full: %v", r)
	}
	// Once the others are idle (buckets full again), room is made.
	later := t0.Add(3 * time.Second)
	if r := g.Check(later, &Datagram{Src: src(100), Payload: []byte("x")}); r != Reply {
		t.Errorf("new source after the others went idle: %v; want %v", r, Reply)
	}
	if g.Sources() > 16 {
		t.Errorf("%d sources remembered; want at most 16", g.Sources())
	}
	if c := g.Counts(); c[TableFull] != 1 {
		t.Errorf("TableFull counted %d; want 1", c[TableFull])
	}
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      string
		has     []uint16
		hasNot  []uint16
		wantErr bool
	}{
		{in: "none", hasNot: []uint16{7, 19}},
		{in: "", hasNot: []uint16{7}},
		{in: "default", has: []uint16{7, 19, 53, 5353}, hasNot: []uint16{8080}},
		{in: "default,8080", has: []uint16{7, 8080}},
		{in: "100-102, 7", has: []uint16{7, 100, 101, 102}, hasNot: []uint16{99, 103}},
		{in: "65535", has: []uint16{65535}},
		{in: "0", wantErr: true},
		{in: "65536", wantErr: true},
		{in: "5-3", wantErr: true},
		{in: "x", wantErr: true},
	}
	for _, tt := range tests {
		p, err := ParsePorts(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParsePorts(%q) error %v; want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		for _, port := range tt.has {
			if !p.Has(port) {
				t.Errorf("ParsePorts(%q) lacks %d", tt.in, port)
			}
		}
		for _, port := range tt.hasNot {
			if p.Has(port) {
				t.Errorf("ParsePorts(%q) has %d", tt.in, port)
			}
		}
	}
}

// FuzzGuard drives a Guard with arbitrary sources, payloads and times: it
// never panics, never remembers more than MaxSources, and a reply it has
// just recorded is never answered again from the same peer.
func FuzzGuard(f *testing.F) {
	f.Add([]byte{10, 0, 0, 2, 0x1e, 0x61, 1, 'a', 0, 10, 0, 0, 2, 0x1e, 0x61, 1, 'a', 0})
	f.Add([]byte{0, 0, 0, 0, 0, 7, 0, 0, 255, 255, 255, 255, 1, 1, 2, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig(7777)
		cfg.MaxSources = 4
		cfg.Rate, cfg.Burst = 10, 2
		g := New(cfg)
		now := t0
		for len(data) >= 9 {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{data[0], data[1], data[2], data[3]}), uint16(data[4])<<8|uint16(data[5]))
			n := int(data[6] % 4)
			flags := data[7]
			data = data[8:]
			n = min(n, len(data))
			payload := data[:n]
			data = data[n:]
			d := &Datagram{Src: src, Dest: Dest(flags % 4), SrcLocal: flags&4 != 0, Loopback: flags&8 != 0, Payload: payload}
			if g.Check(now, d) == Reply {
				if flags&16 != 0 {
					g.Echoed(now)
				} else {
					g.Sent(now, src, payload)
				}
				// Loopback sources are remembered only while there is room.
				if r := g.Check(now, d); r == Reply && !src.Addr().IsLoopback() {
					t.Fatalf("%v: the reply just sent came back and was answered", src)
				}
			}
			if g.Sources() > cfg.MaxSources {
				t.Fatalf("%d sources; MaxSources %d", g.Sources(), cfg.MaxSources)
			}
			now = now.Add(time.Duration(flags) * 10 * time.Millisecond)
		}
	})
}

// The wall clock stepping back (bcast echo passes kernel timestamps) must
// not stretch a hold-down, a remembered reply or the sweep pause to the
// length of the step.
func TestClockSteppedBack(t *testing.T) {
	peer := netip.MustParseAddrPort("10.0.0.2:8888")
	back := t0.Add(-time.Hour)

	t.Run("hold-down", func(t *testing.T) {
		g := New(DefaultConfig(7777))
		p := []byte("x")
		g.Check(t0, &Datagram{Src: peer, Payload: p})
		g.Sent(t0, peer, p)
		if r := g.Check(t0, &Datagram{Src: peer, Payload: p}); r != Loop {
			t.Fatalf("loop: %v; want %v", r, Loop)
		}
		if r := g.Check(back.Add(HoldDown+time.Second), dg(peer.String(), "y")); r != Reply {
			t.Errorf("after a step back of an hour and %v: %v; want %v", HoldDown+time.Second, r, Reply)
		}
	})
	t.Run("table sweep", func(t *testing.T) {
		cfg := DefaultConfig(7777)
		cfg.MaxSources = 1
		g := New(cfg)
		d := dg(peer.String(), "x")
		g.Check(t0, d)
		g.Sent(t0, d.Src, d.Payload)
		// Makes the sweep run at t0, with the one source still busy.
		if r := g.Check(t0, dg("10.0.0.3:40000", "x")); r != TableFull {
			t.Fatalf("second source at once: %v; want %v", r, TableFull)
		}
		if r := g.Check(back.Add(3*time.Second), dg("10.0.0.3:40000", "x")); r != Reply {
			t.Errorf("second source 3 s after a step back of an hour: %v; want %v", r, Reply)
		}
	})
}

// BenchmarkGuard is the Guard's share of answering one datagram: Check,
// then Echoed (or Sent) for the reply, from one sender in a run, as an
// echo server sees a ping. It allocates nothing once the sender is known.
//
//	go test -run '^$' -bench Guard -benchmem ./internal/echoguard
func BenchmarkGuard(b *testing.B) {
	for _, tc := range []struct {
		name     string
		src      string
		loopback bool
		echoed   bool
	}{
		{"loopback/Echoed", "127.0.0.1:40000", true, true},
		{"loopback/Sent", "127.0.0.1:40000", true, false},
		{"lan/Echoed", "10.0.0.2:40000", false, true},
		{"lan/Sent", "10.0.0.2:40000", false, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig(7777)
			cfg.Rate = 0 // the rate is not what is measured
			g := New(cfg)
			payload := make([]byte, 64)
			d := &Datagram{Src: netip.MustParseAddrPort(tc.src), Dest: ToUnicast, Loopback: tc.loopback, Payload: payload}
			now := t0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				payload[0], payload[1] = byte(i), byte(i>>8) // each a new ping, never a loop
				now = now.Add(time.Microsecond)
				if r := g.Check(now, d); r != Reply {
					b.Fatalf("datagram %d: %v", i, r)
				}
				if tc.echoed {
					g.Echoed(now)
				} else {
					g.Sent(now, d.Src, payload)
				}
			}
		})
	}
}
