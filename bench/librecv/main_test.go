package main

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"9000"}, true},
		{[]string{"--idle", "0.3", "9000", "--batch", "64"}, true},
		{[]string{"9000", "--addr", "::1"}, true},
		{[]string{}, false},
		{[]string{"9000", "9001"}, false},
		{[]string{"9000", "--addr", "10.0.0.1"}, false},
		{[]string{"9000", "--addr", "localhost"}, false},
		{[]string{"0"}, false},
		{[]string{"9000", "--batch", "2000"}, false},
		{[]string{"9000", "--seconds", "0"}, false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseArgs(tc.args)
			if (err == nil) != tc.ok {
				t.Fatalf("parseArgs(%q) error = %v; want ok=%t", tc.args, err, tc.ok)
			}
		})
	}
}

// TestCountsWithMetadata receives a few datagrams on 127.0.0.1 and checks
// they came with every piece of metadata the row claims to pay for.
func TestCountsWithMetadata(t *testing.T) {
	o := options{
		addr:         netip.MustParseAddrPort("127.0.0.1:0"),
		window:       5 * time.Second,
		idle:         200 * time.Millisecond,
		startTimeout: 5 * time.Second,
	}
	rx, err := listen(o)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(rx.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 10
	for range n {
		if _, err := c.Write(bytes.Repeat([]byte{'x'}, 64)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := count(rx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.received != n || r.bytes != 64*n {
		t.Errorf("received %d datagrams, %d bytes; want %d, %d", r.received, r.bytes, n, 64*n)
	}
	if r.withDst != n || r.withTTL != n || r.withTime != n {
		t.Errorf("with dst/ttl/time = %d/%d/%d; want %d each", r.withDst, r.withTTL, r.withTime, n)
	}
	if got := r.metadata.String(); got != "all" {
		t.Errorf("metadata %q; want all (the default)", got)
	}
}
