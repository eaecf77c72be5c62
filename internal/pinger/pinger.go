// Package pinger is the back-to-back UDP client of the echo benchmarks
// (bcast echo's and the listen daemon's): a test binary that finds Env set
// runs Run instead of its tests, so the client is another process, as a
// server's real clients are. In one process the runtime would hand the
// processor between client and server goroutines, which is not what a
// server sees.
package pinger

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bcastdev/bcast/dgram"
)

// Env names the variable that makes a test binary the client: "ADDR:PORT
// N" keeps one 64-byte datagram in flight to ADDR:PORT, sending the next
// when the reply comes, N times.
const Env = "BCAST_ECHO_PINGER"

// Spec is the value of Env for n round trips to addr.
func Spec(addr string, n int) string { return fmt.Sprintf("%s=%s %d", Env, addr, n) }

// Run is the client: it returns the exit status, 0 when every round trip
// came back, and says what went wrong on stderr.
func Run(spec string, stderr io.Writer) int {
	var to string
	var n int
	if _, err := fmt.Sscan(spec, &to, &n); err != nil || n <= 0 {
		fmt.Fprintf(stderr, "%s=%q: want \"ADDR:PORT N\"\n", Env, spec)
		return 2
	}
	c, err := dgram.Dial(context.Background(), "udp4", to)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer c.Close()
	req, buf := make([]byte, 64), make([]byte, 128)
	for i := range n {
		req[0], req[1], req[2] = byte(i), byte(i>>8), byte(i>>16) // each a new datagram: no loop for the guard
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Send(req, 0); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if _, err := c.Recv(buf, 0); err != nil {
			fmt.Fprintf(stderr, "round trip %d: %v\n", i, err)
			return 1
		}
	}
	return 0
}
