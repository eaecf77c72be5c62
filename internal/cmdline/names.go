package cmdline

// A Name is one flag name and the one thing it means across bcast and the
// listen daemon. A new flag, or a new command taking an existing one, must
// fit here: the tests of both programs fail on a flag not listed, on a
// short name used for two flags, and on a Daemon mark that does not match
// the daemon; cmd/bcast/README.md carries the table they render.
type Name struct {
	Long, Short string
	Meaning     string
	Daemon      bool // the listen daemon takes it, with this meaning
}

// Names is the table, in the order of the README.
var Names = []Name{
	// Where the traffic goes, or comes from.
	{Long: "to", Short: "t", Meaning: "the destination `ADDR:PORT` of the datagrams the command sends (discover --proto ssdp: the one device a unicast search goes to)"},
	{Long: "listen", Short: "l", Meaning: "the `[ADDR:]PORT` the command receives on"},
	{Long: "port", Short: "p", Meaning: "the UDP port of the traffic the command handles (relay: relays; doctor: diagnoses); announce: the port the announced service listens on, which the announcement carries"},
	{Long: "src", Meaning: "the source address of the datagrams sent (one of this host's)"},
	{Long: "group", Short: "g", Meaning: "a multicast group (`239.1.2.3`, `ff02::fb%eth0`, `SOURCE,GROUP`); never a Unix group"},
	{Long: "dest", Meaning: "send discovery messages to `ADDR:PORT` instead of broadcast or multicast"},
	{Long: "discovery-dest", Meaning: "the daemon's --dest (old name --discovery-to)", Daemon: true},
	// Interfaces.
	{Long: "iface", Short: "i", Meaning: "the interface to use: send out of, receive on, check, or (daemon) bind the listeners to (SO_BINDTODEVICE; old name --device)", Daemon: true},
	{Long: "discovery-iface", Meaning: "the daemon's discovery --iface (old name --discovery-interface)", Daemon: true},
	{Long: "from-iface", Meaning: "relay: take datagrams arriving on this interface (old name --from)"},
	{Long: "to-iface", Meaning: "relay: send them out of this interface (was --to, which is an ADDR:PORT elsewhere)"},
	{Long: "all-interfaces", Short: "A", Meaning: "send once out of every interface that can"},
	{Long: "bind-device", Meaning: "a switch: also bind the socket to --iface (SO_BINDTODEVICE); the daemon's --iface always does"},
	// Time.
	{Long: "timeout", Short: "w", Meaning: "end the whole run after `D`; exit 3 if nothing was received"},
	{Long: "wait", Meaning: "ping, connect: after the last datagram sent, wait `D` for replies; ping --back-to-back: for each reply, after which the datagram is lost (no -w: that is --timeout)"},
	{Long: "connect-timeout", Meaning: "connect: give up connecting after `D` (exit 3); --timeout still ends the whole run"},
	{Long: "idle", Meaning: "stop when nothing arrived for `D` after the first datagram (connect: nothing either way)"},
	{Long: "interval", Meaning: "time between datagrams or announcements"},
	{Long: "duration", Short: "d", Meaning: "bench: how long the sender sends"},
	{Long: "window", Meaning: "relay: how long a relayed datagram is remembered for loop detection"},
	{Long: "lifetime", Meaning: "announce: how long browsers keep the instance without news (was --ttl)"},
	{Long: "idle-timeout", Meaning: "daemon: close a connection idle this long", Daemon: true},
	{Long: "shutdown-timeout", Meaning: "daemon: how long clients get to finish after SIGTERM", Daemon: true},
	// How much, how fast.
	{Long: "count", Short: "c", Meaning: "how many datagrams: to send (send, ping, demo), or to take before stopping (listen, echo)"},
	{Long: "rate", Meaning: "datagrams per second; 0: as fast as possible"},
	{Long: "back-to-back", Meaning: "ping: one datagram in flight, the next sent as soon as the reply is in (netperf UDP_RR, sockperf ping-pong); no short name: ping -b allows a broadcast, which this refuses"},
	{Long: "limit", Meaning: "echo (and the daemon): answers a second to one source address", Daemon: true},
	{Long: "broadcast", Meaning: "echo (and the daemon): also answer datagrams sent to a broadcast address; connect --udp: allow sending to one (SO_BROADCAST)", Daemon: true},
	{Long: "service-ports", Meaning: "echo: never answer datagrams from these source ports", Daemon: true},
	{Long: "reply-dir", Meaning: "daemon: also answer unixgram senders bound in this directory", Daemon: true},
	{Long: "max-peers", Meaning: "discover: keep at most this many peers"},
	{Long: "expect", Meaning: "listen --seq: this many datagrams were sent"},
	{Long: "size", Short: "s", Meaning: "datagram length in bytes"},
	{Long: "batch", Meaning: "datagrams per system call (sendmmsg, recvmmsg)"},
	{Long: "recv-batch", Meaning: "bench: the receiver's --batch"},
	{Long: "buffer", Meaning: "listen: buffer per datagram; a longer one is reported truncated"},
	{Long: "recv-buffer", Meaning: "the socket receive buffer (SO_RCVBUF) in bytes, 0 to 1073741823"},
	// Packets.
	{Long: "ttl", Meaning: "IP TTL / IPv6 hop limit: a hop count, never a duration"},
	{Long: "tos", Meaning: "IP TOS / IPv6 traffic class byte"},
	{Long: "loopback", Meaning: "deliver multicast to this host's own listeners too"},
	{Long: "connect", Meaning: "connect the sending socket to its one destination"},
	{Long: "reuse-port", Meaning: "share the port with other programs (SO_REUSEADDR, SO_REUSEPORT)"},
	{Long: "gso", Meaning: "send with UDP_SEGMENT (GSO)"},
	{Long: "gro", Meaning: "receive with UDP_GRO"},
	{Long: "no-broadcast", Meaning: "relay: only the --group datagrams"},
	// Payload and output.
	{Long: "message", Short: "m", Meaning: "the payload text"},
	{Long: "file", Short: "f", Meaning: "the payload from a file (- for standard input)"},
	{Long: "lines", Meaning: "one datagram per line of input, newline included, sent as it is read (nc -u's habit); send: off (the whole input is one datagram), connect: on (--no-lines: off)"},
	{Long: "seq", Meaning: "sequence stamps: send them, count them"},
	{Long: "hex", Short: "x", Meaning: "print payloads as a hex dump"},
	{Long: "quiet", Short: "q", Meaning: "no line per datagram: only summaries and errors"},
	{Long: "json", Meaning: "one JSON object per line, each with a \"type\""},
	{Long: "progress", Meaning: "a line a second on standard error while the run lasts (iperf3's intervals); by default on a terminal for a long run"},
	{Long: "no-progress", Meaning: "never the line a second"},
	{Long: "crlf", Meaning: "connect: send each LF as CRLF"},
	{Long: "no-lines", Meaning: "connect: each read of input whole, as one datagram"},
	{Long: "no-shutdown", Meaning: "connect: keep the write side open at the end of input"},
	// Discovery.
	{Long: "service", Meaning: "the discovery service name", Daemon: true},
	{Long: "instance", Meaning: "the announced instance ID", Daemon: true},
	{Long: "text", Meaning: "an announced `KEY=VALUE` pair", Daemon: true},
	{Long: "network", Meaning: "discovery over udp4 or udp6"},
	{Long: "transport", Meaning: "discovery by broadcast, multicast or auto"},
	{Long: "proto", Meaning: "the discovery protocol: bcast's own, mdns (mDNS/DNS-SD) or ssdp (UPnP)", Daemon: true},
	{Long: "host", Meaning: "announce --proto mdns: the host name (NAME.local) the service's addresses go under"},
	{Long: "path", Meaning: "announce --proto ssdp: the path of the description document in LOCATION"},
	{Long: "describe", Meaning: "announce --proto ssdp: serve a minimal description document at LOCATION"},
	{Long: "discovery-port", Meaning: "the discovery UDP port", Daemon: true},
	{Long: "discovery-group", Meaning: "the discovery multicast group"},
	// The daemon.
	{Long: "tcp", Meaning: "daemon: serve TCP on `ADDR`", Daemon: true},
	{Long: "udp", Meaning: "a UDP `ADDR`: the daemon serves it, connect talks to it", Daemon: true},
	{Long: "unix", Meaning: "a unix stream socket `PATH`: the daemon serves it, connect connects to it", Daemon: true},
	{Long: "unixgram", Meaning: "a unix datagram socket `PATH`: the daemon serves it, connect talks to it", Daemon: true},
	{Long: "socket-mode", Meaning: "daemon: permission bits of the unix socket files", Daemon: true},
	{Long: "mode", Meaning: "daemon: echo, discard or announce", Daemon: true},
	{Long: "max-clients", Meaning: "daemon: stream clients served at once (default: what the open-file limit and --client-memory allow)", Daemon: true},
	{Long: "max-line", Meaning: "daemon: longest line in bytes", Daemon: true},
	{Long: "client-memory", Meaning: "daemon: bytes all stream clients may hold together in buffers (replies not yet taken, unfinished lines), such as 256MiB", Daemon: true},
	{Long: "pidfile", Meaning: "daemon: the pid file", Daemon: true},
	{Long: "user", Meaning: "daemon: the user to run as after binding", Daemon: true},
	{Long: "run-group", Meaning: "daemon: the Unix group to run as after binding (was --group)", Daemon: true},
	{Long: "config", Meaning: "daemon: the settings file", Daemon: true},
	{Long: "log", Meaning: "daemon: the log file", Daemon: true},
	{Long: "log-format", Meaning: "daemon: text or json", Daemon: true},
	{Long: "log-level", Meaning: "daemon: debug, info, warn or error", Daemon: true},
	{Long: "help", Short: "h", Meaning: "show help", Daemon: true},
	{Long: "version", Short: "v", Meaning: "print the module version and VCS revision", Daemon: true},
}

// NameOf returns the entry of Names for long, if there is one.
func NameOf(long string) (Name, bool) {
	for _, n := range Names {
		if n.Long == long {
			return n, true
		}
	}
	return Name{}, false
}
