package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/echoguard"
	"github.com/urfave/cli/v2"
)

const echoDescription = `A UDP echo server for latency tests: each datagram goes back to its sender,
from the address it was sent to and out of the interface it came in by.

   bcast echo --listen :7777
   bcast echo --listen :7777 --group 239.1.2.3      # also answer pings to a group
   bcast echo --listen :7777 --broadcast --limit 5  # also answer broadcasts
   (elsewhere)  bcast ping --to HOST:7777

Unicast datagrams are answered; datagrams sent to a group only with --group
(the groups joined), to a broadcast address only with --broadcast. Each
source address gets at most --limit answers a second, in bursts of as many
(loopback sources are not limited), so no sender can make this host flood
anyone, and one sender's flood does not cost another sender its answers.

Never answered, and counted by reason in the summary: a source that cannot
have sent the datagram (0.0.0.0, ::, a broadcast or group address, this
host's own address arriving from the network), source port 0, the port
echo listens on (two echo servers on one port would bounce a datagram
forever), the source ports of services that answer anything (--service-ports:
echo, chargen, DNS, NTP, SSDP, mDNS ...), a datagram equal to an answer sent
to the same address and port within the last second (a loop with another
echo server: that source is then not answered for 5 s), and truncated ones
(the reply would be wrong).

When --iface, or an interface a group was joined on, goes down or away,
echo says so on standard error and carries on; once it is back (deleted
and made again too) echo answers there again, joining the groups anew.`

func echoCommand() *cli.Command {
	return &cli.Command{
		Name:        "echo",
		Usage:       "UDP echo server for bcast ping",
		UsageText:   "bcast echo --listen [ADDR:]PORT [options]",
		Description: echoDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Usage: "bind `[ADDR:]PORT`"},
			groupFlag("also answer datagrams to multicast group `G` (repeatable; rate-limited)"),
			ifaceFlag("only datagrams that arrived on interface `NAME`"),
			&cli.Float64Flag{Name: "limit", Value: echoguard.DefaultRate, Usage: "answer at most `N` datagrams a second to one source address (loopback: no limit; 0: no limit)"},
			&cli.BoolFlag{Name: "broadcast", Usage: "also answer datagrams sent to a broadcast address"},
			&cli.StringFlag{Name: "service-ports", Value: "default", Usage: "never answer datagrams from these source `PORTS` (e.g. default,4000-4010 or none)"},
			&cli.Uint64Flag{Name: "count", Aliases: []string{"c"}, Usage: "stop after answering `N` datagrams (0: no limit)"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"w"}, Usage: "stop after `D`; exit status 3 if nothing arrived"},
			quietFlag("no line per datagram"),
			jsonFlag(),
		},
		Action: runEcho,
	}
}

type echoOut struct {
	Type   string `json:"type"`
	TS     string `json:"ts"`
	Src    string `json:"src"`
	Sport  uint16 `json:"sport"`
	Dst    string `json:"dst"`
	Dport  uint16 `json:"dport"`
	Kind   string `json:"kind"`
	IfName string `json:"ifname"`
	Len    int    `json:"len"`
	Action string `json:"action"` // "replied", "error", or why it was not answered
	Error  string `json:"error,omitempty"`
}

