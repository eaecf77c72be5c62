package msghdr_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// A control buffer as recvmsg returns it on a UDP socket with IP_PKTINFO,
// IP_RECVTTL, IP_RECVTOS and SO_TIMESTAMPNS on, is parsed in place.
func ExampleControl_Parse() {
	// Stand-in for the oob[:oobn] that unix.Recvmsg filled.
	oob := msghdr.AppendTimestampNS(nil, unix.Timespec{Sec: 1700000000, Nsec: 250})
	pktinfo := binary.NativeEndian.AppendUint32(nil, 2) // ipi_ifindex
	pktinfo = append(pktinfo, 192, 168, 1, 20)          // ipi_spec_dst
	pktinfo = append(pktinfo, 255, 255, 255, 255)       // ipi_addr: a broadcast
	oob = msghdr.AppendCmsg(oob, unix.SOL_IP, unix.IP_PKTINFO, pktinfo)
	oob = msghdr.AppendTTL(oob, 64)
	oob = msghdr.AppendCmsg(oob, unix.SOL_IP, unix.IP_TOS, []byte{0x03}) // Linux sends one byte

	var c msghdr.Control // reuse it for every datagram
	if err := c.Parse(oob); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("present:", c.Has)
	fmt.Printf("to %v on interface %d, reply from %v\n", c.Dst, c.IfIndex, c.SpecDst)
	fmt.Println("TTL", c.TTL, "ECN", c.ECN(), "congestion experienced:", c.ECN() == 3)
	fmt.Println("received at", c.Time().UTC().Format("2006-01-02 15:04:05.000000000"))
	// Output:
	// present: IP_PKTINFO|IP_TTL|IP_TOS|SO_TIMESTAMPNS
	// to 255.255.255.255 on interface 2, reply from 192.168.1.20
	// TTL 64 ECN 3 congestion experienced: true
	// received at 2023-11-14 22:13:20.000000250
}

// To answer a broadcast from the address it was received on and out of the
// interface it came in on, send with IP_PKTINFO.
func ExampleAppendPktInfo4() {
	oob := make([]byte, 0, msghdr.Space(unix.SizeofInet4Pktinfo)+msghdr.Space(4))
	oob = msghdr.AppendPktInfo4(oob, 2, netip.MustParseAddr("192.168.1.20"))
	oob = msghdr.AppendTTL(oob, 1) // and keep the reply on this link
	// The buffer now goes to the kernel:
	//	unix.SendmsgN(fd, payload, oob, to, 0)

	for rest := oob; len(rest) > 0; {
		m, r, err := msghdr.Next(rest)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("level %d type %d: %d data bytes\n", m.Level, m.Type, len(m.Data))
		rest = r
	}
	fmt.Println("fits the buffer sized with Space:", len(oob) == cap(oob))
	// Output:
	// level 0 type 8: 12 data bytes
	// level 0 type 2: 4 data bytes
	// fits the buffer sized with Space: true
}

// A header and a payload are read with one system call into separate
// buffers; Spread says how much of each was filled.
func ExampleIovecs() {
	header := make([]byte, 4)
	payload := make([]byte, 16)
	v := msghdr.NewIovecs(header, payload)
	iov := v.Kernel() // for unix.Msghdr.Iov / readv: unchanged buffers, no allocation
	fmt.Println(len(iov), "iovecs,", v.Size(), "bytes of room")

	// Stand-in for a readv that returned n = 9.
	n := copy(header, "BCST") + copy(payload, "hello")
	parts := v.Spread(n, nil)
	fmt.Printf("header %q, payload %q\n", parts[0], parts[1])

	if err := v.Delete(5); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 2 iovecs, 20 bytes of room
	// header "BCST", payload "hello"
	// msghdr: iovec delete: index 5 out of range [0,2)
}
