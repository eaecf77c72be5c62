package main

import (
	"fmt"
	"math"
	"strconv"

	"github.com/bcastdev/bcast/internal/daemon"
	"github.com/bcastdev/bcast/internal/echoguard"
	"github.com/urfave/cli/v2"
)

const catReply = "Datagram replies (echo mode)"

var replyFlags = []cli.Flag{
	&cli.StringFlag{Name: "limit", Category: catReply, Value: strconv.Itoa(echoguard.DefaultRate),
		Usage: "answer at most `N` datagrams a second to one source address, in bursts of as many (loopback sources are not limited; 0: no limit)"},
	&cli.StringFlag{Name: "service-ports", Category: catReply, Value: "default",
		Usage: "never answer datagrams from these source `PORTS` (services that answer anything: echo, chargen, DNS, NTP, SSDP, mDNS ...; e.g. default,4000-4010 or none)"},
	&cli.BoolFlag{Name: "broadcast", Category: catReply, Usage: "also answer datagrams sent to a broadcast address (each source still limited by --limit)"},
	&cli.StringSliceFlag{Name: "reply-dir", Category: catReply,
		Usage: "answer unixgram senders bound in `DIR` too (repeatable; by default only abstract names and paths in directories this process's user owns and nobody else can write)"},
}

// parseReplyPolicy checks the flags that say which datagrams echo mode
// answers.
func parseReplyPolicy(c *cli.Context) (daemon.ReplyPolicy, error) {
	var p daemon.ReplyPolicy
	text := c.String("limit")
	rate, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 || rate > 1e9 {
		return p, fmt.Errorf("--limit %q: want a number of datagrams a second from 0 (no limit) to 1000000000", text)
	}
	p.Rate = rate
	if rate == 0 {
		p.Rate = -1
	}
	if p.ServicePorts, err = echoguard.ParsePorts(c.String("service-ports")); err != nil {
		return p, fmt.Errorf("--service-ports: %v", err)
	}
	p.Broadcast = c.Bool("broadcast")
	p.ReplyDirs = c.StringSlice("reply-dir")
	return p, nil
}
