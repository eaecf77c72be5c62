package dgram_test

// The programs of the classic sockets manual this package grew from,
// rewritten on dgram: the parrot server, the HEAD client and the server
// that serves many clients from one thread with select().

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// parrot is the manual's TCP server: it greets each client, sends every
// line back and closes the client on "quit"; the server itself goes on.
// One goroutine per client stands in for the manual's fork. (The listen
// daemon is this program made for production: listen --tcp :10000.)
func parrot(ln *dgram.Socket) {
	for {
		c, _, err := ln.Accept()
		if err != nil {
			return // the listener was closed
		}
		go func() {
			defer c.Close()
			c.Write([]byte("Welcome to the parrot. Type 'quit' to leave.\n"))
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.TrimSpace(line) == "quit" {
					return
				}
				c.Write([]byte(line))
			}
		}()
	}
}

// The parrot server: socket_create, bind, listen, accept, read, write.
func Example_parrotServer() {
	ln, err := dgram.Listen("tcp4", "127.0.0.1:0", 5) // port 10000 in the manual
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go parrot(ln)

	// A client, as telnet would be.
	addr, _ := ln.Sockname()
	c, err := dgram.Dial(context.Background(), "tcp4", addr.String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello, parrot\nquit\n"))
	all, _ := io.ReadAll(c)
	fmt.Print(string(all))
	// Output:
	// Welcome to the parrot. Type 'quit' to leave.
	// hello, parrot
}

// The HEAD client: look up the service port and the host, connect, send the
// request, read the reply until the server closes.
func Example_headClient() {
	// getservbyname("www", "tcp") reads /etc/services.
	port, err := net.DefaultResolver.LookupPort(context.Background(), "tcp", "www")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("www is port", port)

	// The manual asks www.example.com; this example asks a web server of
	// its own on this machine, found as "localhost" in /etc/hosts.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Sun, 06 Dec 2026 00:00:00 GMT")
	}))
	defer web.Close()
	webPort := netip.MustParseAddrPort(web.Listener.Addr().String()).Port()
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", "localhost")
	if err != nil {
		log.Fatal(err)
	}
	to := netip.AddrPortFrom(ips[0], webPort)

	c, err := dgram.Dial(context.Background(), "tcp4", to.String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("HEAD / HTTP/1.0\r\n\r\n"))
	reply, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	status, _, _ := bytes.Cut(reply, []byte("\r\n"))
	fmt.Printf("%s\n", status)
	// Output:
	// www is port 80
	// HTTP/1.0 200 OK
}

// Many clients, one goroutine, no threads: the manual's select() server,
// on a Poller (epoll). Every socket is nonblocking; the loop reads
// whichever is ready and echoes what it read.
func Example_selectServer() {
	ln, err := dgram.Listen("tcp4", "127.0.0.1:0", 0)
	if err != nil {
		log.Fatal(err)
	}
	p, err := dgram.NewPoller()
	if err != nil {
		log.Fatal(err)
	}
	ln.SetNonblock(true)
	p.Add(ln, dgram.Readable)
	stop := make(chan struct{})
	served := make(chan int)
	go func() {
		clients := 0
		var ready []dgram.Ready
		buf := make([]byte, 4096)
		for {
			select {
			case <-stop:
				p.Close()
				ln.Close()
				served <- clients
				return
			default:
			}
			ready, _ = p.Wait(context.Background(), 50*time.Millisecond, ready[:0])
			for _, r := range ready {
				if r.Socket == ln {
					c, _, err := ln.Accept()
					if err == nil {
						c.SetNonblock(true)
						p.Add(c, dgram.Readable)
						clients++
					}
					continue
				}
				n, err := r.Socket.Read(buf)
				if errors.Is(err, unix.EAGAIN) {
					continue
				}
				if n == 0 || err != nil { // EOF or error: that client is done
					p.Remove(r.Socket)
					r.Socket.Close()
					continue
				}
				r.Socket.Write(buf[:n])
			}
		}
	}()

	addr, _ := ln.Sockname()
	var conns []*dgram.Socket
	for i := range 3 {
		c, err := dgram.Dial(context.Background(), "tcp4", addr.String())
		if err != nil {
			log.Fatal(err)
		}
		conns = append(conns, c)
		c.Write(fmt.Appendf(nil, "client %d", i))
	}
	for _, c := range conns {
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := c.Read(buf)
		fmt.Println(string(buf[:n]))
		c.Close()
	}
	close(stop)
	fmt.Println(<-served, "clients served by one goroutine")
	// Output:
	// client 0
	// client 1
	// client 2
	// 3 clients served by one goroutine
}