func runEcho(c *cli.Context) error {
	const name = "bcast echo"
	if c.NArg() > 0 {
		return usageError(name, "unexpected argument %q", c.Args().First())
	}
	addr, err := parseEndpoint(c, "listen", c.String("listen"), true)
	if err != nil {
		return usageError(name, "%v", err)
	}
	groups, err := parseGroups(c, c.StringSlice("group"))
	if err != nil {
		return usageError(name, "%v", err)
	}
	limit := c.Float64("limit")
	if math.IsNaN(limit) || math.IsInf(limit, 0) || limit < 0 || limit > 1e9 {
		return usageError(name, "--limit %v: want a number of answers a second from 0 (no limit) to 1000000000", limit)
	}
	servicePorts, err := echoguard.ParsePorts(c.String("service-ports"))
	if err != nil {
		return usageError(name, "--service-ports: %v", err)
	}
	if n := c.String("iface"); n != "" {
		if err := ifaceCheck(c, "iface", n); err != nil {
			return usageError(name, "%v", err)
		}
	}
	timeout := c.Duration("timeout")
	quiet, asJSON := c.Bool("quiet"), c.Bool("json")
	cfg := echoConfig(addr, c.String("iface"), quiet)
	for _, g := range groups {
		if g.Is6() && cfg.Network == "udp4" {
			if !addr.Addr().IsUnspecified() {
				return usageError(name, "--group %s is IPv6 but --listen %s is IPv4", g, addr)
			}
			cfg.Network, cfg.Addr = "udp6", netip.AddrPortFrom(netip.IPv6Unspecified(), addr.Port())
		}
	}
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	r, joined, err := openReceiver(name, cfg, groups, stderr, asJSON)
	if err != nil {
		return err
	}
	defer r.Close()
	stopFollow, err := followReceiver(name, r, cfg, groups, joined, stderr)
	if err != nil {
		return failure(name, "following interfaces: %s", explained(err))
	}
	defer stopFollow()
	local := r.LocalAddr()
	if asJSON {
		stdout.JSON(map[string]any{"type": "listening", "addr": local.String(), "port": local.Port(), "network": cfg.Network})
	} else {
		stderr.Printf("%s: listening on %s (%s)", name, local, cfg.Network)
	}

	ctx := c.Context
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	gcfg := echoguard.DefaultConfig(local.Port())
	gcfg.Rate, gcfg.Burst = limit, max(int(limit), 1)
	gcfg.ServicePorts = servicePorts
	gcfg.Broadcast, gcfg.Multicast = c.Bool("broadcast"), len(groups) > 0
	e := newEchoer(r, echoguard.New(gcfg))
	pkts := make([]broadcast.Packet, 32)
	var recvErr error
	count := c.Uint64("count")
loop:
	for {
		n, err := r.Receive(ctx, pkts)
		if err != nil {
			recvErr = err
			break
		}
		batchTime := time.Now() // one clock read a batch, for datagrams without a timestamp
		for i := range pkts[:n] {
			pk := &pkts[i]
			now := pk.Time
			if now.IsZero() {
				now = batchTime
			}
			verdict, err := e.answer(pk, now)
			if !quiet || err != nil { // --quiet says only errors
				e.report(stdout, stderr, pk, now, verdict, err, asJSON)
			}
			if count > 0 && e.replied >= count {
				break loop
			}
		}
	}
	stopFollow() // nothing said after the summary
	counts := e.guard.Counts()
	if asJSON {
		stdout.JSON(map[string]any{"type": "summary", "received": e.received, "replied": e.replied, "ignored": counts.Suppressed(),
			"ignored_by_reason": counts.Map(), "errors": e.failed})
	} else {
		why := ""
		if s := counts.String(); s != "" {
			why = " (" + s + ")"
		}
		stderr.Printf("%s: %d datagrams, %d answered, %d ignored%s, %d reply errors", name, e.received, e.replied, counts.Suppressed(), why, e.failed)
	}
	switch {
	case recvErr == nil, c.Context.Err() != nil:
		return nil
	case errors.Is(recvErr, context.DeadlineExceeded):
		if e.received == 0 {
			return cli.Exit(fmt.Sprintf("%s: nothing received within %v", name, timeout), exitTimeout)
		}
		return nil
	}
	return failure(name, "%s", explained(recvErr))
}

// echoConfig is the Receiver bcast echo opens. Its receive loop owns its
// goroutine: it waits for requests in the kernel, not in the runtime
// poller, whose park and wake-up per request cost more than answering it.
// It asks the kernel only for what it uses: the destination and arrival
// interface (pktinfo) that the checks and the reply's source need, and the
// receive timestamp only for the lines it prints.
func echoConfig(addr netip.AddrPort, iface string, quiet bool) broadcast.ReceiverConfig {
	cfg := broadcast.ReceiverConfig{Network: "udp4", Addr: addr, Iface: iface, Metadata: broadcast.MetaPktInfo, WaitInKernel: true}
	if !quiet {
		cfg.Metadata |= broadcast.MetaTime
	}
	if a := addr.Addr(); a.Is6() && !a.Is4In6() {
		cfg.Network = "udp6"
	}
	return cfg
}

