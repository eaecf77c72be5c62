package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

const connectDescription = `The nc/socat-style client: standard input to the socket, the socket to
standard output, byte for byte.

   bcast connect localhost:echo                      # TCP; a service name from /etc/services
   printf 'HEAD / HTTP/1.0\r\n\r\n' | bcast connect www.example.lan:80
   bcast connect --crlf mail.lan:smtp                # type SMTP by hand
   bcast connect --udp 10.0.0.7:7777                 # one datagram per line
   bcast connect --udp 255.255.255.255:7777 --broadcast --iface eth0
   bcast connect --unix /run/listen/echo.sock
   bcast connect --unixgram @echo                    # @NAME: abstract namespace
   bcast connect '[fe80::1%eth0]:7'

TCP and unix streams: at the end of standard input the write side is shut
(shutdown SHUT_WR) and the output goes on until the peer closes, so a
server that answers only after EOF is still heard (--no-shutdown keeps the
write side open). The run ends when the peer closes (exit 0), after --idle
of silence both ways (exit 0), at --timeout (exit 3 if nothing was
received), or on an error (exit 1). --connect-timeout bounds the connect
alone (exit 3).

UDP and unixgram: each line of standard input is one datagram (--no-lines:
each read of up to 64 KiB); replies are printed as they come, and a reply
cut short is reported, never silently. After the end of standard input the
command waits --wait for late replies, then exits 0. With --broadcast the
socket may send to a broadcast address (SO_BROADCAST) and is not connected,
so replies from every host that answers are printed, each announced on
standard error with its source.

Host names come from /etc/hosts and the system's resolver (inside 'ip netns
exec NAME', /etc/netns/NAME/hosts too); a port may be a service name.
--json writes a summary object on standard error at the end.`

func connectCommand() *cli.Command {
	return &cli.Command{
		Name:        "connect",
		Usage:       "talk to a TCP, UDP or unix-domain server, like nc",
		UsageText:   "bcast connect HOST:PORT | --udp HOST:PORT | --unix PATH | --unixgram PATH [options]",
		Description: connectDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "udp", Usage: "talk UDP to `HOST:PORT`"},
			&cli.StringFlag{Name: "unix", Usage: "connect to the unix stream socket at `PATH` (@NAME: abstract)"},
			&cli.StringFlag{Name: "unixgram", Usage: "talk to the unix datagram socket at `PATH` (@NAME: abstract)"},
			&cli.StringFlag{Name: "src", Usage: "send from `ADDR[:PORT]` (one of this host's addresses)"},
			ifaceFlag("use interface `NAME` only (SO_BINDTODEVICE); the zone of a link-local address"),
			&cli.BoolFlag{Name: "broadcast", Usage: "--udp: allow a broadcast destination (SO_BROADCAST); replies from any host"},
			&cli.BoolFlag{Name: "crlf", Usage: "send each LF as CRLF (typing HTTP or SMTP by hand)"},
			&cli.BoolFlag{Name: "lines", Value: true, Usage: "--udp, --unixgram: one datagram per line of input (--lines=false or --no-lines: each read whole)"},
			&cli.BoolFlag{Name: "no-lines", Usage: "same as --lines=false"},
			&cli.BoolFlag{Name: "no-shutdown", Usage: "keep the write side open at the end of input"},
			&cli.DurationFlag{Name: "connect-timeout", Usage: "give up connecting after `D` (exit 3)"},
			&cli.DurationFlag{Name: "idle", Usage: "end after `D` with nothing sent or received"},
			&cli.DurationFlag{Name: "wait", Value: time.Second, Usage: "datagrams: after the end of input, wait `D` for late replies"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"w"}, Usage: "end the whole run after `D`; exit 3 if nothing was received"},
			jsonFlag(),
		},
		Action: runConnect,
	}
}

// connectPlan is the command line of connect, checked.
type connectPlan struct {
	network string // tcp, udp, unix, unixgram
	dests   []dgram.Addr
	label   string // what the user named, for messages
	src     dgram.Addr
	iface   string
	bcast   bool
	crlf    bool
	lines   bool
	shut    bool
	connTO  time.Duration
	idle    time.Duration
	wait    time.Duration
	timeout time.Duration
	json    bool
}

// connectStats is what the summary reports.
type connectStats struct {
	sent, received         atomic.Int64 // bytes
	dgramsOut, dgramsIn    atomic.Int64
	truncated              atomic.Int64
	lastActivity           atomic.Int64 // unix nanoseconds
	start                  time.Time
	end                    string
	firstReceived, replied atomic.Bool
}

