package seq

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestAppendParseRoundTrip(t *testing.T) {
	h := Header{Flags: 0x80, Run: 0x0102030405060708, Seq: 7, Total: 9, Sent: -5}
	b := h.Append(nil)
	if len(b) != HeaderLen {
		t.Fatalf("len(Append) = %d; want %d", len(b), HeaderLen)
	}
	b = append(b, "payload"...)
	got, n, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got != h || n != HeaderLen {
		t.Errorf("Parse = %+v, %d; want %+v, %d", got, n, h, HeaderLen)
	}
	if string(b[n:]) != "payload" {
		t.Errorf("payload after stamp = %q", b[n:])
	}

	put := make([]byte, HeaderLen+3)
	h.Put(put)
	if !bytes.Equal(put[:HeaderLen], b[:HeaderLen]) {
		t.Errorf("Put wrote % x; Append wrote % x", put[:HeaderLen], b[:HeaderLen])
	}
}

func TestAppendNoAllocWithCapacity(t *testing.T) {
	buf := make([]byte, 0, 64)
	h := Header{Run: 1, Seq: 1}
	allocs := testing.AllocsPerRun(100, func() { buf = h.Append(buf[:0]) })
	if allocs != 0 {
		t.Errorf("Append allocated %v times; want 0", allocs)
	}
}

func TestParseNoAlloc(t *testing.T) {
	good := Header{Run: 1, Seq: 1}.Append(nil)
	bad := []byte("not a stamp at all, just some text, long enough")
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _ = Parse(good)
		_, _, _ = Parse(bad)
	})
	if allocs != 0 {
		t.Errorf("Parse allocated %v times; want 0", allocs)
	}
}

func TestParseRejects(t *testing.T) {
	valid := func() []byte { return Header{Run: 1, Seq: 2, Total: 3}.Append(nil) }
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"short", func(b []byte) []byte { return b[:HeaderLen-1] }, errShort},
		{"empty", func(b []byte) []byte { return nil }, errShort},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, errMagic},
		{"version", func(b []byte) []byte { b[4] = 2; return b }, errVersion},
		{"header length short", func(b []byte) []byte { b[7] = HeaderLen - 1; return b }, errHeaderLen},
		{"header length past end", func(b []byte) []byte { b[7] = HeaderLen + 1; return b }, errHeaderLen},
		{"seq zero", func(b []byte) []byte { b[23] = 0; return b }, errSeqZero},
		{"seq above total", func(b []byte) []byte { b[23] = 4; return b }, errSeqTotal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(tt.mutate(valid()))
			if err != tt.want {
				t.Errorf("Parse error = %v; want %v", err, tt.want)
			}
			if !errors.Is(err, ErrNoStamp) {
				t.Errorf("errors.Is(%v, ErrNoStamp) = false", err)
			}
		})
	}
}

func TestParseLongerHeader(t *testing.T) {
	// A later version's longer header: the extra bytes are skipped.
	b := Header{Run: 1, Seq: 1}.Append(nil)
	b[7] = HeaderLen + 8
	b = append(b, make([]byte, 8)...)
	b = append(b, "msg"...)
	_, n, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if string(b[n:]) != "msg" {
		t.Errorf("payload = %q; want %q", b[n:], "msg")
	}
}

func TestNewRunNonZeroAndDistinct(t *testing.T) {
	seen := map[uint64]bool{}
	for range 100 {
		r := NewRun()
		if r == 0 || seen[r] {
			t.Fatalf("NewRun = %#x (zero or repeated)", r)
		}
		seen[r] = true
	}
}

func TestSentTime(t *testing.T) {
	now := time.Now()
	if got := (Header{Sent: now.UnixNano()}).SentTime(); !got.Equal(now) {
		t.Errorf("SentTime = %v; want %v", got, now)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Header{Run: 1, Seq: 1, Total: 1, Sent: 1}.Append(nil))
	f.Add(append(Header{Run: 2, Seq: 5}.Append(nil), "hello"...))
	f.Add([]byte("BCSQ\x01\x00\x00\x28"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrNoStamp) {
				t.Fatalf("error %v does not wrap ErrNoStamp", err)
			}
			return
		}
		if n < HeaderLen || n > len(b) {
			t.Fatalf("n = %d outside %d..%d", n, HeaderLen, len(b))
		}
		if h.Seq == 0 || (h.Total != 0 && h.Seq > h.Total) {
			t.Fatalf("accepted invalid %+v", h)
		}
		// Re-encoding gives the same first 40 bytes, apart from the
		// header length of a longer (future) header.
		again := h.Append(nil)
		want := bytes.Clone(b[:HeaderLen])
		want[6], want[7] = 0, HeaderLen
		if !bytes.Equal(again, want) {
			t.Fatalf("round trip: % x; want % x", again, want)
		}
	})
}
