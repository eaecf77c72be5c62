package main

import (
	"bytes"
	"flag"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestRefusesNonLoopbackSend(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"send", "10.1.2.3", "9", "--size", "64", "--seconds", "0.1"}, &out, &errb); code != 2 {
		t.Fatalf("run send to 10.1.2.3: exit %d; want 2 (stderr %q)", code, errb.String())
	}
	if !strings.Contains(errb.String(), "not a loopback address") {
		t.Fatalf("stderr = %q; want it to say why", errb.String())
	}
	if out.Len() != 0 {
		t.Fatalf("stdout = %q; want nothing", out.String())
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := newTestFlagSet()
	size := fs.Int("size", 0, "")
	on := fs.Bool("on", false, "")
	pos, err := parse(fs, []string{"a", "--size", "64", "b", "--on"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != 2 || pos[0] != "a" || pos[1] != "b" || *size != 64 || !*on {
		t.Fatalf("got pos=%q size=%d on=%t; want [a b] 64 true", pos, *size, *on)
	}
}

// TestSendRecv sends a known number of datagrams over loopback and checks
// both receive paths count every one and every byte. The count stays well
// under what the default socket buffer holds, so nothing may be dropped.
func TestSendRecv(t *testing.T) {
	const count, size = 100, 200
	for _, tc := range []struct {
		name  string
		addr  string
		batch int
	}{
		{"ReadFromUDP/v4", "127.0.0.1:0", 0},
		{"ReadBatch/v4", "127.0.0.1:0", 16},
		{"ReadFromUDP/v6", "[::1]:0", 0},
		{"ReadBatch/v6", "[::1]:0", 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ap := netip.MustParseAddrPort(tc.addr)
			rc, err := net.ListenUDP(network(ap), net.UDPAddrFromAddrPort(ap))
			if err != nil {
				t.Skipf("no %s loopback here: %v", network(ap), err)
			}
			t.Cleanup(func() { rc.Close() })
			sc, err := net.ListenUDP(network(ap), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sc.Close() })

			// Send first, all of it fits in the receive buffer; then drain.
			sr, err := send(sc, rc.LocalAddr().(*net.UDPAddr), size, 5*time.Second, count)
			if err != nil {
				t.Fatal(err)
			}
			if sr.sent != count || sr.bytes != count*size {
				t.Fatalf("sent %d datagrams, %d bytes; want %d, %d", sr.sent, sr.bytes, count, count*size)
			}
			rr, err := recv(rc, recvOptions{
				size:         size,
				window:       5 * time.Second,
				idle:         200 * time.Millisecond,
				startTimeout: 2 * time.Second,
				batch:        tc.batch,
			})
			if err != nil {
				t.Fatal(err)
			}
			if rr.received != count || rr.bytes != count*size || rr.truncated != 0 {
				t.Fatalf("received %d datagrams, %d bytes, %d truncated; want %d, %d, 0",
					rr.received, rr.bytes, rr.truncated, count, count*size)
			}
			if tc.batch > 0 && rr.calls >= count {
				t.Fatalf("ReadBatch took %d calls for %d queued datagrams; want fewer (batching)", rr.calls, count)
			}
		})
	}
}

func TestRecvTruncationCounted(t *testing.T) {
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	sc, err := net.ListenUDP("udp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	if _, err := send(sc, rc.LocalAddr().(*net.UDPAddr), 300, time.Second, 3); err != nil {
		t.Fatal(err)
	}
	rr, err := recv(rc, recvOptions{size: 100, window: time.Second, idle: 200 * time.Millisecond, startTimeout: 2 * time.Second, batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	if rr.received != 3 || rr.truncated != 3 {
		t.Fatalf("received %d, truncated %d; want 3, 3", rr.received, rr.truncated)
	}
}

func TestRecvGivesUpWhenNothingArrives(t *testing.T) {
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	start := time.Now()
	rr, err := recv(rc, recvOptions{size: 64, window: time.Second, idle: time.Second, startTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("recv waited %v with a 300ms start timeout", el)
	}
	if rr.received != 0 || rr.seconds != 0 {
		t.Fatalf("got %+v; want nothing received", rr)
	}
}

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