func (s *connectStats) touch() { s.lastActivity.Store(time.Now().UnixNano()) }

func runConnect(c *cli.Context) error {
	const name = "bcast connect"
	p, err := parseConnect(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	ctx := c.Context
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, p.timeout, errRunTimeout)
		defer cancel()
	}
	st := &connectStats{start: time.Now()}
	st.touch()
	stderr := newOut(c.App.ErrWriter)

	s, to, err := dialConnect(ctx, p)
	if err != nil {
		st.end = "error"
		if errors.Is(context.Cause(ctx), errRunTimeout) || errors.Is(err, errConnectTimeout) {
			st.end = "timeout"
			summary(stderr, p, st, to)
			return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitTimeout)
		}
		summary(stderr, p, st, to)
		return failure(name, "%s", err)
	}
	defer s.Close()

	var runErr error
	if p.network == "tcp" || p.network == "unix" {
		runErr = streamCopy(ctx, p, s, c.App.Reader, c.App.Writer, st)
	} else {
		runErr = datagramCopy(ctx, p, s, to, c.App.Reader, c.App.Writer, stderr, st)
	}
	received := st.received.Load() > 0 || st.dgramsIn.Load() > 0
	switch {
	case runErr == nil:
	case errors.Is(context.Cause(ctx), errRunTimeout):
		st.end = "timeout"
		summary(stderr, p, st, to)
		if !received {
			return cli.Exit(fmt.Sprintf("%s: nothing received within %v", name, p.timeout), exitTimeout)
		}
		return nil
	case c.Context.Err() != nil:
		st.end = "interrupted"
		summary(stderr, p, st, to)
		return nil
	default:
		st.end = "error"
		summary(stderr, p, st, to)
		return failure(name, "%s", connectProblem(runErr, to))
	}
	summary(stderr, p, st, to)
	return nil
}

var (
	errRunTimeout     = errors.New("--timeout passed")
	errConnectTimeout = errors.New("connect timed out")
)

// timeoutError is a message in words that counts as errConnectTimeout.
type timeoutError string

func (e timeoutError) Error() string        { return string(e) }
func (e timeoutError) Is(target error) bool { return target == errConnectTimeout }

func parseConnect(c *cli.Context) (*connectPlan, error) {
	p := &connectPlan{
		crlf: c.Bool("crlf"), lines: c.Bool("lines") && !c.Bool("no-lines"), shut: !c.Bool("no-shutdown"),
		connTO: c.Duration("connect-timeout"), idle: c.Duration("idle"), wait: c.Duration("wait"),
		timeout: c.Duration("timeout"), json: c.Bool("json"), bcast: c.Bool("broadcast"), iface: c.String("iface"),
	}
	var given []string
	for _, n := range []string{"udp", "unix", "unixgram"} {
		if c.IsSet(n) {
			given = append(given, "--"+n)
			p.network, p.label = n, c.String(n)
		}
	}
	switch {
	case len(given) > 1:
		return nil, fmt.Errorf("%s: give one of them", strings.Join(given, " and "))
	case len(given) == 1 && c.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %s: %s names the peer already", cmdline.Quote(c.Args().First()), given[0])
	case len(given) == 0 && c.NArg() == 0:
		return nil, errors.New("no peer: give HOST:PORT (TCP), --udp HOST:PORT, --unix PATH or --unixgram PATH")
	case len(given) == 0 && c.NArg() > 1:
		return nil, fmt.Errorf("unexpected argument %s after the peer", cmdline.Quote(c.Args().Get(1)))
	case len(given) == 0:
		p.network, p.label = "tcp", c.Args().First()
	}
	if p.bcast && p.network != "udp" {
		return nil, errors.New("--broadcast goes with --udp")
	}
	if p.iface != "" {
		if err := ifaceCheck(c, "iface", p.iface); err != nil {
			return nil, err
		}
	}
	if p.network == "unix" || p.network == "unixgram" {
		ref := "--" + p.network
		switch {
		case p.label == "", p.label == "@":
			return nil, fmt.Errorf("%s: no path", ref)
		case len(p.label) > 107:
			return nil, fmt.Errorf("%s: a path of %d bytes is longer than a unix socket address holds (107)", ref, len(p.label))
		case c.IsSet("src"), c.IsSet("iface"):
			return nil, fmt.Errorf("--src and --iface are for TCP and UDP, not %s", ref)
		}
		p.dests = []dgram.Addr{dgram.UnixAddr(p.label)}
		return p, nil
	}
	ref := "--udp " + p.label
	if p.network == "tcp" {
		ref = cmdline.Quote(p.label)
	}
	dests, err := resolvePeer(c.Context, p.network, p.label)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", ref, err)
	}
	for i, d := range dests {
		a := d.AddrPort
		if linkScoped(a.Addr()) && a.Addr().Zone() == "" {
			if p.iface == "" {
				return nil, fmt.Errorf("%s: %s exists once per link: name the interface with --iface NAME or as a zone ([%s%%NAME]:%d); %s",
					ref, a.Addr(), a.Addr(), a.Port(), linkCandidates(a.Addr().IsMulticast()))
			}
			dests[i] = dgram.AddrFrom(netip.AddrPortFrom(a.Addr().WithZone(p.iface), a.Port()))
		}
		if z := a.Addr().Zone(); z != "" {
			if p.iface != "" && p.iface != z {
				return nil, fmt.Errorf("%s names interface %s but --iface is %s", ref, z, p.iface)
			}
			if err := cmdline.CheckInterface(ref, z); err != nil {
				return nil, err
			}
		}
	}
	p.dests = dests
	if s := c.String("src"); s != "" {
		src, err := parseSource(s)
		if err != nil {
			return nil, fmt.Errorf("--src %s: %v", s, err)
		}
		p.src = dgram.AddrFrom(src)
	}
	return p, nil
}

