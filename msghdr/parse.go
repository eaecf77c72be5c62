package msghdr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrMalformed is wrapped by every error about control bytes that cannot be
// walked or decoded: test for it with errors.Is.
var ErrMalformed = errors.New("msghdr: malformed control message")

// MalformedError says where and why a control buffer is malformed. It
// unwraps to ErrMalformed.
type MalformedError struct {
	Offset int    // byte offset of the bad message in the buffer given to Parse or Next
	Header bool   // whether a whole header was there (Level, Type and Len are valid)
	Level  int32  // cmsg_level
	Type   int32  // cmsg_type
	Len    uint64 // cmsg_len as read
	Left   int    // bytes left in the buffer from Offset
	Reason string // what is wrong
}

func (e *MalformedError) Error() string {
	if !e.Header {
		return fmt.Sprintf("%v at offset %d: %s", ErrMalformed, e.Offset, e.Reason)
	}
	return fmt.Sprintf("%v at offset %d (%s, cmsg_len %d, %d bytes left): %s",
		ErrMalformed, e.Offset, typeName(e.Level, e.Type), e.Len, e.Left, e.Reason)
}

func (e *MalformedError) Unwrap() error { return ErrMalformed }

// Cmsg is one control message as found in a buffer.
type Cmsg struct {
	Level, Type int32
	// Data is a view into the buffer, not a copy, capped at its own end so
	// that appending to it cannot overwrite the next message.
	Data []byte
}

// Next reads the control message at the start of b and returns it with the
// rest of the buffer after it (and after its padding). It is the length-checked
// form of the C macros CMSG_FIRSTHDR, CMSG_NXTHDR and CMSG_DATA.
//
// An empty b returns io.EOF. A tail shorter than a header, a cmsg_len smaller
// than the header, or one that runs past the end of b returns an error
// wrapping ErrMalformed (a *MalformedError). The padding after the last
// message may be missing, as the kernel truncates msg_controllen to the
// space it had; rest is then empty. Next does not allocate unless it fails.
func Next(b []byte) (m Cmsg, rest []byte, err error) {
	return next(b, 0)
}

// next is Next with the offset of b in the caller's buffer, for errors.
func next(b []byte, off int) (Cmsg, []byte, error) {
	if len(b) == 0 {
		return Cmsg{}, nil, io.EOF
	}
	if len(b) < hdrLen {
		return Cmsg{}, nil, &MalformedError{Offset: off, Left: len(b),
			Reason: strconv.Itoa(len(b)) + " trailing bytes, shorter than a " + strconv.Itoa(hdrLen) + "-byte cmsghdr"}
	}
	var l uint64
	if lenWidth == 8 {
		l = binary.NativeEndian.Uint64(b)
	} else {
		l = uint64(binary.NativeEndian.Uint32(b))
	}
	m := Cmsg{
		Level: int32(binary.NativeEndian.Uint32(b[lenWidth:])),
		Type:  int32(binary.NativeEndian.Uint32(b[lenWidth+4:])),
	}
	// Compare as uint64 before converting: a hostile cmsg_len may not fit
	// in an int.
	switch {
	case l < hdrLen:
		return Cmsg{}, nil, malformed(off, m, l, len(b), "cmsg_len smaller than the "+strconv.Itoa(hdrLen)+"-byte header")
	case l > uint64(len(b)):
		return Cmsg{}, nil, malformed(off, m, l, len(b), "cmsg_len runs past the end of the buffer")
	}
	n := int(l)
	m.Data = b[hdrLen:n:n]
	return m, b[min(Align(n), len(b)):], nil
}

func malformed(off int, m Cmsg, l uint64, left int, reason string) *MalformedError {
	return &MalformedError{Offset: off, Header: true, Level: m.Level, Type: m.Type, Len: l, Left: left, Reason: reason}
}

// typeName names a level and type the way the C headers do, for messages
// people read: "SOL_IP/IP_TTL", or numbers when unknown.
func typeName(level, typ int32) string {
	for i := range kinds {
		if kinds[i].level == level && kinds[i].typ == typ {
			return levelName(level) + "/" + kinds[i].name
		}
	}
	return levelName(level) + "/type " + strconv.Itoa(int(typ))
}

func levelName(level int32) string {
	switch level {
	case unix.SOL_SOCKET:
		return "SOL_SOCKET"
	case unix.SOL_IP:
		return "SOL_IP"
	case unix.SOL_IPV6:
		return "SOL_IPV6"
	case unix.SOL_UDP:
		return "SOL_UDP"
	}
	return "level " + strconv.Itoa(int(level))
}
