package msghdr

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// IOVMax is the most buffers one system call accepts (UIO_MAXIOV in
// linux/uio.h); readv, writev, sendmsg and recvmsg fail with EINVAL beyond
// it. Iovecs does not enforce it: the caller that makes the call does.
const IOVMax = 1024

// Iovecs is a scatter/gather list: the buffers of one readv, writev,
// sendmsg or recvmsg, and the struct iovec array the kernel reads. It is the
// old socket_iovec_alloc / add / delete / set / fetch / free family, with the
// buffers owned by the caller and the iovec array kept and reused, so that a
// loop over the same buffers costs no allocation.
//
// The zero Iovecs is empty and ready to use. An Iovecs is not safe for
// concurrent use.
type Iovecs struct {
	bufs  [][]byte
	iov   []unix.Iovec
	size  int
	stale bool // iov no longer matches bufs
}

// NewIovecs returns an Iovecs holding bufs (socket_iovec_alloc). It keeps the
// buffers, not copies of their bytes, but not the bufs slice itself.
func NewIovecs(bufs ...[]byte) *Iovecs {
	v := &Iovecs{bufs: make([][]byte, 0, len(bufs))}
	for _, b := range bufs {
		v.Add(b)
	}
	return v
}

// Add appends b as the last buffer (socket_iovec_add).
func (v *Iovecs) Add(b []byte) {
	v.bufs = append(v.bufs, b)
	v.size += len(b)
	v.stale = true
}

func (v *Iovecs) check(op string, i int) error {
	if i < 0 || i >= len(v.bufs) {
		return fmt.Errorf("msghdr: iovec %s: index %d out of range [0,%d)", op, i, len(v.bufs))
	}
	return nil
}

// Delete removes buffer i; the ones after it move down by one
// (socket_iovec_delete).
func (v *Iovecs) Delete(i int) error {
	if err := v.check("delete", i); err != nil {
		return err
	}
	v.size -= len(v.bufs[i])
	copy(v.bufs[i:], v.bufs[i+1:])
	v.bufs[len(v.bufs)-1] = nil // drop the reference so the buffer can be freed
	v.bufs = v.bufs[:len(v.bufs)-1]
	v.stale = true
	return nil
}

// Set replaces buffer i with b (socket_iovec_set).
func (v *Iovecs) Set(i int, b []byte) error {
	if err := v.check("set", i); err != nil {
		return err
	}
	v.size += len(b) - len(v.bufs[i])
	v.bufs[i] = b
	v.stale = true
	return nil
}

// Fetch returns buffer i itself, not a copy (socket_iovec_fetch).
func (v *Iovecs) Fetch(i int) ([]byte, error) {
	if err := v.check("fetch", i); err != nil {
		return nil, err
	}
	return v.bufs[i], nil
}

// Reset removes every buffer (socket_iovec_free) but keeps the capacity of
// both arrays for reuse. It drops the references to the buffers.
func (v *Iovecs) Reset() {
	clear(v.bufs)
	clear(v.iov)
	v.bufs = v.bufs[:0]
	v.iov = v.iov[:0]
	v.size = 0
	v.stale = false
}

// Len is the number of buffers.
func (v *Iovecs) Len() int { return len(v.bufs) }

// Size is the total length of the buffers in bytes: the most one read can
// fill or one write can send.
func (v *Iovecs) Size() int { return v.size }

// Buffers returns the buffers in order. The slice is shared with v and valid
// until the next change: change buffers through Set, or Kernel will not see
// it.
func (v *Iovecs) Buffers() [][]byte { return v.bufs[:len(v.bufs):len(v.bufs)] }

// Kernel returns the struct iovec array for unix.Msghdr.Iov (or readv and
// writev): one entry per buffer, in order. It is rebuilt only after a change,
// so a loop that reuses the same buffers gets it without allocating. A
// zero-length buffer gets a nil Base and a zero Len, which the kernel skips.
//
// The array points into the buffers: keep v (and them) alive until the
// system call returns, with runtime.KeepAlive if nothing else uses them.
func (v *Iovecs) Kernel() []unix.Iovec {
	if v.stale || len(v.iov) != len(v.bufs) {
		v.iov = v.iov[:0]
		for _, b := range v.bufs {
			var e unix.Iovec
			if len(b) > 0 {
				e.Base = unsafe.SliceData(b)
			}
			e.SetLen(len(b))
			v.iov = append(v.iov, e)
		}
		v.stale = false
	}
	return v.iov
}

// Spread appends to dst, for each buffer in order, the part a read of n
// bytes filled: whole buffers first, then a prefix of one, then empty
// slices, so that dst gets Len entries and entry i belongs to buffer i. An n
// beyond Size counts as Size; a negative one as 0.
func (v *Iovecs) Spread(n int, dst [][]byte) [][]byte {
	n = max(n, 0)
	for _, b := range v.bufs {
		k := min(n, len(b))
		dst = append(dst, b[:k])
		n -= k
	}
	return dst
}

// Gather appends the bytes of every buffer, in order, to dst.
func (v *Iovecs) Gather(dst []byte) []byte {
	for _, b := range v.bufs {
		dst = append(dst, b...)
	}
	return dst
}