// resolvePeer reads HOST:PORT for tcp or udp: HOST a literal address (a
// malformed one is an error, never a DNS query) or a name from /etc/hosts
// or the resolver, PORT a number or a service name from /etc/services.
func resolvePeer(ctx context.Context, network, text string) ([]dgram.Addr, error) {
	host, portText, err := net.SplitHostPort(text)
	if err != nil {
		return nil, errors.New(splitProblem(text, err))
	}
	if host == "" {
		return nil, errors.New("no host before the port")
	}
	var port uint16
	if onlyDigits(portText) {
		if port, err = parsePort(portText); err != nil {
			return nil, err
		}
	} else {
		n, err := net.DefaultResolver.LookupPort(ctx, network, portText)
		if err != nil {
			return nil, fmt.Errorf("no %s service %s in /etc/services", network, cmdline.Quote(portText))
		}
		port = uint16(n)
	}
	if port == 0 {
		return nil, errors.New("port 0: nobody listens there")
	}
	if cmdline.LooksLiteral(host) {
		if p := cmdline.LiteralProblem(host); p != "" {
			return nil, errors.New(p)
		}
		a, _ := netip.ParseAddr(host)
		return []dgram.Addr{dgram.AddrFrom(netip.AddrPortFrom(a.Unmap(), port))}, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return nil, fmt.Errorf("host not found: %s (%s)", host, resolveProblem(err))
	}
	var out []dgram.Addr
	for _, ip := range ips {
		out = append(out, dgram.AddrFrom(netip.AddrPortFrom(ip.Unmap(), port)))
	}
	return out, nil
}

// parseSource reads --src: ADDR or ADDR:PORT, a literal.
func parseSource(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if p := cmdline.LiteralProblem(strings.Trim(s, "[]")); p != "" {
		return netip.AddrPort{}, errors.New(p)
	}
	a, _ := netip.ParseAddr(strings.Trim(s, "[]"))
	return netip.AddrPortFrom(a, 0), nil
}

// dialConnect opens the socket and connects it (datagram sockets with
// --broadcast stay unconnected). It returns the peer it reached.
func dialConnect(ctx context.Context, p *connectPlan) (*dgram.Socket, dgram.Addr, error) {
	var last error
	var lastTo dgram.Addr
	for _, to := range p.dests {
		lastTo = to
		s, err := openFor(p, to)
		if err != nil {
			// A name may give both families and --src fits one of
			// them: the next address may do.
			last = err
			continue
		}
		if p.network == "udp" && p.bcast {
			return s, to, nil // replies come from hosts other than the one written to
		}
		cctx := ctx
		var cancel context.CancelFunc = func() {}
		if p.connTO > 0 {
			cctx, cancel = context.WithTimeoutCause(ctx, p.connTO, errConnectTimeout)
		}
		err = s.ConnectContext(cctx, to)
		cause := context.Cause(cctx)
		cancel()
		if err == nil {
			return s, to, nil
		}
		s.Close()
		if errors.Is(cause, errConnectTimeout) {
			return nil, to, timeoutError(fmt.Sprintf("no connection to %s within --connect-timeout %v", peerText(to), p.connTO))
		}
		if ctx.Err() != nil {
			return nil, to, fmt.Errorf("connecting to %s: %w", peerText(to), context.Cause(ctx))
		}
		last = err
	}
	return nil, lastTo, errors.New(connectProblem(last, lastTo))
}

