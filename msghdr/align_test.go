package msghdr

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The x/sys implementations of CMSG_LEN and CMSG_SPACE are an independent
// oracle for ours on whatever architecture the test runs on.
func TestAlignMatchesXSys(t *testing.T) {
	for n := 0; n <= 256; n++ {
		if got, want := Space(n), unix.CmsgSpace(n); got != want {
			t.Fatalf("Space(%d) = %d; want %d (unix.CmsgSpace)", n, got, want)
		}
		if got, want := Len(n), unix.CmsgLen(n); got != want {
			t.Fatalf("Len(%d) = %d; want %d (unix.CmsgLen)", n, got, want)
		}
		if got := Align(n); got < n || got%alignTo != 0 || got-n >= alignTo {
			t.Fatalf("Align(%d) = %d; want the next multiple of %d", n, got, alignTo)
		}
	}
}

// The values a C program on 64-bit Linux gets from the macros.
func TestAlign64(t *testing.T) {
	if unix.SizeofLong != 8 {
		t.Skipf("the table is for 64-bit Linux; sizeof(long) is %d here", unix.SizeofLong)
	}
	tests := []struct {
		name                   string
		n, align, space, cmLen int
	}{
		{"empty", 0, 0, 16, 16},
		{"byte (IP_TOS on receive)", 1, 8, 24, 17},
		{"uint16 (UDP_SEGMENT)", 2, 8, 24, 18},
		{"int", 4, 8, 24, 20},
		{"word", 8, 8, 24, 24},
		{"in_pktinfo", unix.SizeofInet4Pktinfo, 16, 32, 28},
		{"timespec", 16, 16, 32, 32},
		{"in6_pktinfo", unix.SizeofInet6Pktinfo, 24, 40, 36},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Align(tt.n); got != tt.align {
				t.Errorf("Align(%d) = %d; want %d", tt.n, got, tt.align)
			}
			if got := Space(tt.n); got != tt.space {
				t.Errorf("Space(%d) = %d; want %d", tt.n, got, tt.space)
			}
			if got := Len(tt.n); got != tt.cmLen {
				t.Errorf("Len(%d) = %d; want %d", tt.n, got, tt.cmLen)
			}
		})
	}
}

func TestHeaderConstants(t *testing.T) {
	if hdrLen != Align(unix.SizeofCmsghdr) {
		t.Errorf("hdrLen = %d; want Align(SizeofCmsghdr) = %d", hdrLen, Align(unix.SizeofCmsghdr))
	}
	if lenWidth != unix.SizeofPtr {
		t.Errorf("lenWidth = %d; want sizeof(size_t) = %d", lenWidth, unix.SizeofPtr)
	}
}
