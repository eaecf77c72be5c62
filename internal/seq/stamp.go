package seq

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"
)

// Wire constants of version 1; see the package documentation for the layout.
const (
	Magic     = "BCSQ"
	Version   = 1
	HeaderLen = 40
)

// ErrNoStamp is wrapped by every Parse error: the datagram does not start
// with a valid stamp. Receivers count such datagrams instead of failing.
var ErrNoStamp = errors.New("seq: no valid stamp")

// Header is one decoded stamp.
type Header struct {
	Flags uint8
	Run   uint64 // random per sending run
	Seq   uint64 // 1 for the first datagram
	Total uint64 // planned datagrams in the run; 0 when not known
	Sent  int64  // send time, Unix nanoseconds
}

// SentTime is the send time as a time.Time.
func (h Header) SentTime() time.Time { return time.Unix(0, h.Sent) }

// Append appends the 40-byte stamp to b and returns the extended slice; it
// does not allocate when cap(b) suffices.
func (h Header) Append(b []byte) []byte {
	b = append(b, Magic...)
	b = append(b, Version, h.Flags)
	b = binary.BigEndian.AppendUint16(b, HeaderLen)
	b = binary.BigEndian.AppendUint64(b, h.Run)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, h.Total)
	return binary.BigEndian.AppendUint64(b, uint64(h.Sent))
}

// Put writes the stamp over the first HeaderLen bytes of b, which must be at
// least that long. The send loop uses it to restamp one payload buffer in
// place for each datagram.
func (h Header) Put(b []byte) {
	_ = b[HeaderLen-1] // one bounds check instead of eight
	copy(b, Magic)
	b[4], b[5] = Version, h.Flags
	binary.BigEndian.PutUint16(b[6:], HeaderLen)
	binary.BigEndian.PutUint64(b[8:], h.Run)
	binary.BigEndian.PutUint64(b[16:], h.Seq)
	binary.BigEndian.PutUint64(b[24:], h.Total)
	binary.BigEndian.PutUint64(b[32:], uint64(h.Sent))
}

// ParseError says why a datagram carries no valid stamp. It wraps ErrNoStamp.
// Parse returns one of a few preallocated values, so that a receiver flooded
// with foreign datagrams does not allocate for each.
type ParseError struct {
	Reason string
}

func (e *ParseError) Error() string { return "seq: no valid stamp: " + e.Reason }
func (e *ParseError) Unwrap() error { return ErrNoStamp }

var (
	errShort     = &ParseError{"shorter than the 40-byte stamp"}
	errMagic     = &ParseError{"wrong magic"}
	errVersion   = &ParseError{"unknown version"}
	errHeaderLen = &ParseError{"header length below 40 or past the datagram"}
	errSeqZero   = &ParseError{"sequence number 0"}
	errSeqTotal  = &ParseError{"sequence number above the total"}
)

// Parse decodes the stamp at the start of b and returns it with the length
// of the stamp (HeaderLen, or more for a later version's longer header), so
// that b[n:] is the payload after it. It never allocates.
func Parse(b []byte) (h Header, n int, err error) {
	if len(b) < HeaderLen {
		return Header{}, 0, errShort
	}
	if string(b[:4]) != Magic {
		return Header{}, 0, errMagic
	}
	if b[4] != Version {
		return Header{}, 0, errVersion
	}
	n = int(binary.BigEndian.Uint16(b[6:]))
	if n < HeaderLen || n > len(b) {
		return Header{}, 0, errHeaderLen
	}
	h = Header{
		Flags: b[5],
		Run:   binary.BigEndian.Uint64(b[8:]),
		Seq:   binary.BigEndian.Uint64(b[16:]),
		Total: binary.BigEndian.Uint64(b[24:]),
		Sent:  int64(binary.BigEndian.Uint64(b[32:])),
	}
	if h.Seq == 0 {
		return Header{}, 0, errSeqZero
	}
	if h.Total != 0 && h.Seq > h.Total {
		return Header{}, 0, errSeqTotal
	}
	return h, n, nil
}

// NewRun returns a random, non-zero run id for one sending run.
func NewRun() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // never fails since Go 1.24
		if r := binary.BigEndian.Uint64(b[:]); r != 0 {
			return r
		}
	}
}
