package msghdr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// header builds a bare cmsghdr with any cmsg_len, valid or not.
func header(cmsgLen uint64, level, typ int32) []byte {
	b := make([]byte, hdrLen)
	if lenWidth == 8 {
		binary.NativeEndian.PutUint64(b, cmsgLen)
	} else {
		binary.NativeEndian.PutUint32(b, uint32(cmsgLen))
	}
	binary.NativeEndian.PutUint32(b[lenWidth:], uint32(level))
	binary.NativeEndian.PutUint32(b[lenWidth+4:], uint32(typ))
	return b
}

// walk returns every message Next finds in b, and the error that ended the
// walk (io.EOF for a clean end). It is bounded: each step must consume at
// least a header.
func walk(t *testing.T, b []byte) ([]Cmsg, error) {
	t.Helper()
	var out []Cmsg
	for range len(b)/hdrLen + 1 {
		m, rest, err := Next(b)
		if err != nil {
			return out, err
		}
		if len(b)-len(rest) < hdrLen {
			t.Fatalf("Next consumed %d bytes; want at least a header (%d)", len(b)-len(rest), hdrLen)
		}
		out = append(out, m)
		b = rest
	}
	t.Fatalf("Next did not finish within %d steps", len(b)/hdrLen+1)
	return nil, nil
}

func TestNextEmpty(t *testing.T) {
	for _, b := range [][]byte{nil, {}} {
		if _, _, err := Next(b); err != io.EOF {
			t.Errorf("Next(%v) error = %v; want io.EOF", b, err)
		}
	}
}

func TestNextWalk(t *testing.T) {
	full := AppendTOS(nil, 1)
	full = AppendCmsg(full, 77, 5, []byte{9, 8, 7})
	full = AppendPktInfo6(full, 2, netip.MustParseAddr("2001:db8::9"))
	want := []Cmsg{
		{unix.SOL_IP, unix.IP_TOS, ne32(1)},
		{77, 5, []byte{9, 8, 7}},
		{unix.SOL_IPV6, unix.IPV6_PKTINFO, AppendPktInfo6(nil, 2, netip.MustParseAddr("2001:db8::9"))[hdrLen : hdrLen+20]},
	}
	// The kernel shortens msg_controllen to cmsg_len of the last message
	// when the buffer had no room for its padding: still well formed.
	noPad := full[:len(full)-Space(20)+Len(20)]

	tests := []struct {
		name string
		b    []byte
	}{
		{"padded", full},
		{"last message without padding", noPad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := walk(t, tt.b)
			if err != io.EOF {
				t.Fatalf("walk ended with %v; want io.EOF", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d messages; want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].Level != want[i].Level || got[i].Type != want[i].Type || !bytes.Equal(got[i].Data, want[i].Data) {
					t.Errorf("message %d = %+v; want %+v", i, got[i], want[i])
				}
				if cap(got[i].Data) != len(got[i].Data) {
					t.Errorf("message %d: cap(Data) = %d; want %d, so appends cannot reach the next message", i, cap(got[i].Data), len(got[i].Data))
				}
			}
		})
	}
}

// Our walk must agree with x/sys's on every well-formed buffer.
func TestNextMatchesXSys(t *testing.T) {
	var b []byte
	for _, tt := range builderCases() {
		b = tt.build(b)
	}
	xs, err := unix.ParseSocketControlMessage(b)
	if err != nil {
		t.Fatalf("unix.ParseSocketControlMessage: %v", err)
	}
	ours, err := walk(t, b)
	if err != io.EOF {
		t.Fatalf("walk ended with %v; want io.EOF", err)
	}
	if len(ours) != len(xs) {
		t.Fatalf("got %d messages; x/sys found %d", len(ours), len(xs))
	}
	for i := range xs {
		if ours[i].Level != xs[i].Header.Level || ours[i].Type != xs[i].Header.Type || !bytes.Equal(ours[i].Data, xs[i].Data) {
			t.Errorf("message %d = %+v; x/sys says level %d type %d data % x",
				i, ours[i], xs[i].Header.Level, xs[i].Header.Type, xs[i].Data)
		}
	}
}