func openFor(p *connectPlan, to dgram.Addr) (*dgram.Socket, error) {
	family := to.Family()
	sotype := unix.SOCK_STREAM
	if p.network == "udp" || p.network == "unixgram" {
		sotype = unix.SOCK_DGRAM
	}
	s, err := dgram.Open(family, sotype, 0)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*dgram.Socket, error) {
		s.Close()
		return nil, err
	}
	if p.iface != "" {
		if err := s.BindToDevice(p.iface); err != nil {
			return fail(err)
		}
	}
	if p.bcast {
		if err := s.SetBroadcast(true); err != nil {
			return fail(err)
		}
	}
	switch {
	case p.src.AddrPort.IsValid():
		src := p.src.AddrPort
		if family == unix.AF_INET6 && src.Addr().Is4() {
			return fail(fmt.Errorf("--src %v is IPv4 but %s is IPv6", src, peerText(to)))
		}
		if family == unix.AF_INET && !src.Addr().Unmap().Is4() {
			return fail(fmt.Errorf("--src %v is IPv6 but %s is IPv4", src, peerText(to)))
		}
		if err := s.Bind(dgram.AddrFrom(netip.AddrPortFrom(src.Addr().Unmap(), src.Port()))); err != nil {
			return fail(fmt.Errorf("--src %v: %w", src, err))
		}
	case p.network == "unixgram":
		// An unbound sender cannot be answered; the kernel picks an
		// abstract name for an empty one (autobind).
		if err := s.Bind(dgram.UnixAddr("")); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// peerText is the peer as a person writes it.
func peerText(a dgram.Addr) string { return a.String() }

// connectProblem says what went wrong talking to to, with the errno.
func connectProblem(err error, to dgram.Addr) string {
	if err == nil {
		return "no address to connect to"
	}
	// dgram.Strerror says the errno in words with its name; what follows
	// says where, and what it means here.
	e, peer := dgram.Errno(err), peerText(to)
	switch e {
	case unix.ECONNREFUSED:
		return fmt.Sprintf("%s by %s: nothing listens there", dgram.Strerror(e), peer)
	case unix.ECONNRESET, unix.EHOSTUNREACH:
		return fmt.Sprintf("%s %s", dgram.Strerror(e), peer)
	case unix.ENETUNREACH:
		return fmt.Sprintf("%s for %s: no route; check the address, or --iface", dgram.Strerror(e), peer)
	case unix.ETIMEDOUT:
		return fmt.Sprintf("%s to %s", dgram.Strerror(e), peer)
	case unix.ENOENT:
		return fmt.Sprintf("no socket at %s (ENOENT)", peer)
	case unix.EACCES:
		if to.Unix {
			return fmt.Sprintf("%s on %s", dgram.Strerror(e), peer)
		}
	}
	return explained(err)
}

// streamCopy runs a TCP or unix stream session.
func streamCopy(ctx context.Context, p *connectPlan, s *dgram.Socket, in io.Reader, out io.Writer, st *connectStats) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		err := pumpIn(ctx, p, in, func(b []byte) error {
			_, err := s.Write(b)
			if err == nil {
				st.sent.Add(int64(len(b)))
				st.touch()
			}
			return err
		})
		if err == nil && p.shut {
			// The end of input is the end of what we say: the peer
			// reads EOF and may answer now; we go on reading.
			if serr := s.Shutdown(dgram.ShutWrite); serr != nil && !errors.Is(serr, unix.ENOTCONN) {
				err = serr
			}
		}
		if err != nil {
			cancel(err)
		}
	}()
	stopIdle := watchIdle(ctx, p.idle, st, cancel)
	defer stopIdle()

	buf := make([]byte, 64<<10)
	for {
		n, err := s.ReadContext(ctx, buf)
		if n > 0 {
			st.received.Add(int64(n))
			st.touch()
			if _, werr := out.Write(buf[:n]); werr != nil {
				return fmt.Errorf("writing standard output: %w", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			st.end = "peer closed"
			return nil
		}
		if err != nil {
			cause := context.Cause(ctx)
			switch {
			case errors.Is(cause, errIdle):
				st.end = "idle"
				return nil
			case ctx.Err() != nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errRunTimeout):
				return cause // standard input or a write failed
			}
			return err
		}
	}
}

