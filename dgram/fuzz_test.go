package dgram

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4:5", "[::1]:53", "[fe80::1%lo]:9", "/run/x.sock", "@abstract", "unix:/p", "", ":", "[::1", "1.2.3.4:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		b, err := ParseAddr(a.String())
		if a.Unix && a.Path == "" {
			return // the unnamed address prints as a description, not a path
		}
		if err != nil || b != a {
			t.Fatalf("ParseAddr(%q) = %v; reparsed from %q = %v, %v", s, a, a.String(), b, err)
		}
	})
}

// FuzzSockaddr feeds arbitrary kernel-shaped sockaddr bytes to the decoder,
// and round-trips every address it accepts through the encoder.
func FuzzSockaddr(f *testing.F) {
	f.Add([]byte{2, 0, 0, 53, 127, 0, 0, 1}, uint32(16))
	f.Add([]byte{10, 0, 0, 53, 0, 0, 0, 0, 0xfe, 0x80}, uint32(28))
	f.Add(append([]byte{1, 0}, "/tmp/s"...), uint32(9))
	f.Add([]byte{1, 0, 0, 'a', 'b'}, uint32(5))
	s, err := Open(unix.AF_INET6, unix.SOCK_DGRAM, 0)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, raw []byte, length uint32) {
		var ra rawAddr
		n := copy(unsafe.Slice((*byte)(ra.ptr()), unsafe.Sizeof(ra.any)), raw)
		ra.len = min(length, uint32(n))
		a := ra.addr(s)
		fam := a.Family()
		if fam == unix.AF_UNSPEC || (a.Unix && a.Path == "") {
			return
		}
		if a.AddrPort.Addr().Zone() != "" {
			return // zones name interfaces of this machine; not stable input
		}
		var back rawAddr
		if err := back.set(a, fam, s); err != nil {
			if a.Unix {
				return // a path with a NUL inside cannot be encoded back
			}
			t.Fatalf("decoded %v but cannot encode it: %v", a, err)
		}
		if got := back.addr(s); got != a {
			t.Fatalf("round trip %v -> %v", a, got)
		}
	})
}
