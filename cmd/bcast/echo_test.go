package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/echoguard"
	"github.com/bcastdev/bcast/internal/pinger"
)

// BenchmarkEchoRoundTrip is bcast echo --quiet's receive loop (its
// Receiver, its guard, Receive and answer) serving a back-to-back UDP
// client, one datagram in flight as the C ping client keeps it, from
// another process (the test binary run as one): in this process the
// runtime would hand the processor between client and server goroutines,
// which is not what a server sees. One op is one round trip; allocs/op are
// the server's, and must stay 0. Nothing is pinned: for the comparison
// with a C server, see bench/run.sh.
//
//	go test -run '^$' -bench EchoRoundTrip -benchmem ./cmd/bcast
func BenchmarkEchoRoundTrip(b *testing.B) {
	r, err := broadcast.Listen(echoConfig(netip.MustParseAddrPort("127.0.0.1:0"), "", true))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	e := newEchoer(r, echoguard.New(echoguard.DefaultConfig(r.LocalAddr().Port())))
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	pkts := make([]broadcast.Packet, 32)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), pinger.Spec(r.LocalAddr().String(), b.N))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for e.replied < uint64(b.N) {
		n, err := r.Receive(ctx, pkts)
		if err != nil {
			b.Fatalf("after %d round trips: %v", e.replied, err)
		}
		now := time.Now()
		for i := range pkts[:n] {
			if v, err := e.answer(&pkts[i], now); v != echoguard.Reply || err != nil {
				b.Fatalf("datagram %d: %v, %v", e.received, v, err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("client: %v", err)
	}
}

// Reply errors are printed at most once a second, the next line saying how
// many were held back; a --quiet echo prints nothing else.
func TestEchoReportsErrorsOncePerSecond(t *testing.T) {
	r, err := broadcast.Listen(echoConfig(netip.MustParseAddrPort("127.0.0.1:0"), "", true))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e := newEchoer(r, echoguard.New(echoguard.DefaultConfig(r.LocalAddr().Port())))
	var stdout, stderr strings.Builder
	o, eo := newOut(&stdout), newOut(&stderr)
	pk := &broadcast.Packet{Src: netip.MustParseAddrPort("127.0.0.1:40000")}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fail := errors.New("sendmsg: no buffer space")
	for _, at := range []time.Duration{0, 100 * time.Millisecond, 900 * time.Millisecond, 1100 * time.Millisecond, 1500 * time.Millisecond} {
		e.report(o, eo, pk, t0.Add(at), echoguard.Reply, fail, false)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], "more reply errors") || !strings.Contains(lines[1], "(2 more reply errors since the last line)") {
		t.Errorf("error lines:\n%s\nwant two, the second saying 2 were held back", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q; want nothing", stdout.String())
	}
}
