package msghdr

import "golang.org/x/sys/unix"

// alignTo is the boundary every control message starts on. Linux's
// CMSG_ALIGN rounds to sizeof(long) (include/linux/socket.h), which on every
// Linux ABI equals the pointer size: 8 on amd64 and arm64, 4 on 32-bit ones.
const alignTo = unix.SizeofLong

// hdrLen is CMSG_ALIGN(sizeof(struct cmsghdr)): where the data of a message
// begins. It is a constant so that bounds checks on it fold away.
const hdrLen = (unix.SizeofCmsghdr + alignTo - 1) &^ (alignTo - 1)

// lenWidth is the size of cmsg_len (a size_t): 8 bytes on 64-bit Linux, 4 on
// 32-bit. cmsg_level and cmsg_type after it are always int32.
const lenWidth = unix.SizeofCmsghdr - 8

// Align rounds n up to the control-message boundary. It mirrors the C macro
// CMSG_ALIGN.
func Align(n int) int { return (n + alignTo - 1) &^ (alignTo - 1) }

// Space is the number of buffer bytes one control message with dataLen bytes
// of data occupies, header and trailing padding included. It mirrors the C
// macro CMSG_SPACE; size control buffers with it.
func Space(dataLen int) int { return hdrLen + Align(dataLen) }

// Len is the value of cmsg_len for a message with dataLen bytes of data:
// header plus data, without trailing padding. It mirrors the C macro
// CMSG_LEN.
func Len(dataLen int) int { return hdrLen + dataLen }