var errIdle = errors.New("--idle passed")

// watchIdle ends the session (cancel with errIdle) after idle of silence.
func watchIdle(ctx context.Context, idle time.Duration, st *connectStats, cancel context.CancelCauseFunc) func() {
	if idle <= 0 {
		return func() {}
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(min(idle/4+time.Millisecond, 250*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if time.Since(time.Unix(0, st.lastActivity.Load())) >= idle {
					cancel(errIdle)
					return
				}
			}
		}
	}()
	return func() { close(stop) }
}

// pumpIn reads standard input and hands it to send: with lines, one line
// (with its newline) at a time, through send's readLines (a line longer
// than any datagram is an error, not a buffer that grows without end);
// otherwise each read as it comes. --crlf turns LF into CRLF. It returns
// nil at the end of input.
func pumpIn(ctx context.Context, p *connectPlan, in io.Reader, send func([]byte) error) error {
	if in == nil {
		return nil
	}
	dgramMode := p.network == "udp" || p.network == "unixgram"
	if dgramMode && p.lines {
		err := readLines(ctx, in, maxPayload6, func(line []byte) error {
			if p.crlf {
				line = crlf(line)
			}
			return send(line)
		})
		if ctx.Err() != nil {
			return nil // the session ends; what was read is what was sent
		}
		return err
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if p.crlf {
				chunk = crlf(chunk)
			}
			if serr := send(chunk); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// crlf writes each LF not already after a CR as CRLF.
func crlf(b []byte) []byte {
	if bytes.IndexByte(b, '\n') < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// datagramCopy runs a UDP or unixgram session.
func datagramCopy(ctx context.Context, p *connectPlan, s *dgram.Socket, to dgram.Addr, in io.Reader, out io.Writer, stderr *out, st *connectStats) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	connected := !(p.network == "udp" && p.bcast)
	go func() {
		err := pumpIn(ctx, p, in, func(b []byte) error {
			var err error
			if connected {
				_, err = s.Write(b)
			} else {
				_, err = s.SendTo(b, 0, to)
			}
			if err != nil {
				return err
			}
			st.sent.Add(int64(len(b)))
			st.dgramsOut.Add(1)
			st.touch()
			return nil
		})
		if err != nil {
			cancel(err)
			return
		}
		// End of input: late replies have --wait to arrive.
		s.SetReadDeadline(time.Now().Add(p.wait))
	}()
	stopIdle := watchIdle(ctx, p.idle, st, cancel)
	defer stopIdle()

	// One byte more than the largest UDP payload: a reply is never cut.
	m := dgram.Message{Buffers: [][]byte{make([]byte, 65536)}}
	for {
		err := s.RecvMsgContext(ctx, &m, 0)
		if err != nil {
			cause := context.Cause(ctx)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				st.end = "eof"
				return nil
			case errors.Is(cause, errIdle):
				st.end = "idle"
				return nil
			case ctx.Err() != nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errRunTimeout):
				return cause // standard input or a send failed
			}
			return err
		}
		st.dgramsIn.Add(1)
		st.received.Add(int64(m.N))
		st.touch()
		if !connected {
			stderr.Printf("reply from %s (%d bytes)", m.Addr, m.Size)
		}
		if m.Truncated() {
			st.truncated.Add(1)
			stderr.Printf("reply from %s truncated: %d of %d bytes", m.Addr, m.N, m.Size)
		}
		if _, werr := out.Write(m.Buffers[0][:m.N]); werr != nil {
			return fmt.Errorf("writing standard output: %w", werr)
		}
	}
}

// summary writes the --json summary on standard error.
func summary(stderr *out, p *connectPlan, st *connectStats, to dgram.Addr) {
	if !p.json {
		return
	}
	end := st.end
	if end == "" {
		end = "eof"
	}
	obj := map[string]any{
		"type": "summary", "network": p.network, "peer": peerText(to),
		"bytes_sent": st.sent.Load(), "bytes_received": st.received.Load(),
		"duration_s": time.Since(st.start).Seconds(), "end": end,
	}
	if p.network == "udp" || p.network == "unixgram" {
		obj["datagrams_sent"], obj["datagrams_received"], obj["truncated"] = st.dgramsOut.Load(), st.dgramsIn.Load(), st.truncated.Load()
	}
	stderr.JSON(obj)
}
