package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestIntegrationDatagramLargerThanTheBufferIsReportedTruncated(t *testing.T) {
	t.Parallel()
	_, _, hs := oneLAN(t, "tx", "rx")
	tx, rx := hs[0], hs[1]
	const port, buffer = 9401, 512
	l := startListen(t, rx, "--listen", fmt.Sprint(":", port), "--buffer", fmt.Sprint(buffer))

	sizes := []int{buffer - 1, buffer, buffer + 1, 2000, 65507}
	sent := map[int][]byte{}
	dir := t.TempDir()
	for _, size := range sizes {
		// Every byte differs from its neighbours, so a payload cut at
		// the wrong place or shifted shows.
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*7 + size)
		}
		sent[size] = b
		path := filepath.Join(dir, fmt.Sprint(size))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		send(t, tx, "--to", fmt.Sprintf("10.71.1.2:%d", port), "--file", path)
	}
	got := stopListeners(t, l)[0].datagrams

	if len(got) != len(sizes) {
		t.Fatalf("rx received %d datagrams: %s; want %d, sizes %v", len(got), describe(got), len(sizes), sizes)
	}
	for i, d := range got {
		size := sizes[i]
		captured := min(size, buffer)
		if d.Len != size || d.Captured != captured || d.Truncated != (size > buffer) {
			t.Errorf("datagram of %d bytes with --buffer %d: len %d captured %d truncated %v; want len %d captured %d truncated %v",
				size, buffer, d.Len, d.Captured, d.Truncated, size, captured, size > buffer)
		}
		if p := d.payload(); !bytes.Equal(p, sent[size][:captured]) {
			t.Errorf("datagram of %d bytes: payload_hex holds %d bytes that are not the first %d sent", size, len(p), captured)
		}
		if d.Src != a1v4 || d.Dst.String() != "10.71.1.2" || d.Kind != "unicast" || d.Ifname != "eth0" {
			t.Errorf("datagram of %d bytes: %s; want 10.71.1.1 -> 10.71.1.2 unicast on eth0", size, describe([]datagram{d}))
		}
	}
}
