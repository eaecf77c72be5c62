package dgram_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// Receive a datagram together with its destination address and arrival
// interface, as a broadcast listener does.
func ExampleSocket_RecvMsg() {
	rx, err := dgram.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer rx.Close()
	if err := rx.SetOptionBool(unix.IPPROTO_IP, unix.IP_PKTINFO, true); err != nil {
		log.Fatal(err)
	}
	to, _ := rx.Sockname()

	tx, _ := dgram.Open(unix.AF_INET, unix.SOCK_DGRAM, 0)
	defer tx.Close()
	tx.SendTo([]byte("hello"), 0, to)

	// Keep the Message and its buffers: receiving into them again allocates
	// nothing.
	m := dgram.Message{Buffers: [][]byte{make([]byte, 1500)}, Control: make([]byte, 0, 128)}
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := rx.RecvMsg(&m, 0); err != nil {
		log.Fatal(err)
	}
	var c msghdr.Control
	if err := c.Parse(m.Control); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q to %v on interface %d, truncated %v\n", m.Buffers[0][:m.N], c.Dst, c.IfIndex, m.Truncated())
	// Output: "hello" to 127.0.0.1 on interface 1, truncated false
}

// A datagram larger than the buffer is reported, with its real size.
func ExampleMessage_Truncated() {
	rx, _ := dgram.ListenPacket("udp4", "127.0.0.1:0")
	defer rx.Close()
	to, _ := rx.Sockname()
	tx, _ := dgram.Open(unix.AF_INET, unix.SOCK_DGRAM, 0)
	defer tx.Close()
	tx.SendTo(make([]byte, 1200), 0, to)

	m := dgram.Message{Buffers: [][]byte{make([]byte, 512)}}
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	rx.RecvMsg(&m, 0)
	fmt.Println(m.Truncated(), m.N, m.Size)
	// Output: true 512 1200
}

// One goroutine waits on many sockets: the socket_select of the seed.
func ExampleSelect() {
	a, _ := dgram.ListenPacket("udp4", "127.0.0.1:0")
	defer a.Close()
	b, _ := dgram.ListenPacket("udp4", "127.0.0.1:0")
	defer b.Close()
	bAddr, _ := b.Sockname()
	tx, _ := dgram.Open(unix.AF_INET, unix.SOCK_DGRAM, 0)
	defer tx.Close()
	tx.SendTo([]byte("x"), 0, bAddr)

	readable, _, err := dgram.Select(context.Background(), []*dgram.Socket{a, b}, nil, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(readable), readable[0] == b)
	// Output: 1 true
}

// Errors name the call, the address and the errno, and match with errors.Is.
func ExampleStrerror() {
	fmt.Println(dgram.Strerror(unix.EACCES))
	// Output: permission denied (EACCES)
}