func TestNextMalformed(t *testing.T) {
	ttl := AppendTTL(nil, 9)
	tests := []struct {
		name       string
		b          []byte
		offset     int
		header     bool
		wantInText string
	}{
		{"one byte", []byte{1}, 0, false, "1 trailing bytes"},
		{"short header", make([]byte, hdrLen-1), 0, false, "shorter than"},
		{"short tail after a message", append(ttl, make([]byte, hdrLen-1)...), len(ttl), false, "trailing bytes"},
		{"cmsg_len zero", header(0, 0, 0), 0, true, "smaller than"},
		{"cmsg_len one below header", header(hdrLen-1, unix.SOL_IP, unix.IP_TTL), 0, true, "SOL_IP/IP_TTL"},
		{"cmsg_len one past the end", header(hdrLen+1, 1, 1), 0, true, "past the end"},
		{"cmsg_len past the end of data", append(header(uint64(Len(4)+1), unix.SOL_IP, unix.IP_TTL), 0, 0, 0, 0), 0, true, "cmsg_len " + strconv.Itoa(Len(4)+1)},
		{"cmsg_len max int64", header(math.MaxInt64, 1, 1), 0, true, "past the end"},
		{"cmsg_len max uint64", header(math.MaxUint64, 1, 1), 0, true, "past the end"},
		{"cmsg_len 2^32 + header", header(1<<32+hdrLen, 1, 1), 0, true, "past the end"},
		{"second message overlong", append(ttl, header(1000, 2, 3)...), len(ttl), true, "offset " + strconv.Itoa(len(ttl))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if lenWidth == 4 && tt.name == "cmsg_len 2^32 + header" {
				t.Skip("cmsg_len is 32 bits here")
			}
			// Next reports offsets within the slice it was given, where
			// the bad message is always first; Parse within the whole
			// buffer.
			_, err := walk(t, tt.b)
			checkMalformed(t, err, 0, tt.header, "")
			var c Control
			checkMalformed(t, c.Parse(tt.b), tt.offset, tt.header, tt.wantInText)
		})
	}
}

func checkMalformed(t *testing.T, err error, offset int, header bool, text string) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("error = %v; want ErrMalformed", err)
	}
	var me *MalformedError
	if !errors.As(err, &me) {
		t.Fatalf("error %T is not a *MalformedError", err)
	}
	if me.Offset != offset || me.Header != header {
		t.Errorf("Offset, Header = %d, %v; want %d, %v (%v)", me.Offset, me.Header, offset, header, err)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not mention %q", err, text)
	}
}

// A message whose padding is missing in the middle of a buffer puts the next
// header off the alignment grid; the walk must notice instead of decoding
// shifted bytes as a message.
func TestNextMisaligned(t *testing.T) {
	tos1 := AppendCmsg(nil, unix.SOL_IP, unix.IP_TOS, []byte{0x10})[:Len(1)] // unpadded
	b := append(tos1, AppendTTL(nil, 64)...)
	msgs, err := walk(t, b)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("walk = %d messages, %v; want ErrMalformed", len(msgs), err)
	}
	if len(msgs) != 1 || msgs[0].Type != unix.IP_TOS {
		t.Errorf("got %+v before the error; want the IP_TOS message only", msgs)
	}
}

func TestNextNoAlloc(t *testing.T) {
	b := AppendTTL(AppendTOS(nil, 1), 2)
	allocs := testing.AllocsPerRun(100, func() {
		rest := b
		for len(rest) > 0 {
			_, r, err := Next(rest)
			if err != nil {
				panic(err)
			}
			rest = r
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations walking a good buffer; want 0", allocs)
	}
}

func appendU64(b []byte, v uint64) []byte { return binary.NativeEndian.AppendUint64(b, v) }