// echoer answers datagrams: the guard's checks, then the echo.
type echoer struct {
	r     *broadcast.Receiver
	guard *echoguard.Guard
	addrs *broadcast.AddrMemo // the receive loop's own: remembered answers

	received, replied, failed uint64
	// Reply errors printed: when the last line was, how many held back
	// since.
	lastErrorLine time.Time
	errorsHeld    uint64
}

func newEchoer(r *broadcast.Receiver, guard *echoguard.Guard) *echoer {
	return &echoer{r: r, guard: guard, addrs: r.Addrs().Memo()}
}

// answer sends pk back to its sender if the guard allows it. It returns
// the guard's verdict (Truncated for a datagram cut by the buffer, whose
// echo would be wrong) and the reply's error, if sending it failed.
func (e *echoer) answer(pk *broadcast.Packet, now time.Time) (echoguard.Reason, error) {
	e.received++
	if pk.Truncated {
		e.guard.Count(echoguard.Truncated)
		return echoguard.Truncated, nil
	}
	verdict := e.guard.Check(now, &echoguard.Datagram{
		Src: pk.Src, Dest: echoDest(pk.Kind), Payload: pk.Data,
		SrcLocal: pk.Own, SrcBroadcast: e.addrs.IsBroadcast(pk.Src.Addr()), Loopback: e.addrs.IsLoopback(pk.IfIndex),
	})
	if verdict != echoguard.Reply {
		return verdict, nil
	}
	if err := e.r.Reply(pk, pk.Data); err != nil {
		e.failed++
		return verdict, err
	}
	e.replied++
	e.guard.Echoed(now)
	return verdict, nil
}

// report prints what became of pk: a line (or JSON object) per datagram,
// and reply errors at most once a second (with how many were held back
// since the last one), so that a flood of failing replies does not become
// a flood of lines.
func (e *echoer) report(stdout, stderr *out, pk *broadcast.Packet, now time.Time, verdict echoguard.Reason, err error, asJSON bool) {
	const name = "bcast echo"
	local := e.r.LocalAddr()
	action, errText := verdict.String(), ""
	if err != nil {
		action, errText = "error", explained(err)
	}
	switch {
	case asJSON:
		stdout.JSON(echoOut{Type: "echo", TS: now.Format(time.RFC3339Nano), Src: pk.Src.Addr().String(), Sport: pk.Src.Port(),
			Dst: addrText(pk.Dst), Dport: local.Port(), Kind: pk.Kind.String(), IfName: pk.IfName, Len: pk.Size, Action: action, Error: errText})
	case errText != "":
		if now.Sub(e.lastErrorLine) < time.Second {
			e.errorsHeld++
			return
		}
		more := ""
		if e.errorsHeld > 0 {
			more = fmt.Sprintf(" (%d more reply errors since the last line)", e.errorsHeld)
		}
		stderr.Printf("%s %s: reply to %s failed: %s%s", tsText(now), name, pk.Src, errText, more)
		e.lastErrorLine, e.errorsHeld = now, 0
	default:
		verb := "echoed"
		if verdict != echoguard.Reply {
			verb = "ignored (" + action + ")"
		}
		stdout.Printf("%s %s > %s %s %s len %d %s", tsText(now), pk.Src, hostPort(pk.Dst, local.Port()), pk.Kind, pk.IfName, pk.Size, verb)
	}
}

func echoDest(k broadcast.Kind) echoguard.Dest {
	switch k {
	case broadcast.Unicast:
		return echoguard.ToUnicast
	case broadcast.Broadcast:
		return echoguard.ToBroadcast
	case broadcast.Multicast:
		return echoguard.ToMulticast
	}
	return echoguard.DestUnknown
}
