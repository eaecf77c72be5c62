package daemon

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// netEchoServer is the plain Go way: a goroutine per connection, each
// copying what it reads back (no line framing, so it does strictly less
// work than the daemon's echo).
func netEchoServer(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// BenchmarkEcho measures request/response round trips of one 64-byte line
// over loopback TCP against the daemon's event loop and against a plain
// goroutine-per-connection net server, with 1 and with 32 clients.
//
//	go test -run '^$' -bench Echo -benchmem ./internal/daemon
func BenchmarkEcho(b *testing.B) {
	line := strings.Repeat("x", 63) + "\n"
	servers := []struct {
		name  string
		start func(testing.TB) string
	}{
		{"loop", func(tb testing.TB) string {
			ts := serveTest(tb, Echo, testSettings(), [2]string{"tcp", "127.0.0.1:0"})
			return ts.ls[0].Addr().String()
		}},
		{"net", netEchoServer},
	}
	for _, srv := range servers {
		for _, clients := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/clients=%d", srv.name, clients), func(b *testing.B) {
				addr := srv.start(b)
				conns := make([]net.Conn, clients)
				for i := range conns {
					c, err := net.DialTimeout("tcp", addr, 5*time.Second)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					conns[i] = c
				}
				var left atomic.Int64
				left.Store(int64(b.N))
				b.SetBytes(int64(len(line)))
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				for _, c := range conns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						msg, buf := []byte(line), make([]byte, len(line))
						for left.Add(-1) >= 0 {
							if _, err := c.Write(msg); err != nil {
								errs <- err
								return
							}
							if _, err := io.ReadFull(c, buf); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			})
		}
	}
}
