package dgram

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStreamHalfClose is the seed's client: it sends, shuts down its write
// side, and still reads the server's reply.
func TestStreamHalfClose(t *testing.T) {
	for _, tc := range []struct{ network, address string }{
		{"tcp", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"unix", filepath.Join(t.TempDir(), "s.sock")},
		{"unixpacket", "@bcast-test-" + filepath.Base(t.TempDir())},
	} {
		t.Run(tc.network, func(t *testing.T) {
			ln, err := Listen(tc.network, tc.address, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			bound(t, ln)
			addr, err := ln.Sockname()
			if err != nil {
				t.Fatal(err)
			}
			serverErr := make(chan error, 1)
			go func() {
				c, peer, err := ln.Accept()
				if err != nil {
					serverErr <- err
					return
				}
				defer c.Close()
				bound(t, c)
				if tc.network[:3] == "tcp" && !peer.AddrPort.IsValid() {
					serverErr <- errors.New("accept returned no peer address")
					return
				}
				got, err := io.ReadAll(c)
				if err != nil {
					serverErr <- err
					return
				}
				_, err = c.Write(append([]byte("got "), got...))
				serverErr <- err
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			family, sotype, _, _ := resolve(tc.network, tc.address)
			cl, err := Open(family, sotype, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			bound(t, cl)
			if err := cl.ConnectContext(ctx, addr); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if err := cl.Shutdown(ShutWrite); err != nil {
				t.Fatal(err)
			}
			reply, err := io.ReadAll(cl)
			if err != nil || string(reply) != "got ping" {
				t.Errorf("reply %q, %v; want %q after our half-close", reply, err, "got ping")
			}
			if err := <-serverErr; err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
}

func TestConnectRefused(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := ln.Sockname()
	ln.Close() // nothing listens there now
	_, err = Dial(context.Background(), "tcp", addr.String())
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("Dial to a closed port: %v; want ECONNREFUSED", err)
	}
}

// A connect whose handshake does not finish must wait for it, not report
// success: here the listener's accept queue is full, so the kernel drops
// the SYN and the handshake hangs until the context ends.
func TestConnectWaitsForTheHandshake(t *testing.T) {
	ln, err := Listen("tcp4", "127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr, _ := ln.Sockname()
	// Fill the queue (backlog 1 takes two) without accepting.
	var filled []*Socket
	defer func() {
		for _, s := range filled {
			s.Close()
		}
	}()
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := Dial(ctx, "tcp4", addr.String())
		cancel()
		if err != nil {
			t.Fatalf("filling the accept queue: %v", err)
		}
		filled = append(filled, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := Dial(ctx, "tcp4", addr.String())
	if err == nil {
		s.Close()
		t.Fatalf("Dial to a full accept queue returned after %v with no error; want it to wait for the handshake", time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial: %v; want the context's deadline", err)
	}
}

func TestUnixNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	for _, name := range []string{path, "@bcast-abstract-" + filepath.Base(filepath.Dir(path))} {
		s, err := ListenPacket("unixgram", name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Sockname()
		if err != nil || got != UnixAddr(name) {
			t.Errorf("Sockname() = %v, %v; want %v", got, err, name)
		}
		s.Close()
	}
	a, b, err := Pair(unix.SOCK_SEQPACKET)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	if got, err := a.Peername(); err != nil || got != (Addr{Unix: true}) || got.String() != "@(unnamed)" {
		t.Errorf("socketpair Peername() = %v, %v; want an unnamed unix address", got, err)
	}
}

func TestDatagramBetweenUnixPaths(t *testing.T) {
	dir := t.TempDir()
	rx, err := ListenPacket("unixgram", filepath.Join(dir, "rx"))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := ListenPacket("unixgram", filepath.Join(dir, "tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	bound(t, rx, tx)
	if _, err := tx.SendTo([]byte("u"), 0, UnixAddr(filepath.Join(dir, "rx"))); err != nil {
		t.Fatal(err)
	}
	_, from, err := rx.RecvFrom(make([]byte, 4), 0)
	if err != nil || from.Path != filepath.Join(dir, "tx") {
		t.Errorf("RecvFrom source %v, %v; want %s", from, err, filepath.Join(dir, "tx"))
	}
}

func TestWaitsEnd(t *testing.T) {
	cases := []struct {
		name string
		stop func(s *Socket, cancel context.CancelFunc)
		want error
	}{
		{"deadline", func(s *Socket, _ context.CancelFunc) { s.SetReadDeadline(time.Now().Add(20 * time.Millisecond)) }, os.ErrDeadlineExceeded},
		{"close", func(s *Socket, _ context.CancelFunc) { time.Sleep(20 * time.Millisecond); s.Close() }, net.ErrClosed},
		{"context", func(_ *Socket, cancel context.CancelFunc) { time.Sleep(20 * time.Millisecond); cancel() }, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, _, err := s.RecvFromContext(ctx, make([]byte, 8), 0)
				errc <- err
			}()
			tc.stop(s, cancel)
			select {
			case err := <-errc:
				if !errors.Is(err, tc.want) {
					t.Errorf("blocked RecvFrom returned %v; want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("blocked RecvFrom was not woken within 5s")
			}
		})
	}
}

// A context that ended one call must not leave the socket's deadline in the
// past: the next call has to wait normally.
func TestContextLeavesDeadlineAlone(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := rx.RecvFromContext(ctx, make([]byte, 8), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RecvFromContext: %v; want context.DeadlineExceeded", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		tx.SendTo([]byte("later"), 0, to)
	}()
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := rx.RecvFrom(make([]byte, 8), 0); err != nil {
		t.Errorf("the next RecvFrom after a cancelled one: %v; want the datagram", err)
	}
}

func TestNonblockMode(t *testing.T) {
	s, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetNonblock(true)
	if !s.Nonblock() {
		t.Fatal("Nonblock() = false after SetNonblock(true)")
	}
	_, _, err = s.RecvFrom(make([]byte, 8), 0)
	if !errors.Is(err, unix.EAGAIN) {
		t.Errorf("RecvFrom on an empty nonblocking socket: %v; want EAGAIN", err)
	}
	s.SetNonblock(false)
	s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := s.RecvFrom(make([]byte, 8), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("blocking again: %v; want a deadline error (it waited)", err)
	}
	// MSG_DONTWAIT asks for the same for one call.
	s.SetReadDeadline(time.Time{})
	if _, err := s.Recv(make([]byte, 8), unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("Recv with MSG_DONTWAIT: %v; want EAGAIN", err)
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	_ = rx
	bound(t, tx)

	_, err := tx.SendTo(make([]byte, 70000), 0, to)
	if !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("70000-byte datagram: %v; want EMSGSIZE", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Errno() != unix.EMSGSIZE || e.Op != "sendto" || e.Addr != to.String() {
		t.Errorf("error %#v; want Op sendto, Addr %s, errno EMSGSIZE", e, to)
	}
	if tx.LastError() == nil || !errors.Is(tx.LastError(), unix.EMSGSIZE) {
		t.Errorf("LastError() = %v; want the EMSGSIZE error", tx.LastError())
	}
	if got := tx.ClearError(); !errors.Is(got, unix.EMSGSIZE) || tx.LastError() != nil {
		t.Errorf("ClearError() = %v then LastError() = %v; want the error then nil", got, tx.LastError())
	}

	// 127.255.255.255 is the loopback subnet's broadcast address: without
	// SO_BROADCAST the kernel refuses it.
	bcast := AddrFrom(netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), to.AddrPort.Port()))
	_, err = tx.SendTo([]byte("b"), 0, bcast)
	if !errors.Is(err, unix.EACCES) {
		t.Errorf("broadcast without SO_BROADCAST: %v; want EACCES", err)
	}
	if msg := err.Error(); msg != "dgram: sendto 127.255.255.255:"+itoa(int(to.AddrPort.Port()))+": permission denied (EACCES)" {
		t.Errorf("message %q does not name call, address and errno", msg)
	}
	if err := tx.SetBroadcast(true); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.SendTo([]byte("b"), 0, bcast); err != nil {
		t.Errorf("broadcast with SO_BROADCAST: %v", err)
	}

	if err := tx.Bind(AddrFrom(netip.MustParseAddrPort("[::1]:0"))); !errors.Is(err, ErrWrongFamily) {
		t.Errorf("binding an IPv4 socket to [::1]: %v; want ErrWrongFamily", err)
	}
	if _, err := ParseAddr("300.1.1.1:5"); err == nil {
		t.Error("ParseAddr(300.1.1.1:5): no error")
	}
	if _, err := ListenPacket("udp", "127.0.0.1:99999"); err == nil {
		t.Error("port 99999: no error")
	}
	if _, err := ListenPacket("tcp", "127.0.0.1:0"); err == nil {
		t.Error("ListenPacket tcp: no error")
	}
	if _, err := Open(unix.AF_INET, 99, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Open with a bad type: %v; want EINVAL", err)
	}
	if got := Strerror(unix.ENETUNREACH); got != "network is unreachable (ENETUNREACH)" {
		t.Errorf("Strerror(ENETUNREACH) = %q", got)
	}
}

func TestOptions(t *testing.T) {
	s := mustOpen(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := s.SetBroadcast(true); err != nil {
		t.Fatal(err)
	}
	if on, err := s.OptionBool(unix.SOL_SOCKET, unix.SO_BROADCAST); err != nil || !on {
		t.Errorf("SO_BROADCAST = %v, %v; want true", on, err)
	}
	got, err := s.SetRecvBuffer(1 << 20)
	if err != nil || got < 1<<20 {
		t.Errorf("SetRecvBuffer(1MiB) granted %d, %v", got, err)
	}
	if err := s.SetOptionTimeval(unix.SOL_SOCKET, unix.SO_RCVTIMEO, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d, err := s.OptionTimeval(unix.SOL_SOCKET, unix.SO_RCVTIMEO); err != nil || d != 1500*time.Millisecond {
		t.Errorf("SO_RCVTIMEO = %v, %v; want 1.5s", d, err)
	}
	if err := s.BindToDevice("lo"); err != nil {
		t.Fatal(err)
	}
	if dev, err := s.OptionString(unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err != nil || dev != "lo" {
		t.Errorf("SO_BINDTODEVICE = %q, %v; want lo", dev, err)
	}
	if err := s.BindToDevice("no-such-if0"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("BindToDevice(no-such-if0): %v; want ENODEV", err)
	}
	raw, err := s.OptionBytes(unix.SOL_SOCKET, unix.SO_TYPE, make([]byte, 4))
	if err != nil || len(raw) != 4 {
		t.Errorf("OptionBytes(SO_TYPE) = %v, %v", raw, err)
	}
	st := mustOpen(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := st.SetLinger(true, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if on, d, err := st.Linger(); err != nil || !on || d != 3*time.Second {
		t.Errorf("Linger() = %v %v %v; want true 3s", on, d, err)
	}
	err = s.SetOptionInt(unix.SOL_SOCKET, 9999, 1)
	if !errors.Is(err, unix.ENOPROTOOPT) || err.Error() != "dgram: setsockopt level 1 option 9999: protocol not available (ENOPROTOOPT)" {
		t.Errorf("unknown option: %v", err)
	}
}

// A context that has already ended must end the call at once, and must not
// consume a datagram that is waiting.
func TestContextAlreadyDone(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	if _, err := tx.SendTo([]byte("keep"), 0, to); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errc := make(chan error, 1)
	go func() {
		_, _, err := rx.RecvFromContext(ctx, make([]byte, 8), 0)
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("RecvFromContext with a cancelled context: %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RecvFromContext with a cancelled context blocked")
	}
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := rx.RecvFrom(make([]byte, 8), 0)
	if err != nil || n != 4 {
		t.Errorf("the waiting datagram after the cancelled call: %d, %v; want it still there", n, err)
	}
}

// Drops reads the kernel's drop counter: over loopback every datagram is
// either queued or dropped, so the two add up to what was sent.
func TestDrops(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	if d, err := rx.Drops(); err != nil || d != 0 {
		t.Fatalf("Drops on a new socket: %d, %v; want 0", d, err)
	}
	if err := rx.SetOptionInt(unix.SOL_SOCKET, unix.SO_RCVBUF, 1); err != nil {
		t.Fatal(err)
	}
	const sent = 100
	payload := make([]byte, 1000)
	for range sent {
		if _, err := tx.SendTo(payload, 0, to); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2000)
	received := 0
	for range sent {
		if _, _, err := rx.RecvFrom(buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
		received++
	}
	d, err := rx.Drops()
	if err != nil {
		t.Fatal(err)
	}
	if d == 0 || received+int(d) != sent {
		t.Errorf("received %d + dropped %d; want %d, some dropped", received, d, sent)
	}
}
